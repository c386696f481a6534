#pragma once
// The agent's health checks (`--check MODE`): is the service on this backend alive?
//   listen   something LISTENs on every --port, on --local-address or a wildcard address
//            (the sock_diag dump of listeners, /proc/net/tcp as the fallback): no probe
//            traffic, no configuration
//   tcp      a TCP connect to each --address on each --port succeeds
//   http://HOST:PORT/PATH   a GET answers 2xx within the check timeout
//   exec:COMMAND            `/bin/sh -c COMMAND` exits 0 within the check timeout
//   none     always healthy (the agent reports load only)
// A failure that proves the service gone (no listener, a refused connection) is `definite`:
// fall_rise takes the backend down at once.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/count/connection_counter.hpp"
#include "agent/count/ip_address.hpp"
#include "agent/count/listener_set.hpp"
#include "agent/count/socket_filter.hpp"
#include "agent/health/http_probe.hpp"

namespace loadns::agent {

enum class check_mode : std::uint8_t { listen, tcp, http, exec, none };

struct check_spec {
  check_mode mode = check_mode::listen;
  http_target http;     ///< for check_mode::http
  std::string command;  ///< for check_mode::exec

  /// The form given on the command line, for logs.
  [[nodiscard]] std::string text() const;
};

/// Parses the value of --check. Empty with `error` set when it is none of the modes above.
[[nodiscard]] std::optional<check_spec> parse_check(std::string_view text, std::string& error);

/// One check's result.
struct check_outcome {
  bool ok = true;
  bool definite = false;  ///< a failure that needs no confirmation (see above)
  std::string detail;     ///< why it failed, in words ("listen: nothing listens on port 8080")
};

class health_check {
 public:
  /// `counter` serves the listen check's dump; `addresses` the tcp check.
  health_check(check_spec spec, socket_filter filter, std::vector<ip_address> addresses,
               std::chrono::milliseconds timeout, connection_counter& counter);

  /// Runs the check once; returns within about the timeout.
  check_outcome run();

  [[nodiscard]] const check_spec& spec() const noexcept { return spec_; }

 private:
  check_outcome run_listen();
  check_outcome run_tcp();
  check_outcome run_http();
  check_outcome run_exec();

  check_spec spec_;
  socket_filter filter_;
  std::vector<ip_address> addresses_;
  std::chrono::milliseconds timeout_;
  connection_counter& counter_;
  listener_set listeners_;
  std::string request_;  // the HTTP GET, built once
};

}  // namespace loadns::agent
