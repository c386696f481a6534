#include "agent/count/listener_set.hpp"

#include <algorithm>
#include <utility>

namespace loadns::agent {

listener_set::listener_set(socket_filter filter)
    : filter_(std::move(filter)), seen_(filter_.ports.size(), false) {}

void listener_set::reset() noexcept {
  std::fill(seen_.begin(), seen_.end(), false);
}

void listener_set::on_socket(const diag_socket& s) noexcept {
  note(s.family, s.state, s.local_port, s.local);
}

void listener_set::note(ip_family family, std::uint8_t state, std::uint16_t port,
                        const std::array<std::uint8_t, 16>& local) noexcept {
  if (state != tcp_state_listen) {
    return;
  }
  const std::size_t bytes = family == ip_family::v4 ? 4 : 16;
  const bool wildcard = std::all_of(local.begin(), local.begin() + static_cast<long>(bytes),
                                    [](std::uint8_t b) { return b == 0; });
  for (std::size_t i = 0; i < filter_.ports.size(); ++i) {
    if (filter_.ports[i] != port) {
      continue;
    }
    if (wildcard || !filter_.local_address || filter_.matches(family, port, local)) {
      seen_[i] = true;
    }
  }
}

std::uint16_t listener_set::first_missing() const noexcept {
  for (std::size_t i = 0; i < filter_.ports.size(); ++i) {
    if (!seen_[i]) {
      return filter_.ports[i];
    }
  }
  return 0;
}

}  // namespace loadns::agent
