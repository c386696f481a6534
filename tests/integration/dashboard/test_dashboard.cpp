// The Grafana dashboard (deploy/grafana/loadns.json) against live data: a private PostgreSQL,
// the real loadns-server answering queries over UDP and TCP, Debian's real Prometheus scraping
// it every 250 ms, and every expression of the dashboard evaluated through Prometheus's HTTP
// API. An expression that Prometheus refuses, or that returns no series, is a panel that
// would show an error or "No data" to an operator.

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/dashboard/dashboard.hpp"
#include "tests/integration/dashboard/prometheus.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace loadns::test {
namespace {

using namespace std::chrono_literals;

const char* const seed_sql = R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', ARRAY['ns1.example.com']);
INSERT INTO loadns.records (name, type, ttl, data) VALUES ('ns1.example.com', 'A', 3600, '192.0.2.53');
INSERT INTO loadns.services (name) VALUES ('api.example.com');
SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 10, 100);
SELECT loadns.report('api.example.com', 'b2', '192.0.2.11', 30, 100);
SELECT loadns.report('api.example.com', 'b3', '192.0.2.12', 20, 50);
)sql";

/// Queries of every kind the dashboard splits by: both transports, several rcodes and types.
void send_traffic(std::uint16_t port) {
  struct q {
    const char* name;
    std::uint16_t type;
  };
  const q queries[] = {
      {"api.example.com", rr_type::a},    {"k3j9xq2m4t7a-api.example.com", rr_type::a},
      {"api.example.com", rr_type::aaaa}, {"example.com", rr_type::soa},
      {"nope.example.com", rr_type::a},   {"example.org", rr_type::a}};
  std::uint16_t id = 1;
  for (const auto t : both_transports) {
    for (int round = 0; round < 3; ++round) {
      for (const auto& query : queries) {
        query_spec spec;
        spec.id = id++;
        spec.name = query.name;
        spec.type = query.type;
        REQUIRE_MESSAGE(exchange(port, t, make_query(spec)).has_value(),
                        "no answer over " << to_string(t) << " for " << query.name);
      }
    }
  }
}

TEST_CASE("every expression of deploy/grafana/loadns.json returns series from a scraped server") {
  const auto board = dashboard::load(LOADNS_DASHBOARD_JSON);
  REQUIRE(board.title == "loadns");
  REQUIRE(board.expressions.size() >= 30);

  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(seed_sql);
  server_options options;
  options.binary = server_binary(LOADNS_SERVER_BINARY);
  options.conninfo = pg.conninfo("loadns", "server");
  server_process server(options);
  send_traffic(server.port());

  prometheus_process prometheus(*prometheus_process::find_binary(),
                                {"127.0.0.1:" + std::to_string(server.metrics_port())}, 250ms);
  // Enough scrapes that every rate() over the test's $__rate_interval has two samples or more.
  const bool scraped = eventually(
      60s,
      [&] {
        return prometheus.query(R"(count_over_time(up{job="loadns"}[1m]) >= 8)").series == 1 &&
               prometheus.query(R"(up{job="loadns"} == 1)").series == 1;
      },
      100ms);
  REQUIRE_MESSAGE(scraped, "Prometheus did not scrape loadns-server 8 times; its log:\n"
                               << prometheus.log_tail() << "\nserver log:\n"
                               << server.log_tail());
  // Queries after the first scrapes, so that rates are above zero too, and a new report, so
  // that the prediction-error panels show an observation rather than an empty histogram.
  send_traffic(server.port());
  pg.psql("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 12, 100)");
  const bool observed = eventually(
      30s,
      [&] {
        return prometheus.query(R"(loadns_prediction_error_count{service="api.example.com"} > 0)")
                   .series == 1;
      },
      100ms);
  CHECK_MESSAGE(observed, "no prediction error observed for b1's new report; server log:\n"
                              << server.log_tail());

  // What the server exports now, by name.
  std::set<std::string> exported;
  {
    const auto r = prometheus.query(R"(count by (__name__) ({__name__=~"loadns_.+"}))");
    REQUIRE_MESSAGE(r.ok, r.error);
    for (const auto& labels : r.labels) exported.insert(labels.at("__name__"));
  }
  REQUIRE(exported.count("loadns_queries_total") == 1);

  const auto expand = [&](std::string_view expr) {
    return dashboard::expand(expr, board.variable_names, "10s");
  };

  // Every metric the dashboard names is exported: a misspelt name fails here rather than as
  // a panel that stays empty.
  {
    std::set<std::string> named;
    for (const auto& e : board.expressions) named.merge(dashboard::metric_names(e.expr));
    for (const auto& v : board.variables) named.merge(dashboard::metric_names(v.selector));
    for (const auto& name : named) {
      CHECK_MESSAGE(exported.count(name) == 1, name << " is not exported by loadns-server");
    }
  }

  // Every template variable has values.
  {
    REQUIRE_FALSE(board.variables.empty());
    for (const auto& v : board.variables) {
      const auto r = prometheus.query(expand(v.selector));
      CHECK_MESSAGE(r.ok, "$" << v.name << ": " << r.error);
      bool has_label = false;
      for (const auto& labels : r.labels) has_label = has_label || labels.count(v.label) == 1;
      CHECK_MESSAGE(has_label,
                    "$" << v.name << ": no series of " << v.selector << " carries " << v.label);
    }
  }

  // Every panel's query evaluates without error and returns series (a panel without
  // series would show "No data").
  for (const auto& e : board.expressions) {
    const std::string query = expand(e.expr);
    const auto r = prometheus.query(query);
    INFO("panel '" << e.panel << "' query " << e.ref_id << ": " << query);
    CHECK_MESSAGE(r.ok, r.error);
    if (r.ok) CHECK_MESSAGE(r.series > 0, "no series; response: " << r.body);
  }
}

}  // namespace
}  // namespace loadns::test
