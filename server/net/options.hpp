#pragma once

#include <chrono>
#include <vector>

#include "server/net/asio.hpp"

namespace loadns::net {

struct options {
  std::vector<boost::asio::ip::udp::endpoint> listen;  ///< each answered over UDP and TCP
  unsigned threads = 1;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  unsigned tcp_max_connections = 1024;  ///< over all threads
  bool query_log = false;
};

}  // namespace loadns::net
