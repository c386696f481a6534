#include "agent/count/ip_address.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace loadns::agent {

bool is_v4_mapped(const std::array<std::uint8_t, 16>& v6) noexcept {
  return std::all_of(v6.begin(), v6.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
         v6[10] == 0xff && v6[11] == 0xff;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest valid form is INET6_ADDRSTRLEN - 1.
  char buf[INET6_ADDRSTRLEN] = {};
  if (text.empty() || text.size() >= sizeof buf) {
    return std::nullopt;
  }
  std::copy(text.begin(), text.end(), buf);

  ip_address a;
  if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.family = ip_family::v4;
    return a;
  }
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.family = ip_family::v6;
    if (is_v4_mapped(a.bytes)) {
      std::copy(a.bytes.begin() + 12, a.bytes.end(), a.bytes.begin());
      std::fill(a.bytes.begin() + 4, a.bytes.end(), std::uint8_t{0});
      a.family = ip_family::v4;
    }
    return a;
  }
  return std::nullopt;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = family == ip_family::v4 ? AF_INET : AF_INET6;
  if (::inet_ntop(af, bytes.data(), buf, sizeof buf) == nullptr) {
    return {};
  }
  return buf;
}

}  // namespace loadns::agent
