#pragma once
// Which sockets the agent counts: ESTABLISHED TCP sockets whose local port is one of `ports`
// and, when `local_address` is set, whose local address is that address. The same predicate
// runs in the kernel (as inet_diag bytecode, see inet_diag_bytecode.hpp) and in user space
// (netlink dump parser, /proc parser), so a kernel that ignores or lacks the filter still
// yields the right count.

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "agent/count/ip_address.hpp"

namespace loadns::agent {

struct socket_filter {
  /// Local ports, host order, at least one; duplicates are harmless.
  std::vector<std::uint16_t> ports;
  /// Local address; never IPv4-mapped (ip_address::parse folds those to IPv4).
  std::optional<ip_address> local_address;

  /// Does a socket with this local endpoint match? `addr` holds 4 (v4) or 16 (v6) network-order
  /// bytes. An IPv4 filter address also matches the IPv4-mapped form on an IPv6 socket, as the
  /// kernel's INET_DIAG_BC_S_COND does (a v4 client accepted by a dual-stack listener).
  [[nodiscard]] bool matches(ip_family family, std::uint16_t port,
                             const std::array<std::uint8_t, 16>& addr) const noexcept;
};

}  // namespace loadns::agent
