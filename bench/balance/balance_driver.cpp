// balance_driver: the client and backend side of the scale-out benchmark (bench/balance/run).
//
// It plays every backend and every client on loopback so that the real loadns-server and
// real loadns-agents see real TCP connections:
//   1. listens on ADDRESS:PORT for each backend (127.0.0.11..15 in the benchmark);
//   2. opens the initial long-lived connections (1,000 to each of four backends, none to the
//      newcomer) and holds both ends;
//   3. writes --ready-file, then waits for --go-file (the script creates it once the agents
//      have reported these counts and the server has polled them);
//   4. opens --newcomers connections at --rate per second, each one resolving a fresh nonce
//      name with c-ares (the client library) against loadns and connecting to the answer;
//   5. samples the connection count of every backend every --sample (data file: seconds since
//      the first newcomer, then one column per backend), keeps sampling for --tail after the
//      last newcomer, and prints a summary and one machine-readable RESULT line.
// Every loop is bounded by --timeout. The counts are connections established to each backend
// (the connect() that succeeded), which is what each agent's sock_diag count converges to.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench/balance/driver_common.hpp"
#include "client/nonce.hpp"
#include "client/resolver.hpp"
#include "common/fd_guard.hpp"

namespace {

using namespace loadns::bench;
using loadns::fd_guard;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct options : loadns::bench::driver_options {
  int newcomers = 2000;
  int rate = 200;
  int tail_ms = 3000;
  std::string style = "mixed";
  std::string label = "least_load";
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

/// One backend: a listener and the accepted ends of its connections.
struct backend {
  std::string address;
  fd_guard listener{-1};
  std::vector<fd_guard> accepted;
  int connected = 0;  ///< connect() calls to it that succeeded
};

/// Accepts whatever is queued on every listener (non-blocking).
void accept_pending(std::vector<backend>& backends) {
  for (auto& b : backends) {
    for (int i = 0; i < 100000; ++i) {
      const int fd = ::accept4(b.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        fail_errno("accept on " + b.address);
      }
      b.accepted.emplace_back(fd);
    }
  }
}

/// Waits up to `timeout` for listener activity, then accepts it.
void wait_and_accept(std::vector<backend>& backends, milliseconds timeout) {
  std::vector<pollfd> fds;
  fds.reserve(backends.size());
  for (const auto& b : backends) fds.push_back({b.listener.get(), POLLIN, 0});
  const int ms = static_cast<int>(std::max<milliseconds::rep>(0, timeout.count()));
  if (::poll(fds.data(), fds.size(), ms) > 0) accept_pending(backends);
}

/// A blocking connect to a loopback listener; loopback connects complete at once.
bool connect_to(const std::string& ip, std::uint16_t port, std::vector<fd_guard>& held) {
  fd_guard fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) fail_errno("socket (is RLIMIT_NOFILE high enough?)");
  const sockaddr_in sa = make_address(ip, port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return false;
  held.push_back(std::move(fd));
  return true;
}

struct sample {
  double seconds;
  std::vector<int> counts;
};

int run(const options& opt) {
  const std::size_t n = opt.backends.size();
  if (n == 0) throw std::invalid_argument("no --backends");
  std::vector<int> initial = opt.initial;
  initial.resize(n, 0);

  int total = opt.newcomers;
  for (int c : initial) total += c;
  raise_fd_limit(static_cast<rlim_t>(2 * total + 256));

  const auto deadline = clock_type::now() + std::chrono::seconds(opt.timeout_s);
  auto check_deadline = [&](std::string_view where) {
    if (clock_type::now() > deadline) {
      fail(fmt::format("--timeout of {} s reached {}", opt.timeout_s, where));
    }
  };

  std::vector<backend> backends(n);
  for (std::size_t i = 0; i < n; ++i) {
    backends[i].address = opt.backends[i];
    backends[i].listener = fd_guard(open_listener(opt.backends[i], opt.port));
    backends[i].accepted.reserve(static_cast<std::size_t>(initial[i] + opt.newcomers));
  }
  std::vector<fd_guard> clients;
  clients.reserve(static_cast<std::size_t>(total));

  // The long-lived connections the old backends already hold.
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < initial[i]; ++k) {
      if (!connect_to(backends[i].address, opt.port, clients)) fail_errno("initial connect");
      ++backends[i].connected;
      if (k % 256 == 255) accept_pending(backends);
    }
  }
  for (int i = 0; i < 1000; ++i) {
    accept_pending(backends);
    std::size_t accepted = 0;
    for (const auto& b : backends) accepted += b.accepted.size();
    if (accepted == clients.size()) break;
    wait_and_accept(backends, milliseconds(10));
    check_deadline("accepting the initial connections");
  }

  announce_ready_then_await_go(opt, [&] {
    wait_and_accept(backends, milliseconds(20));
    check_deadline("waiting for --go-file");
  });

  loadns::client::resolver resolver(driver_resolver_options(opt));

  std::vector<sample> samples;
  auto current_counts = [&] {
    std::vector<int> counts(n);
    for (std::size_t i = 0; i < n; ++i) counts[i] = backends[i].connected;
    return counts;
  };

