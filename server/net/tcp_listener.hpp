#pragma once
// DNS over TCP (RFC 7766): length-prefixed messages, pipelined queries answered in order with
// one write per batch, a deadline on every wait for a complete query, and a cap on sessions
// that closes the least recently active idle session before it refuses a newcomer.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "server/net/asio.hpp"
#include "server/net/options.hpp"
#include "server/net/query_stats.hpp"
#include "server/net/responder.hpp"

namespace loadns::net {

/// What a TCP listener uses of the worker that owns it; all of it outlives the listener and
/// is touched only from the worker's event loop thread, but for the connection count.
struct tcp_context {
  net::responder& responder;  ///< the event loop thread's responder
  query_stats& stats;         ///< where the tcp_* session counters go (the responder's)
  std::atomic<unsigned>& open_connections;  ///< over every worker, capped by the options
  const options& opts;
};

class tcp_listener {
 public:
  /// Opens, sets SO_REUSEPORT (and IPV6_V6ONLY), binds and listens. Throws
  /// boost::system::system_error.
  tcp_listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at,
               tcp_context context);
  void start();
  void close();

 private:
  class idle_sessions;
  struct session_state;

  boost::asio::awaitable<void> accept_loop();
  /// `source`: the slot of the client network's count (--tcp-max-per-source), or -1.
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, std::ptrdiff_t source);
  /// Closes this worker's least recently active idle session to make room for a new one;
  /// false when this worker has none.
  bool evict_idle();

  boost::asio::ip::tcp::acceptor acceptor_;
  tcp_context context_;
  /// Scratch for the responder: sessions of one worker run one at a time, and a response is
  /// copied out before the session next suspends.
  std::vector<std::uint8_t> scratch_;
  /// The idle sessions of this worker (of every listener on its io_context), least recently
  /// active first. Touched only by the worker's thread.
  idle_sessions& idle_;
};

}  // namespace loadns::net
