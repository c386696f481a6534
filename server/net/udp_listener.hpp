#pragma once
// UDP: wait for readability through Asio, then drain the socket in batches with recvmmsg,
// answer each datagram in place and send the batch back with one sendmmsg.

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <vector>

#include "server/net/asio.hpp"

namespace loadns::net {

class worker;

class udp_listener {
 public:
  /// Opens, sets SO_REUSEPORT (and IPV6_V6ONLY) and binds. Throws boost::system::system_error.
  udp_listener(boost::asio::io_context& io, const boost::asio::ip::udp::endpoint& at, worker& w);
  void start();
  void close();

 private:
  static constexpr std::size_t batch = 32;
  static constexpr std::size_t max_query = 4096;      ///< longer datagrams are not queries
  static constexpr std::size_t max_response = 65535;  ///< what answer() may be handed
  static constexpr std::size_t control_size = 64;     ///< room for one IP(V6)_PKTINFO

  void arm();
  void drain();
  void receive_and_answer(std::size_t& received);

  boost::asio::ip::udp::socket socket_;
  worker& worker_;
  bool wildcard_;  ///< bound to 0.0.0.0 or ::: reply from the address the query came to
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
