#pragma once

#include <chrono>
#include <vector>

#include "server/net/asio.hpp"

namespace loadns::guard {
class cookie_secrets;
class rate_limiter;
class source_counter;
}  // namespace loadns::guard

namespace loadns::core {
class family_pairs;
}  // namespace loadns::core

namespace loadns::net {

struct options {
  std::vector<boost::asio::ip::udp::endpoint> listen;  ///< each answered over UDP and TCP
  unsigned threads = 1;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  unsigned tcp_max_connections = 1024;  ///< over all threads
  unsigned tcp_max_per_source = 64;     ///< per client /24 or /56, over all threads; 0: no cap
  /// A query frame begun must be complete within this (a real client sends it at once).
  std::chrono::milliseconds tcp_frame_timeout{2'000};
  bool query_log = false;
  /// Response rate limiting (server/guard/rate_limiter.hpp): responses per second to one
  /// client network about one thing with one rcode, over UDP; 0: off.
  unsigned rrl_rate = 0;
  unsigned rrl_slip = 2;  ///< every Nth response refused by the limiter goes out truncated
  /// DNS cookie secrets (RFC 7873, RFC 9018), owned by whoever runs the server and replaced
  /// when the secret file changes; null: COOKIE options are not answered.
  const guard::cookie_secrets* cookies = nullptr;
  /// The rate limiter's shared table; set by net::server when rrl_rate > 0.
  guard::rate_limiter* limiter = nullptr;
  /// TCP connections per client network; set by net::server when tcp_max_per_source > 0.
  guard::source_counter* per_source = nullptr;
  /// Pairs a nonce name's A and AAAA queries (one host, counted once); set by net::server.
  core::family_pairs* pairs = nullptr;
};

}  // namespace loadns::net
