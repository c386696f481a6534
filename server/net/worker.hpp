#pragma once
// One worker: per listen address, an SO_REUSEPORT UDP socket drained by a thread of its own
// (udp_listener) and a TCP acceptor served by the worker's event loop thread, each thread
// with its own responder (snapshot reference, balancer state, counters). Workers share
// nothing but the snapshot holder and a count of open TCP connections, so they scale with
// cores.

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "server/core/snapshot_holder.hpp"
#include "server/net/asio.hpp"
#include "server/net/options.hpp"
#include "server/net/query_stats.hpp"
#include "server/net/responder.hpp"

namespace loadns::net {

class udp_listener;
class tcp_listener;

class worker {
 public:
  worker(unsigned index, const options& opts, const core::snapshot_holder& holder,
         std::atomic<unsigned>& tcp_open);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Opens and binds this worker's sockets. Throws std::system_error naming the address.
  /// `optional_v6`: an IPv6 listen address that cannot be opened is skipped, not fatal.
  void open(bool optional_v6);
  /// Starts the UDP threads and the TCP event loop's thread.
  void start();
  /// Stops and joins every thread of this worker. Idempotent; from any other thread.
  void stop();

  /// The TCP side's counters (queries over TCP and the tcp_* session counters).
  const query_stats& stats() const noexcept { return tcp_responder_.stats(); }
  /// Every responder of this worker, TCP's first, then one per UDP socket (metrics).
  std::vector<const responder*> responders() const;
  std::size_t listener_count() const noexcept { return udp_.size(); }

 private:
  unsigned index_;
  const options& opts_;
  const core::snapshot_holder& holder_;
  boost::asio::io_context io_{1};
  responder tcp_responder_;
  std::atomic<unsigned>& tcp_open_;
  std::vector<std::unique_ptr<udp_listener>> udp_;
  std::vector<std::unique_ptr<tcp_listener>> tcp_;
  std::thread loop_;  ///< runs io_: TCP sessions
};

}  // namespace loadns::net
