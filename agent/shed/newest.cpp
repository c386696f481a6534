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

void keep_newest(std::vector<diag_socket>& sockets, std::size_t n) {
  const auto newer = [](const diag_socket& a, const diag_socket& b) {
    return a.cookie != b.cookie ? a.cookie > b.cookie : a.inode > b.inode;
  };
  n = std::min(n, sockets.size());
  std::partial_sort(sockets.begin(), sockets.begin() + static_cast<long>(n), sockets.end(), newer);
  sockets.resize(n);
}

}  // namespace loadns::agent
