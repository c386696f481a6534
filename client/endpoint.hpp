#pragma once
// "IP:PORT" and "[IPv6]:PORT" endpoints for the demo programs.

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadns::client {

/// A socket address in the form the socket calls take.
struct endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

/// Parses "192.0.2.1:7000" or "[2001:db8::1]:7000"; with `default_port` set, the port may be
/// left out ("192.0.2.1", "2001:db8::1", "[2001:db8::1]"). nullopt when malformed.
std::optional<endpoint> parse_endpoint(std::string_view text,
                                       std::optional<std::uint16_t> default_port = {});

/// An IP address (no port) and a port.
std::optional<endpoint> make_endpoint(std::string_view ip, std::uint16_t port);

/// "192.0.2.1:7000" or "[2001:db8::1]:7000".
std::string to_string(const endpoint& e);

}  // namespace loadns::client
