#pragma once
// The sock_diag wire format, without I/O: the SOCK_DIAG_BY_FAMILY dump request for TCP
// sockets in ESTABLISHED state, and a parser that counts the matching sockets in one received
// datagram of the dump (linux/sock_diag.h, linux/inet_diag.h; netlink framing per RFC 3549 and
// linux/netlink.h). Reads by offset with a bounds-checked cursor; never allocates.

#include <cstdint>
#include <span>
#include <vector>

#include "agent/count/ip_address.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

/// nlmsghdr + inet_diag_req_v2 (+ INET_DIAG_REQ_BYTECODE attribute when `bytecode` is not
/// empty) asking for a dump of `family` TCP sockets in state ESTABLISHED, with sequence number
/// `seq`. Built once at start; set_request_seq() renumbers it for each dump.
[[nodiscard]] std::vector<std::uint8_t> build_dump_request(ip_family family,
                                                           std::span<const std::uint8_t> bytecode,
                                                           std::uint32_t seq);

/// The same dump for both address families in one walk of the kernel's socket table, through
/// the original inet_diag request (TCPDIAG_GETSOCK with struct inet_diag_req, which the kernel
/// serves as an AF_UNSPEC dump, net/ipv4/inet_diag.c inet_diag_dump_compat). TCP sockets of
/// both families share one hash table, so this halves the kernel's walk; replies come with
/// nlmsg_type TCPDIAG_GETSOCK instead of SOCK_DIAG_BY_FAMILY (dump_kind::all_families).
[[nodiscard]] std::vector<std::uint8_t> build_all_families_request(
    std::span<const std::uint8_t> bytecode, std::uint32_t seq);

/// Which request a dump answers, hence which message type carries its sockets.
enum class dump_kind : std::uint8_t { by_family, all_families };

/// Rewrites the sequence number of a request made by build_dump_request().
void set_request_seq(std::span<std::uint8_t> request, std::uint32_t seq) noexcept;

enum class dump_status : std::uint8_t {
  more,       ///< datagram consumed, the dump goes on: receive the next one
  done,       ///< NLMSG_DONE seen: the dump is complete
  error,      ///< NLMSG_ERROR (or a failed NLMSG_DONE): `error` holds the errno
  malformed,  ///< a message that does not fit the datagram or is too short for its type
};

struct dump_chunk {
  dump_status status = dump_status::more;
  int error = 0;              ///< positive errno when status == error
  std::uint64_t sockets = 0;  ///< inet_diag messages of our dump in this datagram
  std::uint64_t matched = 0;  ///< of those, ESTABLISHED and matching the filter
};

/// Parses one datagram received on the sock_diag socket. Messages with another sequence
/// number (left over from an abandoned dump) are skipped. Stops at the first NLMSG_DONE or
/// NLMSG_ERROR. Each inet_diag_msg counts when its state is ESTABLISHED and its local
/// endpoint matches `filter` (the kernel already filtered; this keeps the count right when it
/// did not).
[[nodiscard]] dump_chunk parse_dump_datagram(std::span<const std::uint8_t> datagram,
                                             std::uint32_t seq, const socket_filter& filter,
                                             dump_kind kind = dump_kind::by_family) noexcept;

}  // namespace loadns::agent
