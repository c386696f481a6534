#pragma once
// Debian's real `prometheus` for a test: a private configuration, data folder and port, scraping
// the given targets at a short interval, queried through its HTTP API (/api/v1/query), stopped
// and its folder removed when the object goes.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::test {

/// The answer to one instant query.
struct prometheus_result {
  bool ok = false;         ///< status "success"
  std::string error;       ///< errorType: error, when not ok (or what went wrong on the way)
  std::size_t series = 0;  ///< samples in the result (vector/matrix entries; 1 for a scalar)
  std::vector<std::map<std::string, std::string>> labels;  ///< each vector/matrix entry's labels
  std::string body;                                        ///< the response, for messages
};

class prometheus_process {
 public:
  /// $LOADNS_PROMETHEUS, else /usr/bin/prometheus; nullopt when neither is executable.
  static std::optional<std::string> find_binary();

  /// Starts `binary` scraping `targets` (host:port, job "loadns") every `scrape_interval`,
  /// and waits until it is ready. Throws std::runtime_error with its log when it does not
  /// come up.
  prometheus_process(std::string binary, const std::vector<std::string>& targets,
                     std::chrono::milliseconds scrape_interval);
  ~prometheus_process();
  prometheus_process(const prometheus_process&) = delete;
  prometheus_process& operator=(const prometheus_process&) = delete;

  std::uint16_t port() const { return port_; }

  /// GET /api/v1/query?query=... (evaluated at the current time).
  prometheus_result query(std::string_view promql) const;

  /// The last `max_bytes` of Prometheus's own log, for failure messages.
  std::string log_tail(std::size_t max_bytes = 4000) const;

 private:
  void launch();
  bool wait_ready(std::chrono::milliseconds deadline);
  bool running();

  std::string binary_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

/// Percent-encodes everything but RFC 3986 unreserved characters (a query string value).
std::string url_encode(std::string_view s);

}  // namespace loadns::test
