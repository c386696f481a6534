#include "agent/app/config.hpp"

// CLI11's inlined string handling trips g++ 12's -Wnull-dereference (a false positive in
// libstdc++'s basic_string after inlining); the check stays on everywhere else.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <CLI/CLI.hpp>

#include <sstream>
#include <vector>

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

}  // namespace

parse_result parse_config(int argc, const char* const* argv, const char* env_db,
                          const std::string& host_name) {
  parse_result result;
  CLI::App app{
      "loadns-agent: counts this backend's established TCP connections (netlink sock_diag, "
      "falling back to /proc/net/tcp) and reports them to the loadns database every interval.",
      "loadns-agent"};
  app.set_version_flag("--version", std::string("loadns-agent ") + LOADNS_VERSION);

  std::string db = env_db != nullptr ? env_db : "";
  std::string service;
  std::string name = host_name;
  std::string address;
  std::vector<int> ports;
  std::string local_address;
  std::string interval = "2s";
  std::int64_t capacity = 0;
  bool no_drain = false;
  std::string counter = "auto";
  std::string log_level = "info";

  auto* db_opt = app.add_option("--db", db,
                                "libpq conninfo or postgresql:// URI of the loadns database "
                                "(default: $LOADNS_DB)");
  if (env_db == nullptr || *env_db == '\0') {
    db_opt->required();
  }
  app.add_option("--service", service, "balanced name this backend serves (api.example.com)")
      ->required();
  app.add_option("--address", address, "address DNS answers give for this backend")
      ->required()
      ->check(ip_validator);
  app.add_option("--port", ports, "local port whose established connections count (repeatable)")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--local-address", local_address, "count only connections to this local address")
      ->check(ip_validator);
  app.add_option("--interval", interval, "time between reports")
      ->capture_default_str()
      ->check(duration_validator);
  auto* capacity_opt =
      app.add_option("--capacity", capacity, "maximum connections (default: operator's value)")
          ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000'000}));
  app.add_option("--name", name, "backend name, unique within the service (default: host name)")
      ->capture_default_str();
  app.add_flag("--no-drain-on-exit", no_drain,
               "on SIGTERM/SIGINT exit without reporting draining = true");
  app.add_option("--counter", counter, "how to count: netlink, proc, or auto (netlink, else proc)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "netlink", "proc"}));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  // A flag given twice takes its last value, so wrappers can append overrides; --port adds up.
  for (auto* opt : app.get_options()) {
    if (opt->get_name() != "--port") {
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }

  std::ostringstream out;
  std::ostringstream err;
  try {
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
  c.address = *ip_address::parse(address);
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
  result.what = parse_result::action::run;
  return result;
}

}  // namespace loadns::agent
