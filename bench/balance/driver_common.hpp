#pragma once
// What the two client-and-backend drivers of bench/balance (balance_driver for the scale-out
// run, rebalance_driver for the rebalance run) share: the flags that place the backends and
// pace the samples, how they resolve and announce their start, and the socket and limit
// chores of playing many backends on loopback.

#include <netinet/in.h>
#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "client/resolver.hpp"

namespace loadns::bench {

/// The flags both drivers take; each driver's own options derive from this.
struct driver_options {
  std::string server = "127.0.0.1:5300";
  std::string service = "api.example.com";
  std::vector<std::string> backends;
  std::uint16_t port = 20080;
  std::vector<int> initial;
  int sample_ms = 100;
  int timeout_s = 120;
  std::string data_file;
  std::string ready_file;
  std::string go_file;
};

/// Registers the whole-number flag `name` for `value`, accepted from `lo` to `hi`, with its
/// default shown in --help.
void add_int_option(CLI::App& app, const std::string& name, int& value, const std::string& what,
                    int lo, int hi);

/// Registers the shared flags (--server, --service, --backends, --port, --initial,
/// --sample-ms, --timeout, --data, --ready-file, --go-file) on `app`.
void add_driver_options(CLI::App& app, driver_options& opt);

/// How both drivers resolve: the --server, one second a try, two tries.
client::resolver_options driver_resolver_options(const driver_options& opt);

/// Creates --ready-file (the initial connections stand), then, until --go-file exists, calls
/// `idle()`, which accepts, samples and checks the deadline while the run waits for its start.
template <class Idle>
void announce_ready_then_await_go(const driver_options& opt, Idle idle) {
  if (!opt.ready_file.empty()) std::ofstream(opt.ready_file) << "ready\n";
  while (!opt.go_file.empty() && !std::filesystem::exists(opt.go_file)) idle();
}

/// Throws std::runtime_error with `what` and the reason errno gives.
[[noreturn]] void fail_errno(const std::string& what);

/// The IPv4 socket address of `ip`:`port`; throws on a string that is no IPv4 address.
sockaddr_in make_address(const std::string& ip, std::uint16_t port);

/// Raises RLIMIT_NOFILE to `wanted` so that both ends of every connection fit (two fds per
/// connection); throws when the hard limit cannot be raised (not root).
void raise_fd_limit(rlim_t wanted);

/// A non-blocking TCP listener on `ip`:`port` (SO_REUSEADDR, backlog 4096); the caller owns
/// the descriptor.
int open_listener(const std::string& ip, std::uint16_t port);

/// The mean of `counts` (0 when empty).
double mean_of(const std::vector<int>& counts);

/// The largest count over the mean (0 when the mean is 0): the spread the benchmarks report.
double max_over_mean(const std::vector<int>& counts);

}  // namespace loadns::bench
