#include "server/net/udp_listener.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "server/net/socket_options.hpp"

namespace loadns::net {

namespace asio = boost::asio;

namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw boost::system::system_error(errno, boost::system::system_category(), what);
}

/// A bound UDP socket in blocking mode. Not an Asio socket on purpose: Asio would register
/// it with its reactor, and the event loop would then wake for every datagram.
int open_socket(const asio::ip::udp::endpoint& at, bool wildcard) {
  const int fd = ::socket(at.protocol().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  try {
    set_reuse_port(fd);
    int on = 1;
    if (at.address().is_v6() && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0)
      throw_errno("setsockopt(IPV6_V6ONLY)");
    if (wildcard) enable_packet_info(fd, at.address().is_v6());
    // Room for bursts: the kernel queue is what absorbs a flood while we answer.
    int buffer = 4 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer) != 0)
      throw_errno("setsockopt(SO_RCVBUF)");
    if (::bind(fd, at.data(), static_cast<socklen_t>(at.size())) != 0) throw_errno("bind");
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

}  // namespace

udp_listener::udp_listener(const asio::ip::udp::endpoint& at, const options& opts,
                           const core::snapshot_holder& holder, std::uint64_t seed)
    : wildcard_(at.address().is_unspecified()), responder_(opts, holder, seed) {
  fd_ = open_socket(at, wildcard_);
  queries_.resize(batch * max_query);
  responses_.resize(batch * max_response);
  for (std::size_t i = 0; i < batch; ++i) {
    in_iov_[i] = {queries_.data() + i * max_query, max_query};
    out_iov_[i] = {responses_.data() + i * max_response, 0};
    auto& h = in_[i].msg_hdr;
    h.msg_name = &peers_[i];
    h.msg_iov = &in_iov_[i];
    h.msg_iovlen = 1;
    if (wildcard_) h.msg_control = in_control_[i].data();
    auto& o = out_[i].msg_hdr;  // name and lengths are set per reply
    o.msg_iov = &out_iov_[i];
    o.msg_iovlen = 1;
  }
  rearm(batch);
}

void udp_listener::rearm(std::size_t used) noexcept {
  // recvmmsg overwrote the address and control lengths of the headers it filled (and their
  // flags, which are output only); the rest of each header stays as the constructor set it.
  // Restoring only those keeps the per-batch cost proportional to the datagrams received,
  // which matters when a batch is one datagram.
  for (std::size_t i = 0; i < used; ++i) {
    auto& h = in_[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_storage);
    if (wildcard_) h.msg_controllen = control_size;
  }
}

udp_listener::~udp_listener() {
  stop();
  ::close(fd_);
}

void udp_listener::start() {
  thread_ = std::thread([this] { run(); });
}

void udp_listener::stop() noexcept {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);
  // Wakes a recvmmsg blocked on this socket: it returns at once from then on. (On an
  // unconnected UDP socket shutdown reports ENOTCONN, but it marks the socket shut anyway.)
  ::shutdown(fd_, SHUT_RDWR);
  thread_.join();
}

void udp_listener::run() noexcept {
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (!receive_and_answer()) return;
  }
}

bool udp_listener::receive_and_answer() noexcept {
  // Blocks for the first datagram, then takes whatever else is queued, up to a batch.
  const int n = ::recvmmsg(fd_, in_.data(), batch, MSG_WAITFORONE, nullptr);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == ENOMEM || errno == ENOBUFS) return true;
    if (!stopping_.load(std::memory_order_relaxed))
      spdlog::critical("UDP receive failed, no longer answering on this socket: {}",
                       std::strerror(errno));
    return false;
  }
  if (stopping_.load(std::memory_order_relaxed)) return false;  // woken by stop()
  const auto received = static_cast<std::size_t>(n);

  std::size_t replies = 0;
  const responder::clocks at = responder_.clock_now();  // one reading per batch
  for (std::size_t i = 0; i < received; ++i) {
    const auto& h = in_[i].msg_hdr;
    std::size_t len = in_[i].msg_len;
    if ((h.msg_flags & MSG_TRUNC) != 0) len = 0;  // over max_query: not a query, drop
    std::span<const std::uint8_t> query(queries_.data() + i * max_query, len);
    std::span<std::uint8_t> out(responses_.data() + replies * max_response, max_response);
    std::size_t rlen = responder_.handle(query, out, core::transport::udp, peers_[i], at);
    if (rlen == 0) continue;

    auto& o = out_[replies].msg_hdr;
    out_iov_[replies].iov_len = rlen;
    o.msg_name = &peers_[i];
    o.msg_namelen = h.msg_namelen;
    if (wildcard_) {
      o.msg_control = out_control_[replies].data();
      o.msg_controllen = reply_packet_info(h, out_control_[replies]);
      if (o.msg_controllen == 0) o.msg_control = nullptr;
    }
    ++replies;
  }

  std::size_t sent = 0;
  while (sent < replies) {
    int m =
        ::sendmmsg(fd_, out_.data() + sent, static_cast<unsigned>(replies - sent), MSG_DONTWAIT);
    if (m < 0) {
      if (errno == EINTR) continue;
      // Socket buffer full or the peer unreachable: UDP is allowed to lose this answer;
      // skip the one that failed and keep the rest.
      ++sent;
      continue;
    }
    sent += static_cast<std::size_t>(m);
  }
  rearm(received);
  return true;
}

}  // namespace loadns::net
