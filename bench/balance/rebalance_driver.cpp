// rebalance_driver: the client and backend side of the rebalance benchmark
// (bench/balance/rebalance).
//
// It plays every backend and every client on loopback, so that the real loadns-agents count
// and close (SOCK_DESTROY) real TCP connections and the real loadns-server answers real
// lookups:
//   1. listens on ADDRESS:PORT for each backend (127.0.0.21..25 in the benchmark);
//   2. opens the initial long-lived connections (--initial per backend) and holds both ends;
//   3. writes --ready-file, then waits for --go-file (the script creates it just before it
//      starts the newcomer's agent);
//   4. for --seconds: whenever a client's connection is closed under it (the agent's
//      SOCK_DESTROY on the backend's end resets it), closes both ends, resolves a fresh nonce
//      name with c-ares (the client library) against --server and connects to the answer,
//      as a client of loadns does; it samples every backend's connections every --sample-ms
//      (data file: seconds since go, one column per backend, the mean, max/mean);
//   5. prints a summary and one machine-readable RESULT line, writes --done-file and holds
//      every connection until SIGTERM (so that the agents, stopped first, never count the
//      connections going away at the end).
// The counts are the connections each backend holds from the clients' side: what the agents'
// sock_diag counts converge to. Every loop is bounded by --timeout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include "bench/balance/driver_common.hpp"
#include "client/nonce.hpp"
#include "client/resolver.hpp"

namespace {

using namespace loadns::bench;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options : loadns::bench::driver_options {
  options() { timeout_s = 300; }
  int seconds = 70;
  double target = 1.05;
  std::string done_file;
};

volatile std::sig_atomic_t terminated = 0;
extern "C" void on_sigterm(int) {
  terminated = 1;
}

std::uint16_t port_of(const sockaddr_in& sa) {
  return ntohs(sa.sin_port);
}

/// One client connection: the client's end, the backend's end once accepted, the backend.
struct connection {
  int client = -1;
  int server = -1;
  std::size_t backend = 0;
};

class world {
 public:
  explicit world(const options& opt) : opt_(opt), counts_(opt.backends.size(), 0) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) fail_errno("epoll_create1");
    for (std::size_t i = 0; i < opt.backends.size(); ++i) {
      listeners_.push_back(open_listener(opt.backends[i], opt.port));
    }
  }
  ~world() {
    for (const auto& c : connections_) {
      if (c.client >= 0) ::close(c.client);
      if (c.server >= 0) ::close(c.server);
    }
    for (const int fd : listeners_) ::close(fd);
    for (const auto& [key, fd] : unmatched_) ::close(fd);
    if (epoll_ >= 0) ::close(epoll_);
  }
  world(const world&) = delete;
  world& operator=(const world&) = delete;

  /// Connects a client to backend `b` (loopback connects complete at once); false if refused.
  bool connect_to(std::size_t b, std::size_t slot) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket (is RLIMIT_NOFILE high enough?)");
    const sockaddr_in sa = make_address(opt_.backends[b], opt_.port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      return false;
    }
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    if (slot == connections_.size()) connections_.emplace_back();
    connection& c = connections_[slot];
    c = connection{fd, -1, b};
    const auto key = std::make_pair(b, port_of(local));
    if (const auto it = unmatched_.find(key); it != unmatched_.end()) {
      c.server = it->second;
      unmatched_.erase(it);
    } else {
      by_port_[key] = slot;
    }
    // A reset shows as EPOLLERR | EPOLLHUP; nothing is ever sent, so no EPOLLIN otherwise.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = slot;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) fail_errno("epoll_ctl");
    ++counts_[b];
    return true;
  }

  /// Accepts whatever is queued and pairs each backend end with its client.
  void accept_pending() {
    for (std::size_t b = 0; b < listeners_.size(); ++b) {
      for (;;) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        const int fd = ::accept4(listeners_[b], reinterpret_cast<sockaddr*>(&peer), &len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
          if (errno == ECONNABORTED) continue;
          fail_errno("accept on " + opt_.backends[b]);
        }
        const auto key = std::make_pair(b, port_of(peer));
        if (const auto it = by_port_.find(key); it != by_port_.end()) {
          connections_[it->second].server = fd;
          by_port_.erase(it);
        } else {
          unmatched_[key] = fd;
        }
      }
    }
  }

  /// Waits up to `timeout` for closed clients and returns their slots.
  std::vector<std::size_t> closed(milliseconds timeout) {
    std::vector<epoll_event> events(512);
    const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                               static_cast<int>(std::max<milliseconds::rep>(0, timeout.count())));
    if (n < 0 && errno != EINTR) fail_errno("epoll_wait");
    std::vector<std::size_t> out;
    for (int i = 0; i < n; ++i) out.push_back(events[static_cast<std::size_t>(i)].data.u64);
    return out;
  }

  /// Closes both ends of the connection in `slot`.
  void drop(std::size_t slot) {
    connection& c = connections_[slot];
    accept_pending();  // its backend end may still be queued
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.client, nullptr);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(c.client, reinterpret_cast<sockaddr*>(&local), &len);
    by_port_.erase(std::make_pair(c.backend, port_of(local)));
    ::close(c.client);
    if (c.server >= 0) ::close(c.server);
    --counts_[c.backend];
    c = connection{};
  }

  const std::vector<int>& counts() const noexcept { return counts_; }
  std::size_t size() const noexcept { return connections_.size(); }

 private:
  const options& opt_;
  int epoll_ = -1;
  std::vector<int> listeners_;
  std::vector<connection> connections_;
  std::vector<int> counts_;
  std::map<std::pair<std::size_t, std::uint16_t>, std::size_t> by_port_;  // waiting for accept
  std::map<std::pair<std::size_t, std::uint16_t>, int> unmatched_;        // accepted before paired
};

