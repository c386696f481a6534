#pragma once
// UDP: one socket per listen address and worker (SO_REUSEPORT), each drained by a thread of
// its own that blocks in recvmmsg, answers the batch in place and sends it back with one
// sendmmsg. No event loop: a readiness wait would cost an epoll_wait and, with Asio, an
// epoll_ctl per batch, which at a few datagrams per batch is a tenth of the server's CPU.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "server/dns/edns.hpp"
#include "server/net/asio.hpp"
#include "server/net/responder.hpp"

namespace loadns::net {

class udp_listener {
 public:
  /// Opens, sets SO_REUSEPORT (and IPV6_V6ONLY) and binds. Throws boost::system::system_error.
  udp_listener(const boost::asio::ip::udp::endpoint& at, const options& opts,
               const core::snapshot_holder& holder, std::uint64_t seed);
  /// Stops the thread if it runs, closes the socket.
  ~udp_listener();
  udp_listener(const udp_listener&) = delete;
  udp_listener& operator=(const udp_listener&) = delete;

  /// Starts the receive thread.
  void start();
  /// Wakes the thread out of its receive and joins it. Idempotent; from any other thread.
  void stop() noexcept;

  /// This listener's responder and its counters (read by metrics).
  const net::responder& responder() const noexcept { return responder_; }

 private:
  static constexpr std::size_t batch = 32;
  static constexpr std::size_t max_query = 4096;  ///< longer datagrams are not queries
  /// Room for one response: answer() never makes a UDP response larger than the payload size
  /// it advertises (1232), so a page per slot suffices.
  static constexpr std::size_t max_response = 4096;
  static_assert(max_response >= dns::advertised_udp_size);
  static constexpr std::size_t control_size = 64;  ///< room for one IP(V6)_PKTINFO

  void run() noexcept;
  /// Gives the first `used` receive headers their full address and control room again.
  void rearm(std::size_t used) noexcept;
  /// One batch: blocks until at least one datagram, answers all received. False when the
  /// socket failed for good.
  bool receive_and_answer() noexcept;

  int fd_ = -1;
  bool wildcard_;  ///< bound to 0.0.0.0 or ::: reply from the address the query came to
  net::responder responder_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::uint8_t> queries_;
  std::vector<std::uint8_t> responses_;
  std::array<mmsghdr, batch> in_{};
  std::array<mmsghdr, batch> out_{};
  std::array<iovec, batch> in_iov_{};
  std::array<iovec, batch> out_iov_{};
  std::array<sockaddr_storage, batch> peers_{};
  std::array<std::array<std::uint8_t, control_size>, batch> in_control_{};
  std::array<std::array<std::uint8_t, control_size>, batch> out_control_{};
};

}  // namespace loadns::net
