#pragma once
// What the two client-and-backend drivers of bench/balance (balance_driver for the scale-out
// run, rebalance_driver for the rebalance run) share: the flags that place the backends and
// pace the samples, and the socket and limit chores of playing many backends on loopback.

#include <netinet/in.h>
#include <sys/resource.h>

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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

/// Registers the shared flags (--server, --service, --backends, --port, --initial,
/// --sample-ms, --timeout, --data, --ready-file, --go-file) on `app`.
void add_driver_options(CLI::App& app, driver_options& opt);

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
