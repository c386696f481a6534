#pragma once
// The agent's configuration: flags (CLI11), then LOADNS_DB, then defaults; validated once,
// immutable afterwards (SPEC 5).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agent/count/connection_counter.hpp"
#include "agent/count/socket_filter.hpp"
#include "agent/report/conninfo.hpp"

namespace loadns::agent {

struct config {
  conninfo db;           ///< --db or LOADNS_DB
  std::string service;   ///< --service: the balanced name
  std::string name;      ///< --name: this backend's identity, default the host name
  ip_address address;    ///< --address: what DNS answers hand out for this backend
  socket_filter filter;  ///< --port (one or more), --local-address
  std::chrono::milliseconds interval{2'000};
  std::optional<std::int64_t> capacity;
  bool drain_on_exit = true;
  counter_mode counter = counter_mode::automatic;
  std::string log_level = "info";
};

/// What main() should do after parsing.
struct parse_result {
  enum class action : std::uint8_t { run, exit };
  action what = action::exit;
  int exit_code = 0;   ///< for action::exit: 0 after --help/--version, 2 for bad flags
  std::string output;  ///< to print before exiting (help, version or the error and a hint)
  config cfg;          ///< for action::run
};

/// Parses argv. `env_db` is LOADNS_DB (nullptr when unset); `host_name` the default --name.
/// Never throws.
[[nodiscard]] parse_result parse_config(int argc, const char* const* argv, const char* env_db,
                                        const std::string& host_name);

}  // namespace loadns::agent
