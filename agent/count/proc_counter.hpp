#pragma once
// Counts matching ESTABLISHED TCP sockets by reading /proc/net/tcp and /proc/net/tcp6: the
// fallback where NETLINK_SOCK_DIAG is unavailable (no inet_diag module, a seccomp policy).
// Slower than netlink (the kernel formats ~150 bytes of text per socket, on every port), but
// it also allocates nothing per count: one fixed buffer, lines parsed in place.

#include <string>
#include <vector>

#include "agent/count/count_result.hpp"
#include "agent/count/listener_set.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

class proc_counter {
 public:
  /// `proc_net` is the folder holding tcp and tcp6 (tests point it at captured files).
  explicit proc_counter(socket_filter filter, const std::string& proc_net = "/proc/net");

  /// Reads both files. A missing tcp6 (kernel without IPv6) counts as no IPv6 sockets; a
  /// missing tcp, an I/O error or a malformed line is an error (EBADMSG for the latter).
  count_result count() noexcept;

  /// Notes every LISTEN socket of both files in `into` (which the caller has reset).
  std::error_code listeners(listener_set& into) noexcept;

 private:
  /// Counts into `into`, or, with `listen` set, notes listeners there instead.
  std::error_code read_file(const std::string& path, ip_family family, count_result& into,
                            listener_set* listen = nullptr) noexcept;

  socket_filter filter_;
  std::string tcp_path_;
  std::string tcp6_path_;
  std::vector<char> buffer_;
};

}  // namespace loadns::agent
