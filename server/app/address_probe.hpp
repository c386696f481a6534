#pragma once
// Is a listen address already served by another process? Every worker binds its sockets with
// SO_REUSEPORT, which the kernel also grants to a second loadns-server started by mistake on
// the same address (by the same user): the two would then split the queries between them in
// silence, and the second may read another database. So before binding, the server tries the
// address once *without* SO_REUSEPORT, which the kernel refuses while any socket holds it.
// `--reuse-port-shared` skips the check for whoever shares an address on purpose.

#include <optional>
#include <string>

#include "server/app/config.hpp"

namespace loadns::app {

/// Empty when `address` is free for UDP and TCP; otherwise why not, in words that name the
/// address, the protocol and, when /proc shows it, the process holding it ("127.0.0.1:53/udp
/// is already served by pid 812 (loadns-server)"). Errors other than "in use" (no IPv6 stack,
/// an address not on this host) are left for the real bind to report.
[[nodiscard]] std::optional<std::string> address_in_use(const listen_address& address);

/// "pid N (comm)" for the processes holding a socket bound to `port` (UDP, or a TCP
/// listener) according to /proc/net and /proc/PID/fd; empty when none is visible (another
/// user's process without privileges, another network namespace).
[[nodiscard]] std::string port_holders(bool udp, std::uint16_t port);

}  // namespace loadns::app
