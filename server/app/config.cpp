#include "server/app/config.hpp"

#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <iostream>
#include <thread>

#include "common/cli_environment.hpp"
#include "common/duration.hpp"

namespace loadns::app {

std::string listen_address::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<listen_address> parse_listen_address(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 address needs brackets to be told from its port
  }
  if (host.empty()) host = "0.0.0.0";
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  boost::system::error_code bad;
  boost::asio::ip::make_address(host, bad);
  if (bad) return std::nullopt;
  return listen_address{host, static_cast<std::uint16_t>(port)};
}

namespace {

// CLI11 validators that turn text into typed values while reporting a clear error.
std::string check_duration(const std::string& text) {
  return parse_duration(text) ? std::string{} : "not a positive duration like 500ms, 1s, 2m";
}
std::string check_listen(const std::string& text) {
  return parse_listen_address(text)
             ? std::string{}
             : "not ADDR:PORT, [V6ADDR]:PORT or :PORT with a numeric address";
}

}  // namespace

parse_result parse_command_line(int argc, char** argv) {
  CLI::App cli{"loadns-server: load-aware authoritative DNS balancer fed from PostgreSQL",
               "loadns-server"};
  cli.set_version_flag("--version", std::string("loadns-server ") + LOADNS_VERSION);
  cli.footer(
      "Subcommands: `loadns-server migrate --db CONNINFO` applies pending schema migrations.\n"
      "Environment: every flag has the variable shown beside it (flags win); an unknown\n"
      "LOADNS_* variable is an error.");

  server_config cfg;
  std::vector<std::string> listen;
  std::string poll = "1s";
  std::string idle = "10s";
  std::string frame = "2s";
  std::string metrics;
  bool check_config = false;

  cli.add_option("--db", cfg.conninfo,
                 "libpq conninfo or postgresql:// URI (multi-host works: replicas, failover)")
      ->envname("LOADNS_DB");
  cli.add_option("--listen", listen,
                 "ADDR:PORT to answer DNS on, UDP and TCP (repeatable); "
                 "default 0.0.0.0:53 and [::]:53")
      ->envname("LOADNS_LISTEN")
      ->delimiter(',')
      ->check(CLI::Validator(check_listen, "ADDR:PORT"));
  cli.add_option("--share-db", cfg.share_conninfo,
                 "where this server shares its answer counts with the zone's other servers "
                 "and reads theirs (loadns.shared_answers): the primary when --db is a standby; "
                 "default --db; 'off' shares nothing")
      ->envname("LOADNS_SHARE_DB");
  cli.add_option("--threads", cfg.threads,
                 "workers, each with its own SO_REUSEPORT sockets: a thread per UDP socket and "
                 "one for TCP")
      ->envname("LOADNS_THREADS")
      ->check(CLI::Range(1u, 256u));
  cli.add_option("--poll-interval", poll, "how often to reload from PostgreSQL without NOTIFY")
      ->envname("LOADNS_POLL_INTERVAL")
      ->check(CLI::Validator(check_duration, "DURATION"));
  cli.add_option("--metrics-listen", metrics,
                 "ADDR:PORT for /metrics, /healthz, /readyz (off when not given)")
      ->envname("LOADNS_METRICS_LISTEN")
      ->check(CLI::Validator(check_listen, "ADDR:PORT"));
  cli.add_option("--log-level", cfg.log_level, "trace, debug, info, warn, error, critical, off")
      ->envname("LOADNS_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  cli.add_flag("--query-log", cfg.query_log, "log every query (costly: for debugging)");
  cli.add_option("--tcp-idle-timeout", idle,
                 "close a TCP connection that sends no complete query for this long")
      ->check(CLI::Validator(check_duration, "DURATION"));
  cli.add_option("--tcp-max-connections", cfg.tcp_max_connections,
                 "open TCP connections at most, over all threads; at the cap a new one closes "
                 "the least recently active idle one, or is refused when none is idle")
      ->check(CLI::Range(1u, 1'000'000u));
  cli.add_flag("--reuse-port-shared", cfg.reuse_port_shared,
               "start even when another process already serves a --listen address, sharing "
               "its queries through SO_REUSEPORT on purpose (by default: refuse to start)");
  cli.add_option("--tcp-max-per-source", cfg.tcp_max_per_source,
                 "open TCP connections at most from one client /24 (IPv6 /56), over all "
                 "threads; 0 is no cap")
      ->check(CLI::Range(0u, 1'000'000u));
  cli.add_option("--tcp-frame-timeout", frame,
                 "close a TCP connection whose query, once begun, is not complete within this")
      ->check(CLI::Validator(check_duration, "DURATION"));
  cli.add_option("--rrl-rate", cfg.rrl_rate,
                 "response rate limiting over UDP: responses per second to one client /24 (IPv6 "
                 "/56) for the same name and rcode; 0 is off. Clients with a valid DNS cookie "
                 "are exempt")
      ->check(CLI::Range(0u, 1'000'000u));
  cli.add_option("--rrl-slip", cfg.rrl_slip,
                 "every Nth response the rate limiter withholds is sent truncated instead (TC), "
                 "so that real clients retry over TCP; 0 never, 1 always")
      ->check(CLI::Range(0u, 100u));
  cli.add_option("--cookie-secret-file", cfg.cookie_secret_file,
                 "file with the DNS cookie secret (32 hex digits; a second line: a secret also "
                 "accepted), the same on every server of a zone; re-read when it changes. "
                 "Default: a random secret per process")
      ->check(CLI::ExistingFile);
  cli.add_option("--state-dir", cfg.state_dir,
                 "folder (it must exist) where the last good snapshot's rows are kept, "
                 "written atomically at most every 5 s when they change; at start, while the "
                 "database is unreachable, the server answers from them. Default: nothing kept")
      ->check(CLI::ExistingDirectory);
  cli.add_flag("--check-config", check_config,
               "validate flags, reach the database, then exit 0 or explain");

  auto* migrate = cli.add_subcommand("migrate", "apply pending schema migrations, then exit");
  migrate->add_option("--db", cfg.conninfo, "libpq conninfo or postgresql:// URI")
      ->envname("LOADNS_DB");

  bind_environment(cli, {"--check-config"});
  if (auto unknown = check_environment(cli, environ); !unknown.empty()) {
    std::cerr << unknown << '\n';
    return {std::nullopt, 2};
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, cli.exit(e) == 0 ? 0 : 2};  // usage errors exit 2, as documented
  }

  cfg.cmd = *migrate ? command::migrate : check_config ? command::check_config : command::serve;
  cfg.poll_interval = *parse_duration(poll);
  cfg.tcp_idle_timeout = *parse_duration(idle);
  cfg.tcp_frame_timeout = *parse_duration(frame);
  if (!metrics.empty()) cfg.metrics_listen = parse_listen_address(metrics);
  if (cfg.share_conninfo.empty()) cfg.share_conninfo = cfg.conninfo;
  if (cfg.share_conninfo == "off") cfg.share_conninfo.clear();
  cfg.default_listen = listen.empty();
  if (cfg.default_listen) listen = {"0.0.0.0:53", "[::]:53"};
  for (const auto& l : listen) cfg.listen.push_back(*parse_listen_address(l));
  if (cfg.conninfo.empty()) {
    std::cerr << "loadns-server: --db (or LOADNS_DB) is required: a libpq conninfo such as "
                 "'host=/run/postgresql dbname=loadns user=loadns_server'\n";
    return {std::nullopt, 2};
  }
  return {cfg, 0};
}

}  // namespace loadns::app
