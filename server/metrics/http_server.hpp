#pragma once
// The metrics endpoint (Boost.Beast) on its own thread, away from the DNS workers:
// /metrics (Prometheus text), /healthz (the process runs), /readyz (a snapshot is loaded).

#include <functional>
#include <string>
#include <thread>

#include "server/net/asio.hpp"

namespace loadns::metrics {

class http_server {
 public:
  struct handlers {
    std::function<std::string()> metrics;
    std::function<bool()> ready;
  };

  /// Binds `at` (throws std::system_error naming it) and serves on a thread of its own.
  http_server(const boost::asio::ip::tcp::endpoint& at, handlers h);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  handlers handlers_;
  unsigned open_ = 0;
  std::thread thread_;
};

}  // namespace loadns::metrics
