#pragma once
// The inet_diag filter program (INET_DIAG_REQ_BYTECODE) that makes the kernel send only the
// sockets a socket_filter matches, as `ss '( sport = :N )'` does: at 20k sockets on other
// ports the dump shrinks to nothing instead of 20k messages.
//
// The kernel runs the program over each socket (net/ipv4/inet_diag.c, inet_diag_bc_run): an
// op advances by `yes` bytes when its condition holds and by `no` otherwise; the socket is
// sent when the walk ends exactly at the end, and skipped when it jumps past it (end + 4).
// Before running it the kernel audits it (inet_diag_bc_audit): every `yes` and `no` is a
// multiple of 4, at least the op's length and at most 4 past the end, and every `no` target
// must lie on the chain of `yes` steps from the start. So an OR of terms is laid out as
// ss lays it out:
//
//   COND(p1) yes->JMP no->COND(p2) | JMP yes->COND(p2) no->end | COND(p2) ... | COND(pn) no->end+4
//
// where a true COND falls through to a JMP that leaves for the end (accept), a false COND
// skips its JMP to try the next term, and the last false COND jumps past the end (reject).

#include <cstdint>
#include <optional>
#include <vector>

#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

/// One INET_DIAG_BC_S_COND per distinct port, each also checking the local address when the
/// filter has one (an IPv4 address also matches its IPv4-mapped form on IPv6 sockets, in the
/// kernel as in socket_filter::matches). Returns the program bytes in host byte order, ready
/// to be the payload of an INET_DIAG_REQ_BYTECODE attribute, or nothing when the filter has no
/// port or the program would not fit the attribute's 16-bit length (then count in user space).
[[nodiscard]] std::optional<std::vector<std::uint8_t>> build_inet_diag_bytecode(
    const socket_filter& filter);

}  // namespace loadns::agent
