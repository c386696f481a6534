#include "server/net/udp_listener.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include "server/net/socket_options.hpp"
#include "server/net/worker.hpp"

namespace loadns::net {

namespace asio = boost::asio;

udp_listener::udp_listener(asio::io_context& io, const asio::ip::udp::endpoint& at, worker& w)
    : socket_(io), worker_(w), wildcard_(at.address().is_unspecified()) {
  socket_.open(at.protocol());
  set_reuse_port(socket_.native_handle());
  if (at.address().is_v6()) socket_.set_option(asio::ip::v6_only(true));
  if (wildcard_) enable_packet_info(socket_.native_handle(), at.address().is_v6());
  // Room for bursts: the kernel queue is what absorbs a flood while we answer.
  socket_.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  socket_.bind(at);
  socket_.native_non_blocking(true);

  queries_.resize(batch * max_query);
  responses_.resize(batch * max_response);
  for (std::size_t i = 0; i < batch; ++i) {
    in_iov_[i] = {queries_.data() + i * max_query, max_query};
    out_iov_[i] = {responses_.data() + i * max_response, 0};
  }
}

void udp_listener::start() {
  arm();
}

void udp_listener::close() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void udp_listener::arm() {
  socket_.async_wait(asio::socket_base::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;  // closed: the worker is stopping
    drain();
    arm();
  });
}

void udp_listener::drain() {
  // Bounded so that one flooded socket cannot starve this worker's TCP sessions.
  constexpr int max_batches = 16;
  for (int i = 0; i < max_batches; ++i) {
    std::size_t received = 0;
    receive_and_answer(received);
    if (received < batch) return;
  }
}

void udp_listener::receive_and_answer(std::size_t& received) {
  const int fd = socket_.native_handle();
  for (std::size_t i = 0; i < batch; ++i) {
    auto& h = in_[i].msg_hdr;
    h = {};
    h.msg_name = &peers_[i];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &in_iov_[i];
    h.msg_iovlen = 1;
    if (wildcard_) {
      h.msg_control = in_control_[i].data();
      h.msg_controllen = control_size;
    }
  }
  int n = ::recvmmsg(fd, in_.data(), batch, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  received = static_cast<std::size_t>(n);

  std::size_t replies = 0;
  for (std::size_t i = 0; i < received; ++i) {
    const auto& h = in_[i].msg_hdr;
    std::size_t len = in_[i].msg_len;
    if ((h.msg_flags & MSG_TRUNC) != 0) len = 0;  // over max_query: not a query, drop
    std::span<const std::uint8_t> query(queries_.data() + i * max_query, len);
    std::span<std::uint8_t> out(responses_.data() + replies * max_response, max_response);
    std::size_t rlen = worker_.handle(query, out, core::transport::udp, peers_[i]);
    if (rlen == 0) continue;

    auto& o = out_[replies].msg_hdr;
    o = {};
    out_iov_[replies].iov_len = rlen;
    o.msg_name = &peers_[i];
    o.msg_namelen = h.msg_namelen;
    o.msg_iov = &out_iov_[replies];
    o.msg_iovlen = 1;
    if (wildcard_) {
      o.msg_control = out_control_[replies].data();
      o.msg_controllen = reply_packet_info(h, out_control_[replies]);
      if (o.msg_controllen == 0) o.msg_control = nullptr;
    }
    ++replies;
  }

  std::size_t sent = 0;
  while (sent < replies) {
    int m = ::sendmmsg(fd, out_.data() + sent, static_cast<unsigned>(replies - sent), MSG_DONTWAIT);
    if (m < 0) {
      if (errno == EINTR) continue;
      // Socket buffer full or the peer unreachable: UDP is allowed to lose this answer;
      // skip the one that failed and keep the rest.
      ++sent;
      continue;
    }
    sent += static_cast<std::size_t>(m);
  }
}

}  // namespace loadns::net
