#pragma once
// What the hostile-network tests share: a seeded server started with extra flags, UDP sockets
// bound to chosen loopback addresses (127.0.1.x and 127.0.2.x are different /24s), and queries
// carrying a COOKIE option.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace loadns::test::guard {

/// A seeded database (faults::seed_sql) and a server on it with `extra` flags.
struct world {
  pg_cluster pg;
  std::unique_ptr<server_process> server;
  explicit world(std::vector<std::string> extra, int threads = 2);
  std::uint16_t port() const { return server->port(); }
  /// A metric series summed (see faults::metric); 0 when /metrics did not answer.
  double metric(std::string_view series) const;
};

/// A non-blocking UDP socket bound to `address` (e.g. "127.0.1.10"), any port.
class udp_socket {
 public:
  explicit udp_socket(const char* address);
  ~udp_socket();
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  /// Sends to 127.0.0.1:port; false when the kernel refused (buffer full).
  bool send_to(std::uint16_t port, std::span<const std::uint8_t> packet);
  /// One datagram if one is queued, waiting up to `wait_ms`.
  std::optional<std::vector<std::uint8_t>> receive(int wait_ms);

 private:
  int fd_ = -1;
};

/// An EDNS query for `name` type A with `cookie` (8 or 16..40 octets) as its COOKIE option.
std::vector<std::uint8_t> query_with_cookie(const std::string& name, std::uint16_t id,
                                            std::span<const std::uint8_t> cookie);

/// The COOKIE option's value in a response (its last option), empty when there is none.
std::vector<std::uint8_t> response_cookie(std::span<const std::uint8_t> response);

}  // namespace loadns::test::guard
