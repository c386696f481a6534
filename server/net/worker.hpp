#pragma once
// One worker thread: its own io_context, its own SO_REUSEPORT UDP socket and TCP acceptor per
// listen address, its own balancer state and snapshot reference. Workers share nothing but
// the snapshot holder and a count of open TCP connections, so they scale with cores.

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "server/core/answer.hpp"
#include "server/core/balancer.hpp"
#include "server/core/snapshot_holder.hpp"
#include "server/net/asio.hpp"
#include "server/net/options.hpp"
#include "server/net/query_stats.hpp"

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
  /// Runs the event loop until stop(). The thread body.
  void run();
  /// Closes the listeners and ends run(); safe from any thread.
  void stop();

  /// Answers one query into `out` (65535 bytes); shared by UDP and TCP. Returns the response
  /// length, 0 to drop. Counts it and logs it with --query-log. `client` is only read for
  /// the query log, so the packet path does no address conversion.
  std::size_t handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
                     core::transport t, const sockaddr_storage& client) noexcept;

  const query_stats& stats() const noexcept { return stats_; }
  query_stats& stats() noexcept { return stats_; }
  const core::balancer& balancer() const noexcept { return balancer_; }
  const options& opts() const noexcept { return opts_; }
  unsigned index() const noexcept { return index_; }
  std::atomic<unsigned>& tcp_open() noexcept { return tcp_open_; }
  std::size_t listener_count() const noexcept { return udp_.size(); }

 private:
  void log_query(std::span<const std::uint8_t> query, core::transport t,
                 const sockaddr_storage& client, const core::answer_info& info,
                 std::size_t response_length) noexcept;

  unsigned index_;
  const options& opts_;
  boost::asio::io_context io_{1};
  core::snapshot_reader snapshot_;
  core::balancer balancer_;
  query_stats stats_;
  std::atomic<unsigned>& tcp_open_;
  std::vector<std::unique_ptr<udp_listener>> udp_;
  std::vector<std::unique_ptr<tcp_listener>> tcp_;
};

}  // namespace loadns::net
