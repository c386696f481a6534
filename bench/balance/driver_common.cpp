#include "bench/balance/driver_common.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/core.h>

namespace loadns::bench {

void add_int_option(CLI::App& app, const std::string& name, int& value, const std::string& what,
                    int lo, int hi) {
  app.add_option(name, value, what)->check(CLI::Range(lo, hi))->capture_default_str();
}

void add_driver_options(CLI::App& app, driver_options& opt) {
  app.add_option("--server", opt.server, "loadns server, IP:PORT")->capture_default_str();
  app.add_option("--service", opt.service, "balanced name")->capture_default_str();
  app.add_option("--backends", opt.backends, "backend IPv4 addresses (listen on each)")
      ->delimiter(',')
      ->required();
  app.add_option("--port", opt.port, "backend TCP port")->capture_default_str();
  app.add_option("--initial", opt.initial, "connections each backend holds at the start")
      ->delimiter(',');
  add_int_option(app, "--sample-ms", opt.sample_ms, "sampling period", 10, 10000);
  add_int_option(app, "--timeout", opt.timeout_s, "give up after this many seconds", 1, 3600);
  app.add_option("--data", opt.data_file, "write the samples here");
  app.add_option("--ready-file", opt.ready_file, "created once the initial connections stand");
  app.add_option("--go-file", opt.go_file, "start once this file exists");
}

client::resolver_options driver_resolver_options(const driver_options& opt) {
  client::resolver_options ropt;
  ropt.servers = opt.server;
  ropt.timeout = std::chrono::milliseconds(1000);
  ropt.tries = 2;
  return ropt;
}

void fail_errno(const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, std::strerror(errno)));
}

sockaddr_in make_address(const std::string& ip, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + ip);
  }
  return sa;
}

void raise_fd_limit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) fail_errno("getrlimit");
  if (lim.rlim_cur >= wanted) return;
  if (lim.rlim_max < wanted) lim.rlim_max = wanted;  // allowed as root (CAP_SYS_RESOURCE)
  lim.rlim_cur = wanted;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    fail_errno(
        fmt::format("cannot raise RLIMIT_NOFILE to {} (run as root or raise ulimit -n)", wanted));
  }
}

int open_listener(const std::string& ip, std::uint16_t port) {
  const sockaddr_in sa = make_address(ip, port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail_errno("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // The kernel caps the backlog at net.core.somaxconn (4096 on current kernels); the drivers
  // accept between connects, so the queue never holds more than a few hundred.
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd, 4096) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail_errno(fmt::format("listen on {}:{}", ip, port));
  }
  return fd;
}

double mean_of(const std::vector<int>& counts) {
  double sum = 0;
  for (const int c : counts) sum += c;
  return counts.empty() ? 0.0 : sum / static_cast<double>(counts.size());
}

double max_over_mean(const std::vector<int>& counts) {
  const double mean = mean_of(counts);
  return mean > 0 ? *std::max_element(counts.begin(), counts.end()) / mean : 0.0;
}

}  // namespace loadns::bench
