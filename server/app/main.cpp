// loadns-server: the authoritative DNS balancer, and `loadns-server migrate`.

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <exception>
#include <optional>

#include "common/conninfo.hpp"
#include "server/app/address_probe.hpp"
#include "server/app/config.hpp"
#include "server/app/cookie_secret_file.hpp"
#include "server/app/fd_limit.hpp"
#include "server/app/logging.hpp"
#include "server/core/answer_counter.hpp"
#include "server/core/snapshot_holder.hpp"
#include "server/db/migrate.hpp"
#include "server/db/refresher.hpp"
#include "server/db/sharer.hpp"
#include "server/metrics/collector.hpp"
#include "server/metrics/http_server.hpp"
#include "server/net/server.hpp"

namespace {

using namespace loadns;
namespace asio = boost::asio;

int run_migrate(const app::server_config& cfg) {
  // db::migrate logs each migration it applies.
  if (db::migrate(cfg.conninfo).applied.empty()) spdlog::info("schema is up to date");
  return EXIT_SUCCESS;
}

int run_check_config(const app::server_config& cfg) {
  db::check_connection(cfg.conninfo);
  spdlog::info("configuration is valid and the database {} is reachable and migrated",
               redact_conninfo(cfg.conninfo));
  return EXIT_SUCCESS;
}

net::options network_options(const app::server_config& cfg) {
  net::options opts;
  for (const auto& l : cfg.listen) {
    opts.listen.emplace_back(asio::ip::make_address(l.host), l.port);
  }
  opts.threads = cfg.threads;
  opts.tcp_idle_timeout = cfg.tcp_idle_timeout;
  opts.tcp_max_connections = cfg.tcp_max_connections;
  opts.query_log = cfg.query_log;
  opts.tcp_max_per_source = cfg.tcp_max_per_source;
  opts.tcp_frame_timeout = cfg.tcp_frame_timeout;
  opts.rrl_rate = cfg.rrl_rate;
  opts.rrl_slip = cfg.rrl_slip;
  return opts;
}

int run_server(const app::server_config& cfg) {
  // Every thread started from here on inherits this mask, so the signals reach sigwait below
  // and nothing else. SIGHUP, which operators and logrotate hooks send out of habit, reloads
  // from the database instead of ending the process (its default action).
  sigset_t handled_signals;
  sigemptyset(&handled_signals);
  sigaddset(&handled_signals, SIGTERM);
  sigaddset(&handled_signals, SIGINT);
  sigaddset(&handled_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &handled_signals, nullptr);
  // A peer that closes a TCP or metrics connection mid-write must cost an EPIPE, not the
  // process (writes that do not pass MSG_NOSIGNAL would otherwise raise SIGPIPE).
  ::signal(SIGPIPE, SIG_IGN);

  std::string listening;
  for (const auto& l : cfg.listen) listening += (listening.empty() ? "" : ", ") + l.to_string();
  spdlog::info(
      "loadns-server {} starting: database {}, listening on {} with {} thread(s), "
      "poll interval {} ms",
      LOADNS_VERSION, redact_conninfo(cfg.conninfo), listening, cfg.threads,
      cfg.poll_interval.count());

  // A second server on a served address would split its queries in silence (SO_REUSEPORT).
  if (!cfg.reuse_port_shared) {
    for (const auto& l : cfg.listen) {
      if (auto busy = app::address_in_use(l)) {
        spdlog::critical(
            "{}. Stop that process, choose another --listen, or pass --reuse-port-shared to "
            "share the address on purpose",
            *busy);
        return EXIT_FAILURE;
      }
    }
  }

  // Before any socket opens: every TCP connection holds a descriptor.
  app::raise_fd_limit(app::descriptors_needed(cfg));

  // DNS cookies (RFC 7873) are always answered; with a secret file every server of a zone
  // accepts the others' cookies (RFC 9018), and a changed file is picked up within a second.
  guard::cookie_secrets cookie_secrets(cfg.cookie_secret_file.empty()
                                           ? app::random_cookie_keys()
                                           : app::read_cookie_secret_file(cfg.cookie_secret_file));
  std::optional<app::cookie_secret_watcher> cookie_watcher;
  if (!cfg.cookie_secret_file.empty()) {
    cookie_watcher.emplace(cfg.cookie_secret_file, cookie_secrets, std::chrono::seconds(1));
  }
  if (cfg.rrl_rate > 0) {
    spdlog::info(
        "response rate limiting: {} responses per second per client network and "
        "answer, every {} withheld one sent truncated",
        cfg.rrl_rate, cfg.rrl_slip);
  }

  core::snapshot_holder snapshots;
  core::counter_registry counters;
  auto dns_options = network_options(cfg);
  dns_options.cookies = &cookie_secrets;
  net::server dns(std::move(dns_options), snapshots);
  dns.start(cfg.default_listen);

  db::refresher_options database;
  database.conninfo = cfg.conninfo;
  database.poll_interval = cfg.poll_interval;
  database.state_dir = cfg.state_dir;
  db::refresher refresher(std::move(database), snapshots, counters);
  // The other nameservers' answers count in this one's predictions (server/db/sharer.hpp).
  std::optional<db::sharer> sharer;
  if (!cfg.share_conninfo.empty()) {
    db::sharer_options share;
    share.conninfo = cfg.share_conninfo;
    sharer.emplace(std::move(share), snapshots);
  }
  std::optional<metrics::http_server> metrics_endpoint;
  if (cfg.metrics_listen) {
    const metrics::sources sources{dns, snapshots, refresher.stats(),
                                   sharer ? &sharer->stats() : nullptr};
    metrics_endpoint.emplace(
        asio::ip::tcp::endpoint(asio::ip::make_address(cfg.metrics_listen->host),
                                cfg.metrics_listen->port),
        metrics::http_server::handlers{[sources] { return metrics::render(sources); },
                                       [&snapshots] { return snapshots.generation() > 0; }});
    spdlog::info("metrics on http://{}/metrics", cfg.metrics_listen->to_string());
  }
  // Queries get SERVFAIL until the first snapshot arrives; never block them on the database.
  refresher.start();
  if (sharer) sharer->start();

  int sig = 0;
  for (;;) {
    sigwait(&handled_signals, &sig);
    if (sig != SIGHUP) break;
    spdlog::info("received SIGHUP, reloading from the database");
    refresher.request_poll();
  }
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  if (metrics_endpoint) metrics_endpoint->stop();
  dns.stop();
  if (sharer) sharer->stop();
  refresher.stop();
  spdlog::info("stopped");
  return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = app::parse_command_line(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const auto& cfg = *parsed.config;
  try {
    app::setup_logging(cfg.log_level);
    switch (cfg.cmd) {
      case app::command::migrate:
        return run_migrate(cfg);
      case app::command::check_config:
        return run_check_config(cfg);
      case app::command::serve:
        return run_server(cfg);
    }
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
  }
  return EXIT_FAILURE;
}
