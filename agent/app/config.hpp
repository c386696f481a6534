#pragma once
// The agent's configuration: flags (CLI11), then their LOADNS_* environment variables, then
// defaults; validated once, immutable afterwards. An unknown LOADNS_* variable is refused
// like an unknown flag.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/count/connection_counter.hpp"
#include "agent/count/socket_filter.hpp"
#include "agent/health/health_check.hpp"
#include "agent/report/conninfo.hpp"

namespace loadns::agent {

/// What the agent does with report()'s shed count besides --on-shed.
enum class shed_action : std::uint8_t { off, destroy };

struct config {
  conninfo db;          ///< --db or LOADNS_DB
  std::string service;  ///< --service: the balanced name
  std::string name;     ///< --name: this backend's identity, default the host name
  ip_address address;   ///< --address: what DNS answers hand out for this backend
  /// A second --address, of the other family (a dual-stack host is one backend).
  std::optional<ip_address> second_address;
  socket_filter filter;  ///< --port (one or more), --local-address
  std::chrono::milliseconds interval{2'000};
  std::optional<std::int64_t> capacity;
  bool drain_on_exit = true;
  counter_mode counter = counter_mode::automatic;
  std::string log_level = "info";

  check_spec check;                                ///< --check (default listen)
  std::chrono::milliseconds check_interval{250};   ///< --check-interval
  std::chrono::milliseconds check_timeout{1'000};  ///< --check-timeout
  unsigned fall = 2;                               ///< --fall
  unsigned rise = 2;                               ///< --rise
  std::chrono::milliseconds sql_timeout{5'000};    ///< --sql-timeout: statement and lock
  std::string on_shed;                             ///< --on-shed COMMAND (empty: none)
  shed_action shed = shed_action::off;             ///< --shed

  /// Every address given, the first first.
  [[nodiscard]] std::vector<ip_address> addresses() const {
    std::vector<ip_address> a{address};
    if (second_address) {
      a.push_back(*second_address);
    }
    return a;
  }
};

/// What main() should do after parsing.
struct parse_result {
  enum class action : std::uint8_t { run, exit };
  action what = action::exit;
  int exit_code = 0;   ///< for action::exit: 0 after --help/--version, 2 for bad flags
  std::string output;  ///< to print before exiting (help, version or the error and a hint)
  config cfg;          ///< for action::run
};

/// Parses argv. Each flag's LOADNS_* variable is read from the process environment (flags
/// win); `env` is that environment (environ), searched for LOADNS_* names no flag has.
/// `host_name` is the default --name. Never throws.
[[nodiscard]] parse_result parse_config(int argc, const char* const* argv, const char* const* env,
                                        const std::string& host_name);

}  // namespace loadns::agent
