#pragma once
// Sends load reports to PostgreSQL: `SELECT loadns.report($1,$2,$3,$4,$5,$6)` as a prepared
// statement on one connection, re-established on the next report after any failure. The only
// agent code that includes libpqxx; its exceptions stop here.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace loadns::agent {

/// One call of loadns.report(service, name, address, connections, capacity, draining).
struct report {
  std::string service;
  std::string name;
  std::string address;  ///< presentation form; the database casts it to inet
  std::uint64_t connections = 0;
  std::optional<std::int64_t> capacity;  ///< empty: NULL, the operator's value stays
  bool draining = false;
};

class reporter {
 public:
  /// `conninfo` as libpq takes it (see conninfo.hpp). Connects lazily.
  explicit reporter(std::string conninfo);
  ~reporter();
  reporter(const reporter&) = delete;
  reporter& operator=(const reporter&) = delete;

  struct outcome {
    enum class kind : std::uint8_t {
      ok,
      unreachable,  ///< no connection, or it broke: the database is away
      refused,      ///< the database answered with an error (missing schema, privilege, ...)
    };
    kind what = kind::unreachable;
    std::string error;  ///< what failed, one line, without the conninfo

    [[nodiscard]] bool ok() const noexcept { return what == kind::ok; }
  };

  /// Connects if not connected, then sends `r`. Blocks at most about connect_timeout plus
  /// tcp_user_timeout. On a broken connection the connection is dropped, so the next call
  /// connects afresh.
  outcome send(const report& r) noexcept;

  [[nodiscard]] bool connected() const noexcept;

  /// Closes the connection (the next send() reconnects).
  void disconnect() noexcept;

 private:
  struct session;  // the libpqxx connection, kept out of this header
  std::string conninfo_;
  std::unique_ptr<session> session_;
};

}  // namespace loadns::agent
