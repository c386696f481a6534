#include "server/app/fd_limit.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

namespace loadns::app {

namespace {

// Per thread: an epoll descriptor, its eventfd and timerfd, and per listen address one UDP
// socket and one TCP acceptor.
constexpr std::uint64_t per_thread = 3;
constexpr std::uint64_t per_listener = 2;
// stdio, the database session (a second one while it reconnects), the metrics listener and
// its clients, the refresher's and metrics thread's own descriptors, libraries.
constexpr std::uint64_t margin = 64;

// RLIMIT_NOFILE can never exceed fs.nr_open; an "unlimited" hard limit means that.
rlim_t ceiling(rlim_t hard) {
  if (hard != RLIM_INFINITY) return hard;
  std::ifstream in("/proc/sys/fs/nr_open");
  unsigned long long nr_open = 0;
  if (in >> nr_open && nr_open > 0) return static_cast<rlim_t>(nr_open);
  return rlim_t{1} << 20;  // the kernel's default nr_open
}

}  // namespace

std::uint64_t descriptors_needed(const server_config& cfg) {
  return std::uint64_t{cfg.tcp_max_connections} +
         std::uint64_t{cfg.threads} * (per_thread + per_listener * cfg.listen.size()) + margin;
}

fd_limit raise_fd_limit(std::uint64_t needed) {
  fd_limit l;
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) {
    spdlog::warn("cannot read RLIMIT_NOFILE: {}", std::generic_category().message(errno));
    return l;
  }
  l.soft_before = l.soft = r.rlim_cur;
  l.hard = r.rlim_max;
  const rlim_t target = ceiling(r.rlim_max);
  if (r.rlim_cur < target) {
    rlimit raised = r;
    raised.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      l.soft = target;
      spdlog::info("raised the RLIMIT_NOFILE soft limit from {} to {}", l.soft_before, l.soft);
    } else {
      spdlog::warn("cannot raise the RLIMIT_NOFILE soft limit from {} to {}: {}", r.rlim_cur,
                   target, std::generic_category().message(errno));
    }
  }
  if (l.soft < needed) {
    // Not fatal: past the limit, accepts pause and connections wait in the listen backlog
    // until sessions end; UDP is unaffected.
    spdlog::warn(
        "RLIMIT_NOFILE allows {} descriptors (hard limit {}) but this configuration needs up to "
        "{} (--tcp-max-connections plus sockets, database and margin): new TCP connections will "
        "wait once descriptors run out; raise the hard limit (systemd LimitNOFILE=, ulimit -Hn) "
        "or lower --tcp-max-connections",
        l.soft, l.hard == RLIM_INFINITY ? "unlimited" : std::to_string(l.hard), needed);
  }
  return l;
}

}  // namespace loadns::app
