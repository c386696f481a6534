#include "agent/health/health_check.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "agent/health/command.hpp"
#include "common/fd_guard.hpp"

namespace loadns::agent {
namespace {

using clock = std::chrono::steady_clock;

int ms_left(clock::time_point deadline) noexcept {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::string endpoint_text(const sockaddr_storage& sa) {
  char host[INET6_ADDRSTRLEN] = {};
  std::uint16_t port = 0;
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return fmt::format("{}:{}", host, port);
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  // fmt rather than operator+: g++ 12 at -O3 reports a false -Wrestrict on "[" + string
  // (GCC bug 105329).
  return fmt::format("[{}]:{}", host, port);
}

struct connect_result {
  int fd = -1;  // connected socket, or -1
  int error = 0;
  bool timed_out = false;
};

// A non-blocking connect bounded by `deadline`.
connect_result connect_before(const sockaddr_storage& sa, socklen_t len,
                              clock::time_point deadline) noexcept {
  connect_result r;
  const int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = errno;
    return r;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) != 0) {
    if (errno != EINPROGRESS) {
      r.error = errno;
      ::close(fd);
      return r;
    }
    pollfd p{fd, POLLOUT, 0};
    int n = 0;
    do {
      n = ::poll(&p, 1, ms_left(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      r.timed_out = true;
      ::close(fd);
      return r;
    }
    int err = 0;
    socklen_t err_len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
    if (err != 0) {
      r.error = err;
      ::close(fd);
      return r;
    }
  }
  r.fd = fd;
  return r;
}

socklen_t to_sockaddr(const ip_address& a, std::uint16_t port, sockaddr_storage& sa) noexcept {
  std::memset(&sa, 0, sizeof sa);
  if (a.family == ip_family::v4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, a.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, a.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

// ECONNREFUSED (an RST: nothing listens) proves the service gone; a timeout or an unreachable
// network may be a passing hiccup and waits for --fall.
bool definite_error(int error) noexcept {
  return error == ECONNREFUSED;
}

}  // namespace

std::string check_spec::text() const {
  switch (mode) {
    case check_mode::listen:
      return "listen";
    case check_mode::tcp:
      return "tcp";
    case check_mode::http:
      return http.url();
    case check_mode::exec:
      return "exec:" + command;
    case check_mode::none:
      return "none";
  }
  return {};
}

std::optional<check_spec> parse_check(std::string_view text, std::string& error) {
  check_spec s;
  if (text == "listen") {
    s.mode = check_mode::listen;
  } else if (text == "tcp") {
    s.mode = check_mode::tcp;
  } else if (text == "none") {
    s.mode = check_mode::none;
  } else if (text.starts_with("exec:")) {
    s.mode = check_mode::exec;
    s.command = std::string(text.substr(5));
    if (s.command.find_first_not_of(" \t") == std::string::npos) {
      error = "exec: needs a command (exec:COMMAND)";
      return std::nullopt;
    }
  } else if (text.starts_with("http")) {
    auto t = parse_http_url(text, error);
    if (!t) {
      return std::nullopt;
    }
    s.mode = check_mode::http;
    s.http = std::move(*t);
  } else {
    error = "not a check (listen, tcp, http://HOST:PORT/PATH, exec:COMMAND or none): " +
            std::string(text);
    return std::nullopt;
  }
  return s;
}

health_check::health_check(check_spec spec, socket_filter filter, std::vector<ip_address> addresses,
                           std::chrono::milliseconds timeout, connection_counter& counter)
    : spec_(std::move(spec)),
      filter_(std::move(filter)),
      addresses_(std::move(addresses)),
      timeout_(timeout),
      counter_(counter),
      listeners_(filter_) {
  if (spec_.mode == check_mode::http) {
    request_ = build_http_get(spec_.http);
  }
}

check_outcome health_check::run() {
  switch (spec_.mode) {
    case check_mode::listen:
      return run_listen();
    case check_mode::tcp:
      return run_tcp();
    case check_mode::http:
      return run_http();
    case check_mode::exec:
      return run_exec();
    case check_mode::none:
      return {};
  }
  return {};
}

check_outcome health_check::run_listen() {
  if (const std::error_code ec = counter_.listeners(listeners_)) {
    // We cannot see: say so, but let --fall decide (the service itself may be fine).
    return {false, false, "listen: cannot list listening sockets: " + ec.message()};
  }
  if (const std::uint16_t port = listeners_.first_missing(); port != 0) {
    std::string where =
        filter_.local_address ? " on " + filter_.local_address->to_string() + " or a wildcard" : "";
    return {false, true, "listen: nothing listens on port " + std::to_string(port) + where};
  }
  return {};
}

check_outcome health_check::run_tcp() {
  const auto deadline = clock::now() + timeout_;
  for (const auto& address : addresses_) {
    for (const std::uint16_t port : filter_.ports) {
      sockaddr_storage sa{};
      const socklen_t len = to_sockaddr(address, port, sa);
      const connect_result c = connect_before(sa, len, deadline);
      if (c.fd >= 0) {
        ::close(c.fd);
        continue;
      }
      const std::string where = endpoint_text(sa);
      if (c.timed_out) {
        return {false, false,
                "tcp: connect to " + where + " timed out after " +
                    std::to_string(timeout_.count()) + " ms"};
      }
      return {false, definite_error(c.error),
              "tcp: connect to " + where + ": " + std::strerror(c.error)};
    }
  }
  return {};
}

check_outcome health_check::run_http() {
  const auto deadline = clock::now() + timeout_;
  const std::string prefix = "http: " + spec_.http.url();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(spec_.http.port);
  if (const int rc = ::getaddrinfo(spec_.http.host.c_str(), port.c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    return {false, false, prefix + ": cannot resolve " + spec_.http.host + ": " + gai_strerror(rc)};
  }
  sockaddr_storage sa{};
  const auto len = static_cast<socklen_t>(found->ai_addrlen);
  std::memcpy(&sa, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);

  const connect_result c = connect_before(sa, len, deadline);
  if (c.fd < 0) {
    if (c.timed_out) {
      return {false, false,
              prefix + ": connect timed out after " + std::to_string(timeout_.count()) + " ms"};
    }
    return {false, definite_error(c.error), prefix + ": connect: " + std::strerror(c.error)};
  }
  const fd_guard fd(c.fd);
  std::size_t sent = 0;
  std::string received;
  char buffer[1024];
  for (;;) {
    pollfd p{fd.get(), static_cast<short>(sent < request_.size() ? POLLOUT : POLLIN), 0};
    const int n = ::poll(&p, 1, ms_left(deadline));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return {false, false,
              prefix + ": no answer within " + std::to_string(timeout_.count()) + " ms"};
    }
    if (sent < request_.size()) {
      const ssize_t w =
          ::send(fd.get(), request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          continue;
        }
        return {false, false, prefix + ": send: " + std::strerror(errno)};
      }
      sent += static_cast<std::size_t>(w);
      continue;
    }
    const ssize_t r = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        continue;
      }
      return {false, false, prefix + ": receive: " + std::strerror(errno)};
    }
    if (r == 0) {
      return {false, false, prefix + ": connection closed before a status line"};
    }
    received.append(buffer, static_cast<std::size_t>(r));
    const http_status st = parse_http_status(received);
    if (st.what == http_status::kind::need_more) {
      continue;
    }
    if (st.what == http_status::kind::malformed) {
      return {false, false, prefix + ": not an HTTP/1.x answer"};
    }
    if (st.code >= 200 && st.code <= 299) {
      return {};
    }
    return {false, false, prefix + " answered " + std::to_string(st.code)};
  }
}

check_outcome health_check::run_exec() {
  command_process p(spec_.command, {});
  if (!p.started()) {
    return {false, false, "exec: " + p.error()};
  }
  if (!p.wait(timeout_)) {
    p.kill();
    return {false, false,
            "exec: `" + spec_.command + "` still running after " +
                std::to_string(timeout_.count()) + " ms (killed)"};
  }
  if (!p.succeeded()) {
    return {false, false, "exec: `" + spec_.command + "` " + p.status_text()};
  }
  return {};
}

}  // namespace loadns::agent
