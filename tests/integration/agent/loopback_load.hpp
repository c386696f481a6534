#pragma once
// Real TCP connections on loopback for the agent's tests and benchmark: a listener and a set of
// client connections to it, each accepted, so the kernel holds ESTABLISHED sockets on both
// ends. Header-only so bench/agent can use it without the test libraries.
//
// Connections close with SO_LINGER {on, 0}: an RST instead of a FIN, so no TIME_WAIT is left
// behind to eat the ephemeral ports of the next run. IPv4 clients may bind to several source
// addresses (127.0.0.x, IP_BIND_ADDRESS_NO_PORT) so 20,000 connections never run short.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace loadns::test {

/// Raises the soft (and, if needed and allowed, the hard) RLIMIT_NOFILE to at least `want`.
/// Returns the soft limit in force afterwards.
inline rlim_t raise_nofile(rlim_t want) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur >= want) return lim.rlim_cur;
  rlimit next = lim;
  next.rlim_cur = want;
  if (next.rlim_max < want) next.rlim_max = want;  // needs CAP_SYS_RESOURCE
  if (::setrlimit(RLIMIT_NOFILE, &next) != 0) {
    next.rlim_max = lim.rlim_max;
    next.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &next);
  }
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

class fd_holder {
 public:
  fd_holder() = default;
  explicit fd_holder(int fd) noexcept : fd_(fd) {}
  fd_holder(fd_holder&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  fd_holder& operator=(fd_holder&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~fd_holder() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// Closes with an RST (no TIME_WAIT).
  void reset() noexcept {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

/// A socket address from text ("127.0.0.1", "::1") and a port.
struct endpoint {
  sockaddr_storage storage{};
  socklen_t len = 0;

  static endpoint make(const std::string& ip, std::uint16_t port) {
    endpoint e;
    if (ip.find(':') == std::string::npos) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) throw std::invalid_argument(ip);
      std::memcpy(&e.storage, &a, sizeof a);
      e.len = sizeof a;
    } else {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_port = htons(port);
      if (::inet_pton(AF_INET6, ip.c_str(), &a.sin6_addr) != 1) throw std::invalid_argument(ip);
      std::memcpy(&e.storage, &a, sizeof a);
      e.len = sizeof a;
    }
    return e;
  }
  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
  [[nodiscard]] const sockaddr* addr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
};

[[noreturn]] inline void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// A listening TCP socket on `ip` and a kernel-chosen port ("::" is dual-stack).
class tcp_listener {
 public:
  explicit tcp_listener(const std::string& ip, std::uint16_t port = 0) : ip_(ip) {
    endpoint e = endpoint::make(ip, port);
    fd_ = fd_holder(::socket(e.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd_.get() < 0) throw_errno("socket");
    const int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (e.family() == AF_INET6) {
      const int zero = 0;  // dual-stack when bound to ::
      ::setsockopt(fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (::bind(fd_.get(), e.addr(), e.len) != 0) throw_errno("bind");
    if (::listen(fd_.get(), 4096) != 0) throw_errno("listen");
    timeval t{5, 0};  // accept() never waits longer than this
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& ip() const noexcept { return ip_; }

 private:
  std::string ip_;
  fd_holder fd_;
  std::uint16_t port_ = 0;
};

/// Client connections to one listener, each with its accepted server end, held by child
/// processes: one process may have too few descriptors for both ends of 20,000 connections
/// (RLIMIT_NOFILE, which a container may forbid raising), so each child holds both ends of at
/// most (its limit - 64) / 2 connections, and more children are forked as needed. The kernel
/// counts sockets, not processes: the listener's port sees every connection.
class connection_set {
 public:
  /// Connections go to `listener` at `target` (the listener's address unless given), from
  /// `sources` in turn (IPv4 only), each with a port the kernel picks at connect() time. With
  /// no sources, clients bind explicit ports from 10000-32767 instead: the kernel's ephemeral
  /// port search costs O(ports in use) per connect() towards one destination, which turns
  /// 20,000 connections from the single IPv6 loopback address into a minute.
  explicit connection_set(const tcp_listener& listener, std::string target = {},
                          std::vector<std::string> sources = {})
      : listener_fd_(listener.fd()), sources_(std::move(sources)) {
    if (target.empty()) target = listener.ip() == "::" ? "::1" : listener.ip();
    if (target == "0.0.0.0") target = "127.0.0.1";
    target_ = endpoint::make(target, listener.port());
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    per_child_ = lim.rlim_max > 256 ? (lim.rlim_max - 64) / 2 : 96;
  }
  ~connection_set() {
    for (auto& h : holders_) quit(h);
  }
  connection_set(const connection_set&) = delete;
  connection_set& operator=(const connection_set&) = delete;

  /// Opens `n` more connections. Bounded: throws if a connect or accept fails or waits more
  /// than 5 s, or a child does not answer within 60 s.
  void open(std::size_t n) {
    while (n > 0) {
      if (holders_.empty() || holders_.back().count == per_child_) spawn();
      holder& h = holders_.back();
      const std::size_t k = std::min(n, per_child_ - h.count);
      command(h, 'o', k);
      h.count += k;
      n -= k;
    }
  }

  /// Closes the most recently opened `n` connections (both ends, with RST).
  void close(std::size_t n) {
    while (n > 0 && !holders_.empty()) {
      holder& h = holders_.back();
      const std::size_t k = std::min(n, h.count);
      command(h, 'c', k);
      h.count -= k;
      n -= k;
      if (h.count == 0) {
        quit(h);
        holders_.pop_back();
      }
    }
  }
  void clear() { close(size()); }
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t total = 0;
    for (const auto& h : holders_) total += h.count;
    return total;
  }

 private:
  struct holder {
    pid_t pid = -1;
    int to_child = -1;
    int from_child = -1;
    std::size_t count = 0;
  };
  struct message {
    char op;
    std::uint64_t n;
  };

  void spawn() {
    int down[2];
    int up[2];
    if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0) throw_errno("pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    const std::uint16_t first_port = claim_ports(per_child_);
    if (pid == 0) {
      ::close(down[1]);
      ::close(up[0]);
      child(down[0], up[1], first_port);  // never returns
    }
    ::close(down[0]);
    ::close(up[1]);
    holders_.push_back({pid, down[1], up[0], 0});
  }

  // Explicit source ports: a range per child, spread so that sets in one process rarely meet.
  static constexpr std::uint16_t low_port = 10'000;
  static constexpr std::uint16_t high_port = 32'767;  // below the default ephemeral range
  static std::uint16_t claim_ports(std::size_t n) noexcept {
    static std::size_t next = low_port;
    const std::size_t span = high_port - low_port + 1;
    const std::size_t first = next;
    next = low_port + (next - low_port + n) % span;
    return static_cast<std::uint16_t>(first);
  }

  [[noreturn]] void child(int in, int out, std::uint16_t port) noexcept {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    std::vector<endpoint> from;
    for (const auto& s : sources_) from.push_back(endpoint::make(s, 0));
    std::vector<fd_holder> ends;
    ends.reserve(2 * per_child_);
    std::size_t opened = 0;
    message m{};
    while (::read(in, &m, sizeof m) == static_cast<ssize_t>(sizeof m)) {
      std::int32_t result = 0;
      if (m.op == 'o') {
        for (std::uint64_t i = 0; i < m.n && result == 0; ++i, ++opened) {
          result = open_one(from.empty() ? nullptr : &from[opened % from.size()], port, ends);
        }
      } else if (m.op == 'c') {
        ends.resize(ends.size() - std::min<std::size_t>(ends.size(), 2 * m.n));
      } else {
        break;
      }
      if (::write(out, &result, sizeof result) != sizeof result) break;
    }
    ends.clear();
    ::_exit(0);
  }

  std::int32_t open_one(const endpoint* src, std::uint16_t& port,
                        std::vector<fd_holder>& ends) const noexcept {
    fd_holder c(::socket(target_.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (c.get() < 0) return errno;
    timeval t{5, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &t, sizeof t);  // bounds connect()
    if (src == nullptr) {
      // The target's address family, loopback: 127.0.0.1 reaches 127.0.0.x, ::1 reaches ::1.
      sockaddr_storage own{};
      socklen_t own_len = 0;
      endpoint local = endpoint::make(target_.family() == AF_INET ? "127.0.0.1" : "::1", 0);
      own = local.storage;
      own_len = local.len;
      bool bound = false;
      for (int tries = 0; tries < 4096 && !bound; ++tries) {
        const std::uint16_t p = port;
        port = port >= high_port ? low_port : static_cast<std::uint16_t>(port + 1);
        if (own.ss_family == AF_INET) {
          reinterpret_cast<sockaddr_in*>(&own)->sin_port = htons(p);
        } else {
          reinterpret_cast<sockaddr_in6*>(&own)->sin6_port = htons(p);
        }
        bound = ::bind(c.get(), reinterpret_cast<const sockaddr*>(&own), own_len) == 0;
        if (!bound && errno != EADDRINUSE) return errno;
      }
      if (!bound) return EADDRINUSE;
    } else {
      const int one = 1;
      // Pick the port at connect() time, per 4-tuple, not at bind() time per address.
      ::setsockopt(c.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (::bind(c.get(), src->addr(), src->len) != 0) return errno;
    }
    if (::connect(c.get(), target_.addr(), target_.len) != 0) return errno;
    fd_holder s(::accept4(listener_fd_, nullptr, nullptr, SOCK_CLOEXEC));
    if (s.get() < 0) return errno;
    ends.push_back(std::move(c));
    ends.push_back(std::move(s));
    return 0;
  }

  void command(holder& h, char op, std::size_t n) {
    const message m{op, n};
    if (::write(h.to_child, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) throw_errno("write");
    pollfd p{h.from_child, POLLIN, 0};
    if (::poll(&p, 1, 60'000) != 1) throw std::runtime_error("connection holder does not answer");
    std::int32_t result = -1;
    if (::read(h.from_child, &result, sizeof result) != sizeof result) {
      throw std::runtime_error("connection holder died");
    }
    if (result != 0) throw std::system_error(result, std::generic_category(), "open connection");
  }

  static void quit(holder& h) noexcept {
    if (h.pid < 0) return;
    const message m{'q', 0};
    if (::write(h.to_child, &m, sizeof m) < 0) ::kill(h.pid, SIGKILL);
    ::close(h.to_child);
    ::close(h.from_child);
    int status = 0;
    ::waitpid(h.pid, &status, 0);
    h.pid = -1;
  }

  int listener_fd_;
  endpoint target_;
  std::vector<std::string> sources_;
  std::size_t per_child_ = 0;
  std::vector<holder> holders_;
};

/// `ss -Htn state established '( sport = :PORT [and src ADDR] )'`, counted in lines: the
/// reference the agent's count must equal. -1 if ss cannot run.
inline long ss_established(std::uint16_t port, const std::string& src = {}) {
  std::string filter = "( sport = :" + std::to_string(port);
  if (!src.empty())
    filter += " and src " + (src.find(':') != std::string::npos ? "[" + src + "]" : src);
  filter += " )";
  const std::string cmd = "ss -Htn state established '" + filter + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  long lines = 0;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    if (std::strchr(buf, '\n') != nullptr) ++lines;
  }
  const int status = ::pclose(p);
  return status == 0 ? lines : -1;
}

}  // namespace loadns::test
