#pragma once
// Raw socket options Asio does not wrap.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>

#include "server/net/asio.hpp"

namespace loadns::net {

/// SO_REUSEPORT: every worker binds its own socket to the same address and the kernel
/// spreads datagrams and connections over them. Throws boost::system::system_error, as Asio's
/// own socket calls do.
void set_reuse_port(int fd);

/// IP_PKTINFO / IPV6_RECVPKTINFO on a wildcard-bound socket, so that a reply leaves from the
/// address the query was sent to (a multi-homed host must not answer from another one).
void enable_packet_info(int fd, bool v6);

/// Builds the control message for a reply from the received one's packet info; returns its
/// length, 0 when the query carried none.
std::size_t reply_packet_info(const msghdr& received, std::array<std::uint8_t, 64>& control);

/// The peer's address, for logs.
boost::asio::ip::address endpoint_address(const sockaddr_storage& peer) noexcept;

}  // namespace loadns::net
