// loadns-agent: the command line (flags in agent/README.md); the loop is agent_loop.hpp.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "agent/app/agent_loop.hpp"
#include "agent/app/config.hpp"
#include "agent/app/signals.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace {

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) {
    return {};
  }
  return buf;
}

std::string ports_text(const loadns::agent::socket_filter& f) {
  std::string s;
  // Appended piecewise: g++ 12 at -O3 warns a false -Wrestrict on `"," + std::to_string(p)`
  // (GCC bug 105329).
  for (const auto p : f.ports) {
    if (!s.empty()) s += ',';
    s += std::to_string(p);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace loadns::agent;
  try {
    // Before anything else: the signal mask is inherited by every thread started later.
    stop_signals signals;

    // Single-threaded here: reading the environment cannot race a setenv.
    const parse_result parsed = parse_config(argc, argv, environ, host_name());
    if (parsed.what == parse_result::action::exit) {
      std::fputs(parsed.output.c_str(), parsed.exit_code == 0 ? stdout : stderr);
      return parsed.exit_code;
    }
    const config& cfg = parsed.cfg;

    auto logger = spdlog::stderr_color_mt("loadns-agent");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));

    spdlog::info(
        "loadns-agent {} for service {} as {} ({}{}{}): ports {}{}{}, every {} ms, check {} every "
        "{} ms (fall {}, rise {}), database {}",
        LOADNS_VERSION, cfg.service, cfg.name, cfg.address.to_string(),
        cfg.second_address ? ", " : "", cfg.second_address ? cfg.second_address->to_string() : "",
        ports_text(cfg.filter), cfg.filter.local_address ? " on " : "",
        cfg.filter.local_address ? cfg.filter.local_address->to_string() : "", cfg.interval.count(),
        cfg.check.text(), cfg.check_interval.count(), cfg.fall, cfg.rise, cfg.db.redacted);
    return run_agent(cfg, signals);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadns-agent: %s\n", e.what());
    return 1;
  }
}
