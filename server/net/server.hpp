#pragma once
// The DNS side of loadns-server: N workers, each with a thread for TCP and one per UDP socket.

#include <atomic>
#include <memory>
#include <vector>

#include "server/core/family_pairs.hpp"
#include "server/guard/rate_limiter.hpp"
#include "server/guard/source_counter.hpp"
#include "server/net/options.hpp"
#include "server/net/worker.hpp"

namespace loadns::net {

class server {
 public:
  server(options opts, const core::snapshot_holder& holder);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds every worker's sockets (throws std::system_error naming the address), then starts
  /// their threads. `optional_v6`: skip IPv6 addresses this host cannot open.
  void start(bool optional_v6);
  /// Stops every worker and joins its threads.
  void stop();

  const std::vector<std::unique_ptr<worker>>& workers() const noexcept { return workers_; }
  unsigned tcp_open() const noexcept { return tcp_open_.load(std::memory_order_relaxed); }

 private:
  std::unique_ptr<guard::rate_limiter> limiter_;       ///< before opts_, which points at it
  std::unique_ptr<guard::source_counter> per_source_;  ///< likewise
  std::unique_ptr<core::family_pairs> pairs_;          ///< likewise
  options opts_;
  const core::snapshot_holder& holder_;
  std::atomic<unsigned> tcp_open_{0};
  std::vector<std::unique_ptr<worker>> workers_;
};

}  // namespace loadns::net
