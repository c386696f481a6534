#pragma once
// DNS over TCP (RFC 7766): length-prefixed messages, pipelined queries answered in order with
// one write per batch, a deadline on every wait for a complete query, and a cap on sessions
// that closes the least recently active idle session before it refuses a newcomer.

#include <cstdint>
#include <vector>

#include "server/net/asio.hpp"

namespace loadns::net {

class worker;

class tcp_listener {
 public:
  /// Opens, sets SO_REUSEPORT (and IPV6_V6ONLY), binds and listens. Throws
  /// boost::system::system_error.
  tcp_listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at, worker& w);
  void start();
  void close();

 private:
  class idle_sessions;
  struct session_state;

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  /// Closes this worker's least recently active idle session to make room for a new one;
  /// false when this worker has none.
  bool evict_idle();

  boost::asio::ip::tcp::acceptor acceptor_;
  worker& worker_;
  /// Scratch for answer(): sessions of one worker run one at a time, and a response is
  /// copied out before the session next suspends.
  std::vector<std::uint8_t> scratch_;
  /// The idle sessions of this worker (of every listener on its io_context), least recently
  /// active first. Touched only by the worker's thread.
  idle_sessions& idle_;
};

}  // namespace loadns::net