int run(const options& opt) {
  const std::size_t n = opt.backends.size();
  if (n == 0) throw std::invalid_argument("no --backends");
  std::vector<int> initial = opt.initial;
  initial.resize(n, 0);
  int total = 0;
  for (const int c : initial) total += c;
  raise_fd_limit(static_cast<rlim_t>(2 * total + 256));
  const auto deadline = clock_type::now() + std::chrono::seconds(opt.timeout_s);
  auto check_deadline = [&](const char* where) {
    if (clock_type::now() > deadline) {
      throw std::runtime_error(fmt::format("--timeout of {} s reached {}", opt.timeout_s, where));
    }
  };

  world w(opt);
  for (std::size_t b = 0; b < n; ++b) {
    for (int k = 0; k < initial[b]; ++k) {
      if (!w.connect_to(b, w.size())) fail_errno("initial connect");
      if (k % 256 == 255) w.accept_pending();
    }
  }
  w.accept_pending();
  announce_ready_then_await_go(opt, [&] {
    w.accept_pending();
    (void)w.closed(milliseconds(20));  // nothing closes before the newcomer joins
    check_deadline("waiting for --go-file");
  });

  loadns::client::resolver resolver(driver_resolver_options(opt));

  std::ofstream data;
  if (!opt.data_file.empty()) {
    data.open(opt.data_file);
    data << "# seconds since the newcomer joined, connections of";
    for (const auto& b : opt.backends) data << ' ' << b;
    data << ", mean, max/mean\n";
  }
  const auto start = clock_type::now();
  const auto end = start + std::chrono::seconds(opt.seconds);
  auto next_sample = start;
  int reconnected = 0;
  int failed_lookups = 0;
  int failed_connects = 0;
  int unknown_answers = 0;
  double below_since = -1;  // max/mean at or below the target since then (-1: not now)
  double first_below = -1;
  std::vector<int> moved_to(n, 0);
  std::string name;
  const double mean = static_cast<double>(total) / static_cast<double>(n);
  int peak_over_share = 0;  // the newcomer's most connections above the mean

  while (clock_type::now() < end) {
    check_deadline("rebalancing");
    const auto now = clock_type::now();
    if (now >= next_sample) {
      const double t = std::chrono::duration<double>(now - start).count();
      const double r = max_over_mean(w.counts());
      if (r <= opt.target) {
        if (below_since < 0) below_since = t;
        if (first_below < 0) first_below = t;
      } else {
        below_since = -1;
      }
      peak_over_share = std::max(peak_over_share, w.counts()[n - 1] - static_cast<int>(mean));
      if (data.is_open()) {
        data << fmt::format("{:.2f}", t);
        for (const int c : w.counts()) data << ' ' << c;
        data << fmt::format(" {:.1f} {:.4f}\n", mean, r);
      }
      next_sample += milliseconds(opt.sample_ms);
      continue;
    }
    for (const std::size_t slot : w.closed(std::chrono::duration_cast<milliseconds>(
             std::min(next_sample, end) - clock_type::now()))) {
      w.drop(slot);
      // The client reconnects through a fresh name, as loadns clients do; until one answer
      // connects, it keeps trying (bounded by --timeout).
      for (;;) {
        check_deadline("reconnecting");
        const auto style = (reconnected % 2 == 0) ? loadns::client::nonce_style::dash
                                                  : loadns::client::nonce_style::label;
        if (auto ec = loadns::client::make_nonce_name(opt.service, style, name); ec) {
          throw std::runtime_error("nonce name: " + ec.message());
        }
        const auto result = resolver.resolve(name, loadns::client::record_type::a);
        if (result.status != loadns::client::lookup_status::ok || result.addresses.empty()) {
          ++failed_lookups;
          continue;
        }
        const auto it = std::find(opt.backends.begin(), opt.backends.end(), result.addresses[0]);
        if (it == opt.backends.end()) {
          ++unknown_answers;
          continue;
        }
        const auto b = static_cast<std::size_t>(it - opt.backends.begin());
        if (!w.connect_to(b, slot)) {
          ++failed_connects;
          continue;
        }
        ++moved_to[b];
        ++reconnected;
        break;
      }
    }
    w.accept_pending();
  }

  const auto& final_counts = w.counts();
  std::string finals;
  std::string moved;
  for (std::size_t b = 0; b < n; ++b) {
    finals += fmt::format("{}{}", b ? "," : "", final_counts[b]);
    moved += fmt::format("{}{}", b ? "," : "", moved_to[b]);
  }
  int needed = 0;  // the fewest closes that reach the mean: every excess over it
  for (const int c : initial) needed += std::max(0, c - static_cast<int>(mean));
  fmt::print(
      "rebalance: {} connections closed and reconnected ({} needed, {:.3f}x), to {}; {} lookups "
      "failed, {} unknown answers, {} connects failed\n",
      reconnected, needed, needed > 0 ? reconnected / static_cast<double>(needed) : 0.0, moved,
      failed_lookups, unknown_answers, failed_connects);
  fmt::print(
      "  final connections {}, max/mean {:.3f}; max/mean first <= {} at {:.1f} s, for good from "
      "{:.1f} s\n",
      finals, max_over_mean(final_counts), opt.target, first_below, below_since);
  fmt::print(
      "RESULT closed={} needed={} final={} max_over_mean={:.4f} first_within_s={:.2f} "
      "settled_s={:.2f} newcomer_peak_over_mean={} failed_lookups={} unknown_answers={} "
      "failed_connects={}\n",
      reconnected, needed, finals, max_over_mean(final_counts), first_below, below_since,
      peak_over_share, failed_lookups, unknown_answers, failed_connects);
  std::fflush(stdout);
  if (!opt.done_file.empty()) {
    std::ofstream(opt.done_file) << "done\n";
    while (terminated == 0 && clock_type::now() < deadline) {
      (void)w.closed(milliseconds(50));  // holding: nothing is reconnected any more
    }
  }
  // A lookup that timed out was retried (printed above); an answer naming no backend or a
  // refused connection is a failure.
  return (unknown_answers == 0 && failed_connects == 0) ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"rebalance_driver: backends and reconnecting clients for the rebalance benchmark"};
  add_driver_options(app, opt);
  add_int_option(app, "--seconds", opt.seconds, "run this long after --go-file appears", 1, 3600);
  app.add_option("--target", opt.target, "max/mean the run reports reaching")
      ->capture_default_str();
  app.add_option("--done-file", opt.done_file,
                 "created when the run ends; then hold the connections until SIGTERM");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, on_sigterm);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rebalance_driver: %s\n", e.what());
    return 1;
  }
}
