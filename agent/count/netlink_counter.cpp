#include "agent/count/netlink_counter.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/time.h>
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

std::error_code netlink_counter::dump(std::span<std::uint8_t> request, dump_kind kind,
                                      count_result& into) noexcept {
  const std::uint32_t seq = ++seq_;
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

  for (;;) {
    // MSG_TRUNC makes recv return the datagram's real length even when it did not fit.
    const ssize_t n = ::recv(fd_, buffer_.data(), buffer_.size(), MSG_TRUNC);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return last_error();  // EAGAIN here means the receive timeout expired
    }
    if (static_cast<std::size_t>(n) > buffer_.size()) {
      return make_error_code(std::errc::message_size);
    }
    const dump_chunk chunk = parse_dump_datagram(
        std::span<const std::uint8_t>(buffer_.data(), static_cast<std::size_t>(n)), seq, filter_,
        kind);
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
    const std::error_code ec = dump(request_all_, dump_kind::all_families, result);
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
    std::error_code ec = dump(request, dump_kind::by_family, result);
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
      ec = dump(family == 0 ? request_v4_ : request_v6_, dump_kind::by_family, result);
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

}  // namespace loadns::agent
