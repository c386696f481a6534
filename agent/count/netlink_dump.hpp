#pragma once
// The sock_diag wire format, without I/O: the SOCK_DIAG_BY_FAMILY dump request for TCP
// sockets in ESTABLISHED state, and a parser that counts the matching sockets in one received
// datagram of the dump (linux/sock_diag.h, linux/inet_diag.h; netlink framing per RFC 3549 and
// linux/netlink.h). Reads by offset with a bounds-checked cursor; never allocates.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "agent/count/ip_address.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

/// TCP states as the kernel numbers them (include/net/tcp_states.h), for dump requests.
inline constexpr std::uint8_t tcp_state_established = 1;
inline constexpr std::uint8_t tcp_state_listen = 10;
inline constexpr std::uint32_t established_states = 1U << tcp_state_established;
inline constexpr std::uint32_t listen_states = 1U << tcp_state_listen;

/// nlmsghdr + inet_diag_req_v2 (+ INET_DIAG_REQ_BYTECODE attribute when `bytecode` is not
/// empty) asking for a dump of `family` TCP sockets in `states` (a bit per TCP state), with
/// sequence number `seq`. Built once at start; set_request_seq() renumbers it for each dump.
/// A dump of LISTEN alone walks only the kernel's listening hash, however many connections
/// the host holds (net/ipv4/inet_diag.c, inet_diag_dump_icsk).
[[nodiscard]] std::vector<std::uint8_t> build_dump_request(
    ip_family family, std::span<const std::uint8_t> bytecode, std::uint32_t seq,
    std::uint32_t states = established_states);

/// The same dump for both address families in one walk of the kernel's socket table, through
/// the original inet_diag request (TCPDIAG_GETSOCK with struct inet_diag_req, which the kernel
/// serves as an AF_UNSPEC dump, net/ipv4/inet_diag.c inet_diag_dump_compat). TCP sockets of
/// both families share one hash table, so this halves the kernel's walk; replies come with
/// nlmsg_type TCPDIAG_GETSOCK instead of SOCK_DIAG_BY_FAMILY (dump_kind::all_families).
[[nodiscard]] std::vector<std::uint8_t> build_all_families_request(
    std::span<const std::uint8_t> bytecode, std::uint32_t seq,
    std::uint32_t states = established_states);

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

/// One socket of a dump, as the kernel described it (struct inet_diag_msg).
struct diag_socket {
  ip_family family = ip_family::v4;
  std::uint8_t state = 0;
  std::uint16_t local_port = 0;           ///< host order
  std::uint16_t remote_port = 0;          ///< host order
  std::array<std::uint8_t, 16> local{};   ///< network order; IPv4 in the first 4 bytes
  std::array<std::uint8_t, 16> remote{};  ///< network order
  std::uint32_t interface = 0;
  /// The kernel's socket cookie: a 64-bit value the kernel gives a socket the first time
  /// anyone asks (a dump does); unique, but not in order across CPUs (each draws from its
  /// own batch, agent/shed/newest.hpp). Needed to name a socket in a SOCK_DESTROY request.
  std::uint64_t cookie = 0;
  std::uint32_t inode = 0;
};

/// Receives each socket of a dump. Called from the parser: must not throw.
class socket_sink {
 public:
  virtual void on_socket(const diag_socket& s) noexcept = 0;

 protected:
  socket_sink() = default;
  ~socket_sink() = default;
  socket_sink(const socket_sink&) = default;
  socket_sink& operator=(const socket_sink&) = default;
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

/// The same walk handing every socket of our dump (any state, any port) to `sink`;
/// `matched` stays 0. The other parsers of the agent (listeners, the newest connections) are
/// sinks over this one.
[[nodiscard]] dump_chunk parse_dump_datagram(std::span<const std::uint8_t> datagram,
                                             std::uint32_t seq, socket_sink& sink,
                                             dump_kind kind = dump_kind::by_family) noexcept;

/// A SOCK_DESTROY request (NLM_F_REQUEST | NLM_F_ACK) naming exactly `s` by its endpoints,
/// interface and cookie, as `ss -K` sends it. The kernel answers with an NLMSG_ERROR whose
/// code is 0 on success (net/ipv4/inet_diag.c inet_diag_cmd_exact, needs CAP_NET_ADMIN and
/// CONFIG_INET_DIAG_DESTROY).
[[nodiscard]] std::vector<std::uint8_t> build_destroy_request(const diag_socket& s,
                                                              std::uint32_t seq);

/// The status of an NLMSG_ERROR acknowledgement to request `seq` in `datagram`: 0 for
/// success, a positive errno, or -1 when the datagram holds no acknowledgement of `seq`.
[[nodiscard]] int parse_ack(std::span<const std::uint8_t> datagram, std::uint32_t seq) noexcept;

}  // namespace loadns::agent
