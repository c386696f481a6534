#pragma once
// Which connections to close when report() asks the backend to shed: the newest ones. A
// client that has just connected has the least to lose (no long session, warm caches
// elsewhere) and, with loadns, reconnects through a fresh nonce name to an emptier backend.
//
// Age comes from the kernel's socket cookie: a 64-bit counter value given to a socket the
// first time it is dumped (net/core/sock_diag.c, sock_gen_cookie). The agent dumps its
// connections every --interval, so cookie order is the order in which sockets were first
// seen, true to within one interval.

#include <cstddef>
#include <vector>

#include "agent/count/netlink_dump.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

/// Collects the established sockets a filter matches (the shedder's dump sink).
class socket_collector final : public socket_sink {
 public:
  explicit socket_collector(const socket_filter& filter) noexcept : filter_(filter) {}
  void on_socket(const diag_socket& s) noexcept override;
  std::vector<diag_socket> sockets;
  bool out_of_memory = false;

 private:
  const socket_filter& filter_;
};

/// Reorders `sockets` so that the `n` newest (highest cookie; ties by inode) come first, and
/// drops the rest. Fewer than `n`: all of them, newest first.
void keep_newest(std::vector<diag_socket>& sockets, std::size_t n);

}  // namespace loadns::agent
