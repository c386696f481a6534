#include "agent/count/netlink_counter.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "agent/count/inet_diag_bytecode.hpp"
#include "agent/count/netlink_dump.hpp"

namespace loadns::agent {
namespace {

// The kernel sizes a dump datagram to min(our last recv size, 32 KiB - overhead)
// (net/netlink/af_netlink.c, netlink_dump); twice that leaves room for any future change
// while MSG_TRUNC still tells us if it is ever not enough.
constexpr std::size_t receive_buffer = std::size_t{64} * 1024;

std::error_code last_error() noexcept {
  return {errno, std::generic_category()};
}

// A sequence number nobody can predict: a local process that wants to slip a forged reply in
// would have to guess it (and to send as the kernel, which receive() already refuses).
std::uint32_t random_seq() noexcept {
  std::uint32_t seq = 0;
  while (::getrandom(&seq, sizeof seq, 0) != static_cast<ssize_t>(sizeof seq)) {
    if (errno != EINTR) {
      // Never in practice (getrandom blocks only before the pool is seeded at boot); a
      // sequence number from the clock still beats a counter.
      timespec t{};
      ::clock_gettime(CLOCK_MONOTONIC, &t);
      return static_cast<std::uint32_t>(t.tv_nsec) ^ static_cast<std::uint32_t>(t.tv_sec);
    }
  }
  return seq;
}

}  // namespace

netlink_counter::netlink_counter(socket_filter filter)
    : filter_(std::move(filter)), buffer_(receive_buffer) {
  if (auto bc = build_inet_diag_bytecode(filter_)) {
    bytecode_ = std::move(*bc);
  }
  build_requests();
}

netlink_counter::~netlink_counter() {
  close();
}

void netlink_counter::build_requests() {
  request_v4_ = build_dump_request(ip_family::v4, bytecode_, 0);
  request_v6_ = build_dump_request(ip_family::v6, bytecode_, 0);
  request_all_ = build_all_families_request(bytecode_, 0);
  // Listeners are matched on the port alone in the kernel: one bound to a wildcard address
  // counts as listening on --local-address, which an address condition would not let by.
  std::vector<std::uint8_t> ports_only;
  if (!bytecode_.empty()) {
    if (auto bc = build_inet_diag_bytecode(socket_filter{filter_.ports, std::nullopt})) {
      ports_only = std::move(*bc);
    }
  }
  listen_v4_ = build_dump_request(ip_family::v4, ports_only, 0, listen_states);
  listen_v6_ = build_dump_request(ip_family::v6, ports_only, 0, listen_states);
  listen_all_ = build_all_families_request(ports_only, 0, listen_states);
}

std::error_code netlink_counter::open() noexcept {
  if (fd_ >= 0) {
    return {};
  }
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd_ < 0) {
    return last_error();
  }
  // A dump the kernel never finishes must not hang the agent's loop.
  timeval timeout{2, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return {};
}

void netlink_counter::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

std::error_code netlink_counter::send(std::span<std::uint8_t> request, std::uint32_t seq) noexcept {
  set_request_seq(request, seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent = 0;
  do {
    sent = ::sendto(fd_, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                    sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return last_error();
  }
  if (static_cast<std::size_t>(sent) != request.size()) {
    return make_error_code(std::errc::io_error);
  }
  return {};
}

std::error_code netlink_counter::receive(std::size_t& n) noexcept {
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    // MSG_TRUNC makes recv return the datagram's real length even when it did not fit.
    const ssize_t got = ::recvfrom(fd_, buffer_.data(), buffer_.size(), MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &from_len);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();  // EAGAIN here means the receive timeout expired
    }
    // Only the kernel speaks with port id 0 (netlink(7)); anything else is another process
    // writing to our port id, dropped unread.
    if (from_len < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) {
      continue;
    }
    if (static_cast<std::size_t>(got) > buffer_.size()) {
      return make_error_code(std::errc::message_size);
    }
    n = static_cast<std::size_t>(got);
    return {};
  }
}

std::error_code netlink_counter::dump(std::span<std::uint8_t> request, dump_kind kind,
                                      count_result& into, socket_sink* sink) noexcept {
  const std::uint32_t seq = random_seq();
  if (auto ec = send(request, seq)) {
    return ec;
  }
  for (;;) {
    std::size_t n = 0;
    if (auto ec = receive(n)) {
      return ec;
    }
    const std::span<const std::uint8_t> datagram(buffer_.data(), n);
    const dump_chunk chunk = sink != nullptr ? parse_dump_datagram(datagram, seq, *sink, kind)
                                             : parse_dump_datagram(datagram, seq, filter_, kind);
    into.examined += chunk.sockets;
    into.established += chunk.matched;
    switch (chunk.status) {
      case dump_status::more:
        continue;
      case dump_status::done:
        return {};
      case dump_status::error:
        return {chunk.error, std::generic_category()};
      case dump_status::malformed:
        return make_error_code(std::errc::bad_message);
    }
  }
}

count_result netlink_counter::count() noexcept {
  if (single_dump_) {
    count_result result;
    result.method = count_method::netlink;
    if (auto ec = open()) {
      result.error = ec;
      return result;
    }
    const std::error_code ec = dump(request_all_, dump_kind::all_families, result, nullptr);
    if (!ec) {
      return result;
    }
    close();
    if (ec != std::errc::invalid_argument && ec != std::errc::no_such_file_or_directory &&
        ec != std::errc::operation_not_supported && ec != std::errc::protocol_not_supported) {
      result.error = ec;
      return result;
    }
    // A kernel without the original inet_diag request: one dump per family from now on.
    single_dump_ = false;
  }
  return count_per_family();
}

count_result netlink_counter::count_per_family() noexcept {
  count_result result;
  result.method = count_method::netlink;
  if (auto ec = open()) {
    result.error = ec;
    return result;
  }
  for (int family = 0; family < 2; ++family) {
    auto& request = family == 0 ? request_v4_ : request_v6_;
    const std::uint64_t established = result.established;
    const std::uint64_t examined = result.examined;
    std::error_code ec = dump(request, dump_kind::by_family, result, nullptr);
    if (ec == std::errc::invalid_argument && !bytecode_.empty()) {
      // An old kernel refusing the program: filter in user space from now on. The socket
      // may still hold the rest of nothing, but start clean anyway.
      close();
      bytecode_.clear();
      build_requests();
      result.established = established;
      result.examined = examined;
      if (auto oc = open()) {
        result.error = oc;
        return result;
      }
      ec = dump(family == 0 ? request_v4_ : request_v6_, dump_kind::by_family, result, nullptr);
    }
    if (ec && family == 1 &&
        (ec == std::errc::no_such_file_or_directory ||
         ec == std::errc::address_family_not_supported)) {
      // No IPv6 in this kernel (ipv6.disable=1): no IPv6 sockets to count.
      result.established = established;
      result.examined = examined;
      close();
      if (auto oc = open()) {
        result.error = oc;
        return result;
      }
      continue;
    }
    if (ec) {
      close();
      result.error = ec;
      return result;
    }
  }
  return result;
}

std::error_code netlink_counter::dump_both(std::vector<std::uint8_t>& all,
                                           std::vector<std::uint8_t>& v4,
                                           std::vector<std::uint8_t>& v6,
                                           socket_sink& sink) noexcept {
  if (auto ec = open()) {
    return ec;
  }
  count_result ignored;
  if (single_dump_) {
    const std::error_code ec = dump(all, dump_kind::all_families, ignored, &sink);
    if (ec) {
      close();
    }
    return ec;
  }
  for (auto* request : {&v4, &v6}) {
    const std::error_code ec = dump(*request, dump_kind::by_family, ignored, &sink);
    if (ec && request == &v6 &&
        (ec == std::errc::no_such_file_or_directory ||
         ec == std::errc::address_family_not_supported)) {
      close();
      return {};  // no IPv6 in this kernel
    }
    if (ec) {
      close();
      return ec;
    }
  }
  return {};
}

std::error_code netlink_counter::listeners(socket_sink& sink) noexcept {
  return dump_both(listen_all_, listen_v4_, listen_v6_, sink);
}

std::error_code netlink_counter::established(socket_sink& sink) noexcept {
  return dump_both(request_all_, request_v4_, request_v6_, sink);
}

std::error_code netlink_counter::destroy(const diag_socket& s) noexcept {
  if (auto ec = open()) {
    return ec;
  }
  const std::uint32_t seq = random_seq();
  std::vector<std::uint8_t> request;
  try {
    request = build_destroy_request(s, seq);
  } catch (...) {
    return make_error_code(std::errc::not_enough_memory);
  }
  if (auto ec = send(request, seq)) {
    close();
    return ec;
  }
  for (;;) {
    std::size_t n = 0;
    if (auto ec = receive(n)) {
      close();
      return ec;
    }
    const int status = parse_ack({buffer_.data(), n}, seq);
    if (status < 0) {
      continue;  // not our acknowledgement (a leftover of an abandoned dump)
    }
    return status == 0 ? std::error_code{} : std::error_code{status, std::generic_category()};
  }
}

}  // namespace loadns::agent
