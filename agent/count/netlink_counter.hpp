#pragma once
// Counts matching ESTABLISHED TCP sockets with NETLINK_SOCK_DIAG dumps, filtered in the kernel
// by inet_diag bytecode: one dump for both families where the kernel serves it, else one per
// family. One socket and one receive buffer for the
// counter's life: a count allocates nothing, whatever the number of sockets.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "agent/count/count_result.hpp"
#include "agent/count/netlink_dump.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

class netlink_counter {
 public:
  /// `filter` must have at least one port. Opens nothing yet: the first count() does.
  explicit netlink_counter(socket_filter filter);
  ~netlink_counter();
  netlink_counter(const netlink_counter&) = delete;
  netlink_counter& operator=(const netlink_counter&) = delete;

  /// Dumps IPv4 then IPv6 sockets and counts the matching ones. On error the socket is closed
  /// (a half-read dump must not leak into the next count) and reopened by the next call. If
  /// the kernel rejects the bytecode (EINVAL), the counter drops it for good and filters in
  /// user space only. A kernel without IPv6 counts zero IPv6 sockets.
  count_result count() noexcept;

  /// True while the requests carry the kernel filter.
  [[nodiscard]] bool kernel_filter() const noexcept { return !bytecode_.empty(); }

  /// True while one dump covers both families (see build_all_families_request). The counter
  /// starts so and falls back to one dump per family for good if the kernel refuses it.
  [[nodiscard]] bool single_dump() const noexcept { return single_dump_; }

  /// Use one dump per family from now on (for tests and comparisons).
  void use_per_family_dumps() noexcept { single_dump_ = false; }

 private:
  std::error_code open() noexcept;
  void close() noexcept;
  std::error_code dump(std::span<std::uint8_t> request, dump_kind kind,
                       count_result& into) noexcept;
  count_result count_per_family() noexcept;
  void build_requests();

  socket_filter filter_;
  std::vector<std::uint8_t> bytecode_;
  std::vector<std::uint8_t> request_v4_;
  std::vector<std::uint8_t> request_v6_;
  std::vector<std::uint8_t> request_all_;
  bool single_dump_ = true;
  std::vector<std::uint8_t> buffer_;
  std::uint32_t seq_ = 0;
  int fd_ = -1;
};

}  // namespace loadns::agent
