#pragma once
// Configuration is read once (flags, then LOADNS_* environment, then defaults), validated,
// and immutable afterwards. Zones and backends are data in PostgreSQL, not configuration.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loadns::app {

struct listen_address {
  std::string host;  ///< numeric address, IPv6 without brackets
  std::uint16_t port = 0;
  std::string to_string() const;
};

enum class command { serve, migrate, check_config };

struct server_config {
  command cmd = command::serve;
  std::string conninfo;
  /// Where answer counts are shared with the zone's other servers; empty: not shared.
  std::string share_conninfo;
  std::vector<listen_address> listen;
  bool default_listen = true;  ///< listen was not given: a missing IPv6 stack is not fatal
  unsigned threads = 1;
  std::chrono::milliseconds poll_interval{1000};
  std::optional<listen_address> metrics_listen;
  std::string log_level = "info";
  bool query_log = false;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
  unsigned tcp_max_connections = 1024;
  /// Bind even when another process already serves a listen address (SO_REUSEPORT sharing on
  /// purpose); by default the server refuses to start (address_probe.hpp).
  bool reuse_port_shared = false;
  unsigned tcp_max_per_source = 64;  ///< per client /24 or /56; 0: no cap
  std::chrono::milliseconds tcp_frame_timeout{2'000};
  unsigned rrl_rate = 0;  ///< responses per second per client network and answer; 0: off
  unsigned rrl_slip = 2;
  std::string cookie_secret_file;  ///< empty: a random secret of this process's own
  /// Where the last good snapshot's rows are kept, served at start while the database is
  /// unreachable; empty: nothing is kept.
  std::string state_dir;
};

/// Either a configuration to run, or an exit code (0 after --help/--version, 2 after a bad
/// flag, with the message already printed).
struct parse_result {
  std::optional<server_config> config;
  int exit_code = 0;
};

parse_result parse_command_line(int argc, char** argv);

/// Parses "ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" (all addresses); empty when malformed.
std::optional<listen_address> parse_listen_address(const std::string& text);

}  // namespace loadns::app