  const auto start = clock_type::now();
  const auto interval = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(1.0 / std::max(1, opt.rate)));
  const auto sample_every = milliseconds(opt.sample_ms);
  auto next_sample = start;
  int opened = 0;
  int failed_lookups = 0;
  int failed_connects = 0;
  int unknown_answers = 0;
  double lookup_seconds = 0;
  double lookup_max = 0;
  std::vector<int> answered(n, 0);
  std::string name;

  for (;;) {
    check_deadline("in the newcomer phase");
    const auto now = clock_type::now();
    if (now >= next_sample) {
      samples.push_back({std::chrono::duration<double>(now - start).count(), current_counts()});
      next_sample += sample_every;
      continue;
    }
    const auto next_connection = start + interval * opened;
    const auto end_time = start + interval * opt.newcomers + milliseconds(opt.tail_ms);
    if (opened >= opt.newcomers && now >= end_time) break;
    if (opened < opt.newcomers && now >= next_connection) {
      ++opened;
      auto style = loadns::client::nonce_style::dash;
      if (opt.style == "label" || (opt.style == "mixed" && opened % 2 == 0)) {
        style = loadns::client::nonce_style::label;
      }
      if (auto ec = loadns::client::make_nonce_name(opt.service, style, name); ec) {
        fail("nonce name: " + ec.message());
      }
      const auto t0 = clock_type::now();
      const auto result = resolver.resolve(name, loadns::client::record_type::a);
      const double took = std::chrono::duration<double>(clock_type::now() - t0).count();
      lookup_seconds += took;
      lookup_max = std::max(lookup_max, took);
      if (result.status != loadns::client::lookup_status::ok || result.addresses.empty()) {
        ++failed_lookups;
        continue;
      }
      const auto it = std::find_if(backends.begin(), backends.end(), [&](const backend& b) {
        return b.address == result.addresses.front();
      });
      if (it == backends.end()) {
        ++unknown_answers;
        continue;
      }
      ++answered[static_cast<std::size_t>(it - backends.begin())];
      if (connect_to(it->address, opt.port, clients)) {
        ++it->connected;
      } else {
        ++failed_connects;
      }
      continue;
    }
    auto wake = std::min(next_sample, opened < opt.newcomers ? next_connection : end_time);
    wait_and_accept(backends, std::chrono::duration_cast<milliseconds>(wake - clock_type::now()));
  }
  accept_pending(backends);

  // The data file: one row per sample, for gnuplot.
  if (!opt.data_file.empty()) {
    std::ofstream out(opt.data_file);
    out << "# policy " << opt.label << ": seconds since the first newcomer, connections per "
        << "backend (";
    for (std::size_t i = 0; i < n; ++i) out << (i ? " " : "") << backends[i].address;
    out << "), mean\n";
    for (const auto& s : samples) {
      out << fmt::format("{:.3f}", s.seconds);
      for (int c : s.counts) out << ' ' << c;
      out << fmt::format(" {:.1f}\n", mean_of(s.counts));
    }
  }

  // The newcomer is the backend that started with the fewest connections.
  const std::size_t newcomer =
      static_cast<std::size_t>(std::min_element(initial.begin(), initial.end()) - initial.begin());
  double peak_excess = -1e9;
  double peak_at = 0;
  for (const auto& s : samples) {
    const double mean = mean_of(s.counts);
    if (mean <= 0) continue;
    const double excess = (s.counts[newcomer] - mean) / mean;
    if (excess > peak_excess) {
      peak_excess = excess;
      peak_at = s.seconds;
    }
  }
  const auto final_counts = current_counts();
  const double spread = max_over_mean(final_counts);
  std::size_t accepted_total = 0;
  for (const auto& b : backends) accepted_total += b.accepted.size();

  fmt::print(
      "policy {}: {} newcomers at {}/s, {} lookups failed, {} unknown answers, "
      "{} connects failed, lookup mean {:.3f} ms max {:.3f} ms\n",
      opt.label, opt.newcomers, opt.rate, failed_lookups, unknown_answers, failed_connects,
      opened > 0 ? 1e3 * lookup_seconds / opened : 0.0, 1e3 * lookup_max);
  fmt::print("  newcomers per backend:");
  for (std::size_t i = 0; i < n; ++i) fmt::print(" {}={}", backends[i].address, answered[i]);
  fmt::print("\n  final connections:    ");
  for (std::size_t i = 0; i < n; ++i) fmt::print(" {}={}", backends[i].address, final_counts[i]);
  fmt::print("\n  max/mean {:.3f}; newcomer {} peak excess over the mean {:+.1f}% at {:.1f} s\n",
             spread, backends[newcomer].address, 100 * peak_excess, peak_at);
  std::string counts_csv;
  for (std::size_t i = 0; i < n; ++i) {
    counts_csv += fmt::format("{}{}", i ? "," : "", final_counts[i]);
  }
  fmt::print(
      "RESULT policy={} final={} max_over_mean={:.4f} newcomer_peak_excess_pct={:.2f} "
      "failed_lookups={} unknown_answers={} failed_connects={} accepted={} expected={}\n",
      opt.label, counts_csv, spread, 100 * peak_excess, failed_lookups, unknown_answers,
      failed_connects, accepted_total, clients.size());
  std::fflush(stdout);
  const bool complete = failed_lookups == 0 && unknown_answers == 0 && failed_connects == 0 &&
                        opened == opt.newcomers;
  return complete ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"balance_driver: backends and clients for the loadns scale-out benchmark"};
  add_driver_options(app, opt);
  add_int_option(app, "--newcomers", opt.newcomers, "new connections to open", 0, 1000000);
  add_int_option(app, "--rate", opt.rate, "new connections per second", 1, 100000);
  add_int_option(app, "--tail-ms", opt.tail_ms, "keep sampling this long after the last newcomer",
                 0, 600000);
  app.add_option("--style", opt.style, "nonce style: dash, label or mixed")
      ->check(CLI::IsMember({"dash", "label", "mixed"}))
      ->capture_default_str();
  app.add_option("--label", opt.label, "name of this run (the policy)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "balance_driver: %s\n", e.what());
    return 1;
  }
}
