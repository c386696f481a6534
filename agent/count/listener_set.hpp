#pragma once
// Which of the agent's ports have a listener: the default health check (something LISTENs on
// every --port, on --local-address or on a wildcard address). Fed by the sock_diag dump of
// LISTEN sockets or by /proc/net/tcp{,6} lines; pure logic, no I/O.

#include <array>
#include <cstdint>
#include <vector>

#include "agent/count/netlink_dump.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

class listener_set final : public socket_sink {
 public:
  /// Watches `filter`'s ports (and local address, if any). Allocates once, here.
  explicit listener_set(socket_filter filter);

  /// Forgets every listener: call before each dump.
  void reset() noexcept;

  /// One socket of a dump; only LISTEN sockets count.
  void on_socket(const diag_socket& s) noexcept override;

  /// The same for a socket known by its local endpoint and state (a /proc/net/tcp line).
  /// A listener serves the port when its local address is the filter's address (an IPv4
  /// address also in its IPv4-mapped form), any address when the filter has none, or the
  /// wildcard of either family (a `::` socket accepts IPv4 too unless IPV6_V6ONLY, and
  /// either way it is the service listening).
  void note(ip_family family, std::uint8_t state, std::uint16_t port,
            const std::array<std::uint8_t, 16>& local) noexcept;

  /// The first port (in the filter's order) nothing listens on, or 0 when all have one.
  [[nodiscard]] std::uint16_t first_missing() const noexcept;

 private:
  socket_filter filter_;
  std::vector<bool> seen_;  // per filter_.ports index
};

}  // namespace loadns::agent
