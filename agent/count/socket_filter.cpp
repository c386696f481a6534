#include "agent/count/socket_filter.hpp"

#include <algorithm>

namespace loadns::agent {

bool socket_filter::matches(ip_family family, std::uint16_t port,
                            const std::array<std::uint8_t, 16>& addr) const noexcept {
  if (std::find(ports.begin(), ports.end(), port) == ports.end()) {
    return false;
  }
  if (!local_address) {
    return true;
  }
  const ip_address& want = *local_address;
  if (want.family == family) {
    return std::equal(want.bytes.begin(), want.bytes.begin() + static_cast<long>(want.size()),
                      addr.begin());
  }
  if (want.family == ip_family::v4 && family == ip_family::v6 && is_v4_mapped(addr)) {
    return std::equal(want.bytes.begin(), want.bytes.begin() + 4, addr.begin() + 12);
  }
  return false;
}

}  // namespace loadns::agent
