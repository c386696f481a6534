#include "agent/shed/newest.hpp"

#include <algorithm>

namespace loadns::agent {

void socket_collector::on_socket(const diag_socket& s) noexcept {
  if (s.state != tcp_state_established || !filter_.matches(s.family, s.local_port, s.local)) {
    return;
  }
  try {
    sockets.push_back(s);
  } catch (...) {
    out_of_memory = true;
  }
}

void age_book::observe(const std::vector<diag_socket>& sockets) noexcept {
  ++dumps_;
  try {
    std::unordered_map<std::uint64_t, std::uint64_t> next;
    next.reserve(sockets.size());
    for (const auto& s : sockets) {
      const auto it = first_seen_.find(s.cookie);
      next.emplace(s.cookie, it != first_seen_.end() ? it->second : dumps_);
    }
    first_seen_.swap(next);
  } catch (...) {
    first_seen_.clear();
  }
}

std::uint64_t age_book::first_seen(std::uint64_t cookie) const noexcept {
  const auto it = first_seen_.find(cookie);
  return it != first_seen_.end() ? it->second : dumps_ + 1;
}

void keep_newest(std::vector<diag_socket>& sockets, std::size_t n, const age_book& ages) {
  const auto newer = [&ages](const diag_socket& a, const diag_socket& b) {
    const std::uint64_t sa = ages.first_seen(a.cookie);
    const std::uint64_t sb = ages.first_seen(b.cookie);
    if (sa != sb) return sa > sb;
    return a.cookie != b.cookie ? a.cookie > b.cookie : a.inode > b.inode;
  };
  n = std::min(n, sockets.size());
  std::partial_sort(sockets.begin(), sockets.begin() + static_cast<long>(n), sockets.end(), newer);
  sockets.resize(n);
}

}  // namespace loadns::agent
