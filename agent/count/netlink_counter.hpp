#pragma once
// Counts matching ESTABLISHED TCP sockets with NETLINK_SOCK_DIAG dumps, filtered in the kernel
// by inet_diag bytecode: one dump for both families where the kernel serves it, else one per
// family. One socket and one receive buffer for the counter's life: a count allocates
// nothing, whatever the number of sockets. The same socket serves the health check's dump of
// listeners and the shedding's dump and SOCK_DESTROY requests.
//
// Replies are taken only from the kernel (sender port id 0), and each request carries a fresh
// random sequence number, so another local process cannot feed the agent a forged dump.

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

  /// Hands every LISTEN socket on one of the filter's ports (any local address) to `sink`.
  /// Walks only the kernel's listening hash: cheap whatever the number of connections.
  std::error_code listeners(socket_sink& sink) noexcept;

  /// Hands every ESTABLISHED socket the filter matches to `sink` (for shedding).
  std::error_code established(socket_sink& sink) noexcept;

  /// Closes `s` (from established()) with SOCK_DESTROY: its owner sees ECONNABORTED and the
  /// peer a reset. EPERM without CAP_NET_ADMIN; EOPNOTSUPP on a kernel built without
  /// CONFIG_INET_DIAG_DESTROY; ENOENT when the socket is already gone.
  std::error_code destroy(const diag_socket& s) noexcept;

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
  std::error_code send(std::span<std::uint8_t> request, std::uint32_t seq) noexcept;
  /// Receives one datagram from the kernel into buffer_; datagrams from any other sender
  /// are dropped. Returns its length in `n`.
  std::error_code receive(std::size_t& n) noexcept;
  std::error_code dump(std::span<std::uint8_t> request, dump_kind kind, count_result& into,
                       socket_sink* sink) noexcept;
  /// Runs `v4`/`v6`/`all` (one walk where the kernel allows) with a sink.
  std::error_code dump_both(std::vector<std::uint8_t>& all, std::vector<std::uint8_t>& v4,
                            std::vector<std::uint8_t>& v6, socket_sink& sink) noexcept;
  count_result count_per_family() noexcept;
  void build_requests();

  socket_filter filter_;
  std::vector<std::uint8_t> bytecode_;
  std::vector<std::uint8_t> request_v4_;
  std::vector<std::uint8_t> request_v6_;
  std::vector<std::uint8_t> request_all_;
  std::vector<std::uint8_t> listen_v4_;
  std::vector<std::uint8_t> listen_v6_;
  std::vector<std::uint8_t> listen_all_;
  bool single_dump_ = true;
  std::vector<std::uint8_t> buffer_;
  int fd_ = -1;
};

}  // namespace loadns::agent
