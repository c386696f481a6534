#pragma once
// Which connections to close when report() asks the backend to shed: the newest ones. A
// client that has just connected has the least to lose (no long session, warm caches
// elsewhere) and, with loadns, reconnects through a fresh nonce name to an emptier backend.
//
// Age is the dump in which the agent first saw a connection: with --shed destroy it lists its
// connections after every count (each --interval) and remembers each one's first dump by its
// socket cookie. The cookie alone does not order sockets: since Linux 5.12 each CPU draws
// cookies from its own batch of 4,096 (include/linux/cookie.h, gen_cookie_next), so a socket
// numbered later on one CPU can have a lower cookie than one numbered earlier on another
// (seen: `--shed destroy` closing old connections under load on two cores). Newest means
// first seen in the latest dump, true to within one interval; ties go to the higher cookie.

#include <cstddef>
#include <cstdint>
#include <unordered_map>
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

/// When the agent first saw each connection: the number of the dump (1, 2, ...), by cookie.
class age_book {
 public:
  /// Records one dump: connections not seen before get this dump's number, those gone are
  /// forgotten. On allocation failure the book starts again from this dump.
  void observe(const std::vector<diag_socket>& sockets) noexcept;
  /// The dump that first saw `cookie`; one past the latest for a connection never seen.
  [[nodiscard]] std::uint64_t first_seen(std::uint64_t cookie) const noexcept;

 private:
  std::uint64_t dumps_ = 0;
  std::unordered_map<std::uint64_t, std::uint64_t> first_seen_;
};

/// Reorders `sockets` so that the `n` newest (first seen latest in `ages`; ties by the higher
/// cookie, then inode) come first, and drops the rest. Fewer than `n`: all of them, newest
/// first.
void keep_newest(std::vector<diag_socket>& sockets, std::size_t n, const age_book& ages);

}  // namespace loadns::agent
