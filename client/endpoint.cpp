#include "client/endpoint.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace loadns::client {

std::optional<endpoint> make_endpoint(std::string_view ip, std::uint16_t port) {
  const std::string text(ip);
  endpoint e;
  if (auto* v4 = reinterpret_cast<sockaddr_in*>(&e.address);
      ::inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.length = sizeof(sockaddr_in);
    return e;
  }
  e = endpoint{};
  if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.address);
      ::inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.length = sizeof(sockaddr_in6);
    return e;
  }
  return std::nullopt;
}

std::optional<endpoint> parse_endpoint(std::string_view text,
                                       std::optional<std::uint16_t> default_port) {
  std::string_view host = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        return std::nullopt;
      }
    }
  } else if (const auto colon = text.rfind(':');
             colon != std::string_view::npos && text.find(':') == colon) {
    host = text.substr(0, colon);  // exactly one colon: IPv4:port
    port_text = text.substr(colon + 1);
    if (port_text.empty()) {
      return std::nullopt;
    }
  }
  std::uint16_t port = 0;
  if (port_text.empty()) {
    if (!default_port) {
      return std::nullopt;
    }
    port = *default_port;
  } else {
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size()) {
      return std::nullopt;
    }
  }
  return make_endpoint(host, port);
}

std::string to_string(const endpoint& e) {
  char text[INET6_ADDRSTRLEN] = {};
  if (e.address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&e.address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, ntohs(v4->sin_port));
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&e.address);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
  // fmt, not operator+ chains: g++ 12 -O3 reports a false -Wrestrict on "[" + string.
  return fmt::format("[{}]:{}", text, ntohs(v6->sin6_port));
}

}  // namespace loadns::client
