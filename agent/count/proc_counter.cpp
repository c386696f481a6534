#include "agent/count/proc_counter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "agent/count/proc_tcp.hpp"
#include "common/fd_guard.hpp"

namespace loadns::agent {
namespace {

constexpr std::size_t read_buffer = std::size_t{64} * 1024;  // ~430 lines per read()

}  // namespace

proc_counter::proc_counter(socket_filter filter, const std::string& proc_net)
    : filter_(std::move(filter)),
      tcp_path_(proc_net + "/tcp"),
      tcp6_path_(proc_net + "/tcp6"),
      buffer_(read_buffer) {}

std::error_code proc_counter::read_file(const std::string& path, ip_family family,
                                        count_result& into, listener_set* listen) noexcept {
  const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return {errno, std::generic_category()};
  }

  proc_tcp_counts counts;
  std::size_t filled = 0;  // bytes in buffer_, the tail being a partial line
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer_.data() + filled, buffer_.size() - filled);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return {errno, std::generic_category()};
    }
    if (n == 0) {
      break;
    }
    filled += static_cast<std::size_t>(n);
    const std::string_view text(buffer_.data(), filled);
    const std::size_t last_nl = text.rfind('\n');
    if (last_nl == std::string_view::npos) {
      // A full buffer without a newline is not a /proc/net/tcp line.
      if (filled == buffer_.size()) {
        return make_error_code(std::errc::bad_message);
      }
      continue;
    }
    count_proc_tcp_lines(text.substr(0, last_nl + 1), family, filter_, counts, listen);
    filled -= last_nl + 1;
    std::memmove(buffer_.data(), buffer_.data() + last_nl + 1, filled);
  }
  count_proc_tcp_lines(std::string_view(buffer_.data(), filled), family, filter_, counts, listen);
  if (counts.malformed != 0) {
    return make_error_code(std::errc::bad_message);
  }
  into.established += counts.matched;
  into.examined += counts.sockets;
  return {};
}

count_result proc_counter::count() noexcept {
  count_result result;
  result.method = count_method::proc;
  if (auto ec = read_file(tcp_path_, ip_family::v4, result)) {
    result.error = ec;
    return result;
  }
  if (auto ec = read_file(tcp6_path_, ip_family::v6, result)) {
    if (ec != std::errc::no_such_file_or_directory) {
      result.error = ec;
    }
  }
  return result;
}

std::error_code proc_counter::listeners(listener_set& into) noexcept {
  count_result ignored;
  if (auto ec = read_file(tcp_path_, ip_family::v4, ignored, &into)) {
    return ec;
  }
  if (auto ec = read_file(tcp6_path_, ip_family::v6, ignored, &into)) {
    if (ec != std::errc::no_such_file_or_directory) {
      return ec;
    }
  }
  return {};
}

}  // namespace loadns::agent
