#include "agent/app/config.hpp"

// CLI11's inlined string handling trips g++ 12's -Wnull-dereference (a false positive in
// libstdc++'s basic_string after inlining); the check stays on everywhere else.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include <sstream>
#include <vector>

#include "common/cli_environment.hpp"
#include "common/duration.hpp"

namespace loadns::agent {
namespace {

const CLI::Validator duration_validator(
    [](std::string& text) -> std::string {
      const auto d = parse_duration(text);
      if (!d) {
        return "not a duration (like 500ms, 2s, 1m): " + text;
      }
      if (*d < std::chrono::milliseconds(10) || *d > std::chrono::hours(1)) {
        return "must be between 10ms and 1h: " + text;
      }
      return {};
    },
    "DURATION");

const CLI::Validator ip_validator(
    [](std::string& text) -> std::string {
      return ip_address::parse(text) ? std::string() : "not an IPv4 or IPv6 address: " + text;
    },
    "IP");

const CLI::Validator check_validator(
    [](std::string& text) -> std::string {
      std::string error;
      return parse_check(text, error) ? std::string() : error;
    },
    "MODE");

}  // namespace

parse_result parse_config(int argc, const char* const* argv, const char* const* env,
                          const std::string& host_name) {
  parse_result result;
  CLI::App app{
      "loadns-agent: counts this backend's established TCP connections (netlink sock_diag, "
      "falling back to /proc/net/tcp), checks the service's health, and reports both to the "
      "loadns database.\nEvery flag can also be set by the LOADNS_* variable shown beside it "
      "(flags win); an unknown LOADNS_* variable is an error.",
      "loadns-agent"};
  app.set_version_flag("--version", std::string("loadns-agent ") + LOADNS_VERSION);
  app.get_formatter()->column_width(34);

  std::string db;
  std::string service;
  std::string name = host_name;
  std::vector<std::string> addresses;
  std::vector<int> ports;
  std::string local_address;
  std::string interval = "2s";
  std::int64_t capacity = 0;
  bool no_drain = false;
  std::string counter = "auto";
  std::string log_level = "info";
  std::string check = "listen";
  std::string check_interval = "250ms";
  std::string check_timeout = "1s";
  unsigned fall = 2;
  unsigned rise = 2;
  std::string sql_timeout = "5s";
  std::string on_shed;
  std::string shed = "off";

  app.add_option("--db", db,
                 "libpq conninfo or postgresql:// URI of the loadns database (the primary)")
      ->required();
  app.add_option("--service", service, "balanced name this backend serves (api.example.com)")
      ->required();
  app.add_option("--address", addresses,
                 "address DNS answers give for this backend; once per family for a dual-stack "
                 "host (comma-separated in the variable)")
      ->required()
      ->delimiter(',')
      ->check(ip_validator);
  app.add_option("--port", ports,
                 "local port whose established connections count (repeatable; comma-separated "
                 "in the variable)")
      ->required()
      ->delimiter(',')
      ->check(CLI::Range(1, 65535));
  app.add_option("--local-address", local_address, "count only connections to this local address")
      ->check(ip_validator);
  app.add_option("--interval", interval, "time between load reports")
      ->capture_default_str()
      ->check(duration_validator);
  auto* capacity_opt =
      app.add_option("--capacity", capacity, "maximum connections (default: operator's value)")
          ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000'000}));
  app.add_option("--name", name, "backend name, unique within the service (default: host name)")
      ->capture_default_str();
  app.add_flag("--no-drain-on-exit", no_drain,
               "on SIGTERM/SIGINT exit without reporting draining = true");
  app.add_option("--check", check,
                 "health check: listen (something listens on every --port), tcp (connect to "
                 "--address), http://HOST:PORT/PATH (2xx), exec:COMMAND (exit 0) or none")
      ->capture_default_str()
      ->check(check_validator);
  app.add_option("--check-interval", check_interval, "time between health checks")
      ->capture_default_str()
      ->check(duration_validator);
  app.add_option("--check-timeout", check_timeout, "time a tcp, http or exec check may take")
      ->capture_default_str()
      ->check(duration_validator);
  app.add_option("--fall", fall, "consecutive failed checks before unhealthy")
      ->capture_default_str()
      ->check(CLI::Range(1U, 100U));
  app.add_option("--rise", rise, "consecutive good checks before healthy again")
      ->capture_default_str()
      ->check(CLI::Range(1U, 100U));
  app.add_option("--sql-timeout", sql_timeout,
                 "statement and lock timeout of the agent's SQL (keep it under half the "
                 "service manager's stop timeout)")
      ->capture_default_str()
      ->check(duration_validator);
  app.add_option("--on-shed", on_shed,
                 "command run (sh -c) when report() asks to shed connections; the count is in "
                 "LOADNS_SHED");
  app.add_option("--shed", shed,
                 "off, or destroy: close that many of the newest connections (sock_diag "
                 "SOCK_DESTROY, needs CAP_NET_ADMIN)")
      ->capture_default_str()
      ->check(CLI::IsMember({"off", "destroy"}))
      // Not LOADNS_SHED: that name carries the count to the --on-shed command.
      ->envname("LOADNS_SHED_ACTION");
  app.add_option("--counter", counter, "how to count: netlink, proc, or auto (netlink, else proc)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "netlink", "proc"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  // Every flag has its variable (flags win). A flag given twice takes its last value, so
  // wrappers can append overrides; --port and --address add up.
  for (auto* opt : app.get_options()) {
    if (opt->get_name() != "--port" && opt->get_name() != "--address") {
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
  bind_environment(app);
  capacity_opt->default_str("");  // no capacity unless given, not 0

  std::ostringstream out;
  std::ostringstream err;
  try {
    if (std::string unknown = check_environment(app, env); !unknown.empty()) {
      throw CLI::ValidationError(unknown);
    }
    app.parse(argc, argv);
    if (db.empty()) {
      throw CLI::ValidationError("--db", "empty conninfo");
    }
    if (service.empty()) {
      throw CLI::ValidationError("--service", "empty name");
    }
    if (name.empty()) {
      throw CLI::ValidationError("--name", "empty name (and no host name)");
    }
    if (addresses.size() > 2 ||
        (addresses.size() == 2 &&
         ip_address::parse(addresses[0])->family == ip_address::parse(addresses[1])->family)) {
      throw CLI::ValidationError("--address",
                                 "at most one address per family (an IPv4 and an IPv6 address)");
    }
    std::string error;
    auto info = make_conninfo(db, error);
    if (!info) {
      throw CLI::ValidationError("--db", "invalid conninfo: " + error);
    }
    result.cfg.db = std::move(*info);
  } catch (const CLI::ParseError& e) {
    result.what = parse_result::action::exit;
    result.exit_code = app.exit(e, out, err);
    if (result.exit_code != 0) {
      result.exit_code = 2;
    }
    result.output = out.str() + err.str();
    return result;
  }

  config& c = result.cfg;
  c.service = service;
  c.name = name;
  c.address = *ip_address::parse(addresses[0]);
  if (addresses.size() == 2) {
    c.second_address = ip_address::parse(addresses[1]);
  }
  for (const int p : ports) {
    c.filter.ports.push_back(static_cast<std::uint16_t>(p));
  }
  if (!local_address.empty()) {
    c.filter.local_address = ip_address::parse(local_address);
  }
  c.interval = *parse_duration(interval);
  if (capacity_opt->count() > 0) {
    c.capacity = capacity;
  }
  c.drain_on_exit = !no_drain;
  c.counter = *parse_counter_mode(counter);
  c.log_level = log_level;
  std::string ignored;
  c.check = *parse_check(check, ignored);
  c.check_interval = *parse_duration(check_interval);
  c.check_timeout = *parse_duration(check_timeout);
  c.fall = fall;
  c.rise = rise;
  c.sql_timeout = *parse_duration(sql_timeout);
  c.on_shed = on_shed;
  c.shed = shed == "destroy" ? shed_action::destroy : shed_action::off;
  result.what = parse_result::action::run;
  return result;
}

}  // namespace loadns::agent
