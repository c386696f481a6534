// report() and backend_status of the second round (migrations/0005): the new columns, their
// defaults and checks; health, a second address and the result of report(); which reports
// notify; when a backend enters service (serving_since); each state in precedence order and
// its reason in words.
#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "tests/integration/db/seeded_database.hpp"
#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;

namespace {

struct fixture : loadns::test::seeded_database {
  /// Runs `sql` in one transaction and says whether b1 entered service in it (serving_since
  /// = that transaction's now()).
  bool enters_service(const std::string& sql) const {
    const auto out = q("BEGIN; " + sql +
                       "; SELECT 'entered:' || (serving_since = now()) FROM loadns.backends "
                       "WHERE name = 'b1'; COMMIT;");
    const auto at = out.rfind("entered:");
    REQUIRE_MESSAGE(at != std::string::npos, out);
    return out.substr(at) == "entered:true";
  }
};

/// A LISTEN loadns_changed session.
struct listener final : pqxx::notification_receiver {
  explicit listener(pqxx::connection& c) : pqxx::notification_receiver(c, "loadns_changed") {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

/// Whether `sql` sends NOTIFY loadns_changed: it runs, then a marker UPDATE of zones commits
/// after it; notifications arrive in commit order, so once the marker is seen everything the
/// statement sent has arrived.
bool notifies(pg_cluster& pg, pqxx::connection& c, listener& l, const std::string& sql) {
  l.payloads.clear();
  pg.psql(sql);
  pg.psql("UPDATE loadns.zones SET ttl = ttl + 1");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < l.payloads.size(); ++i) {
      if (l.payloads[i] == "zones") return i > 0;
    }
    c.await_notification(0, 200'000);
  }
  FAIL("the marker notification did not arrive within 30 s");
  return false;
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "new service and backend columns have their defaults") {
  CHECK(q("SELECT min_serving, on_empty, agent_networks IS NULL, slow_start, rebalance, "
          "shed_rate FROM loadns.services") == "1|fail_open|t|00:00:00|f|50");
  CHECK(q("BEGIN; INSERT INTO loadns.backends (service, name, address) VALUES "
          "('api.example.com', 'manual', '192.0.2.1'); "
          "SELECT agent_healthy IS NULL, agent_check IS NULL, registered_by IS NULL, "
          "second_address IS NULL, serving_since = now() FROM loadns.backends; COMMIT;") ==
        "t|t|t|t|t");
  CHECK(q("SELECT state, reason IS NULL FROM loadns.backend_status") == "serving|t");
}

TEST_CASE_FIXTURE(fixture, "each new check refuses its bad value") {
  q("INSERT INTO loadns.backends (service, name, address) VALUES "
    "('api.example.com', 'b', '192.0.2.1')");
  struct bad {
    const char* sql;
    const char* problem;
  };
  const bad rows[] = {
      {"UPDATE loadns.services SET min_serving = -1", "services_min_serving_range"},
      {"UPDATE loadns.services SET on_empty = 'nxdomain'", "services_on_empty_known"},
      {"UPDATE loadns.services SET agent_networks = '{192.0.2.0/24,NULL}'",
       "services_agent_networks_no_null"},
      {"UPDATE loadns.services SET agent_networks = '{192.0.2.1/24}'", "invalid cidr value"},
      {"UPDATE loadns.services SET slow_start = '-1 s'", "services_slow_start_range"},
      {"UPDATE loadns.services SET shed_rate = 0", "services_shed_rate_positive"},
      {"UPDATE loadns.backends SET second_address = '2001:db8::/64'",
       "backends_second_address_single_host"},
      {"UPDATE loadns.backends SET second_address = '192.0.2.2'",
       "backends_second_address_other_family"},
      {"SELECT loadns.report('api.example.com', 'b', '2001:db8::1', 1, NULL, false, true, NULL, "
       "'2001:db8::2')",
       "backends_second_address_other_family"},
  };
  for (const auto& row : rows) {
    INFO(row.sql);
    const auto err = pg.psql_error(row.sql);
    CHECK_MESSAGE(err.find(row.problem) != std::string::npos, "error was: ", err);
  }
  // Good values of each.
  q("UPDATE loadns.services SET min_serving = 0, on_empty = 'nodata', slow_start = '30 s', "
    "rebalance = true, shed_rate = 10, agent_networks = '{192.0.2.0/24,2001:db8::/32}'");
  q("UPDATE loadns.services SET on_empty = 'servfail'");
  q("UPDATE loadns.backends SET second_address = '2001:db8::1'");
  CHECK(q("SELECT host(address), host(second_address) FROM loadns.backends") ==
        "192.0.2.1|2001:db8::1");
}

TEST_CASE_FIXTURE(fixture,
                  "report: six-argument calls still work; health and detail and a second "
                  "address; returns 0 without rebalance") {
  CHECK(q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, 100, false)") == "0");
  CHECK(q("SELECT loadns.report('api.example.com', 'b2', '192.0.2.11', 5)") == "0");
  CHECK(q("SELECT string_agg(name || ':' || agent_healthy || ':' || (agent_check IS NULL), ',' "
          "ORDER BY name) FROM loadns.backends") == "b1:true:true,b2:true:true");
  CHECK(q("SELECT pg_get_function_result('loadns.report'::regproc)") == "bigint");

  // Unhealthy, in the agent's words (one line, bounded), and a second address.
  CHECK(q("SELECT loadns.report(service => 'api.example.com', name => 'b1', address => "
          "'192.0.2.10', connections => 5, healthy => false, check_detail => "
          "E'listen: nothing listens\\non port 8080', second_address => '2001:db8::10')") == "0");
  CHECK(q("SELECT agent_healthy, agent_check, host(second_address) FROM loadns.backends "
          "WHERE name = 'b1'") == "f|listen: nothing listens on port 8080|2001:db8::10");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, NULL, false, false, "
    "repeat('x', 1000))");
  CHECK(q("SELECT length(agent_check) FROM loadns.backends WHERE name = 'b1'") == "200");
  // Healthy again: the detail goes, and so does the second address it no longer reports.
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, NULL, false, true, "
    "'ignored')");
  CHECK(q("SELECT agent_healthy, agent_check IS NULL, second_address IS NULL FROM "
          "loadns.backends WHERE name = 'b1'") == "t|t|t");
  // The agent's address may be IPv6 with an IPv4 second address.
  q("SELECT loadns.report('api.example.com', 'b2', '2001:db8::11', 5, NULL, false, true, NULL, "
    "'192.0.2.11')");
  CHECK(q("SELECT host(address), host(second_address) FROM loadns.backends WHERE name = 'b2'") ==
        "2001:db8::11|192.0.2.11");
}

TEST_CASE_FIXTURE(fixture,
                  "reports notify on health or draining or addresses or a return from "
                  "stale; plain load reports do not") {
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, 100)");
  pqxx::connection conn(pg.conninfo());
  listener l(conn);
  auto report = [](const std::string& args) {
    return "SELECT loadns.report('api.example.com', 'b1', " + args + ")";
  };
  CHECK_FALSE(notifies(pg, conn, l, report("'192.0.2.10', 6, 100")));
  CHECK_FALSE(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, false, true")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, false, false, 'tcp: refused'")));
  // Still unhealthy, other words: the answers do not change.
  CHECK_FALSE(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, false, false, 'tcp: timeout'")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, false, true")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, true, true")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.10', 7, 200, false, true")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.12', 7, 200, false, true")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.12', 7, 200, false, true, NULL, '2001:db8::12'")));
  CHECK_FALSE(
      notifies(pg, conn, l, report("'192.0.2.12', 8, 200, false, true, NULL, '2001:db8::12'")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.12', 8, 200, false, true, NULL, '2001:db8::13'")));
  CHECK(notifies(pg, conn, l, report("'192.0.2.12', 8, 200, false, true")));
  // Back from stale: it enters service again, which the servers should see at once.
  q("UPDATE loadns.backends SET reported_at = now() - interval '1 minute'");
  CHECK(notifies(pg, conn, l, report("'192.0.2.12', 8, 200")));
}

TEST_CASE_FIXTURE(fixture,
                  "serving_since: first report or enabled or undrained or healthy "
                  "again or back from stale; not on load reports") {
  auto report = [](const std::string& args) {
    return "SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', " + args + ")";
  };
  CHECK(enters_service(report("1")));  // first report: registration
  CHECK_FALSE(enters_service(report("2")));
  CHECK_FALSE(enters_service(report("3, 100, false, true")));

  // An operator's row enters service at insertion, and again at its agent's first report.
  q("DELETE FROM loadns.backends");
  CHECK(
      enters_service("INSERT INTO loadns.backends (service, name, address) VALUES "
                     "('api.example.com', 'b1', '192.0.2.10')"));
  q("UPDATE loadns.backends SET serving_since = now() - interval '1 hour'");
  CHECK(enters_service(report("1")));

  // Operator: disabled, then enabled again; drained, then undrained.
  CHECK_FALSE(enters_service("UPDATE loadns.backends SET enabled = false"));
  CHECK_FALSE(enters_service(report("1")));  // a disabled backend's reports change nothing
  CHECK(enters_service("UPDATE loadns.backends SET enabled = true"));
  CHECK_FALSE(enters_service("UPDATE loadns.backends SET draining = true"));
  CHECK(enters_service("UPDATE loadns.backends SET draining = false"));
  CHECK_FALSE(enters_service("UPDATE loadns.backends SET weight = 2, capacity = 10"));
  // Disabled and draining: enabling alone does not bring it in, undraining then does.
  q("UPDATE loadns.backends SET enabled = false, draining = true");
  CHECK_FALSE(enters_service("UPDATE loadns.backends SET enabled = true"));
  CHECK(enters_service("UPDATE loadns.backends SET draining = false"));

  // The agent: its own draining, its health.
  CHECK_FALSE(enters_service(report("1, NULL, true")));
  CHECK(enters_service(report("1, NULL, false")));
  CHECK_FALSE(enters_service(report("1, NULL, false, false, 'listen: down'")));
  CHECK_FALSE(enters_service(report("1, NULL, false, false, 'listen: still down'")));
  CHECK(enters_service(report("1, NULL, false, true")));

  // Back from stale, judged with the service's stale_after when the report comes: 30 min
  // without a report is not stale under a stale_after of 1 hour, but is under 10 minutes.
  q("UPDATE loadns.services SET stale_after = '1 hour'");
  q("UPDATE loadns.backends SET reported_at = now() - interval '30 minutes'");
  CHECK_FALSE(enters_service(report("1")));
  q("UPDATE loadns.backends SET reported_at = now() - interval '30 minutes'");
  q("UPDATE loadns.services SET stale_after = '10 minutes'");
  CHECK(enters_service(report("1")));
  CHECK_FALSE(enters_service(report("1")));

  // An operator may set it (e.g. to skip a slow start).
  CHECK(q("BEGIN; UPDATE loadns.backends SET enabled = false; UPDATE loadns.backends SET "
          "enabled = true, serving_since = '2000-01-01Z'; SELECT serving_since = "
          "'2000-01-01Z' FROM loadns.backends; COMMIT;") == "t");
}

TEST_CASE_FIXTURE(fixture, "backend_status: each state in precedence order with its reason") {
  // Long enough that no row goes stale while the test runs on a busy machine.
  q("UPDATE loadns.services SET stale_after = '1 hour'");
  auto add = [&](const std::string& name, const std::string& sql) {
    q("SELECT loadns.report('api.example.com', '" + name + "', '192.0.2.10', 10, 100)");
    if (!sql.empty()) q("UPDATE loadns.backends SET " + sql + " WHERE name = '" + name + "'");
  };
  add("serving", "");
  add("full", "connections = 100");
  add("full-by-operator", "capacity = 10");
  add("unhealthy", "agent_healthy = false, agent_check = 'http: 503 Service Unavailable'");
  add("unhealthy-silent", "agent_healthy = false");
  add("unhealthy-and-full",
      "agent_healthy = false, agent_check = 'exec: exit 1', connections = 100");
  add("stale", "reported_at = '2026-01-02 03:04:05.678Z'");
  add("stale-and-unhealthy", "reported_at = '2026-01-02 03:04:05Z', agent_healthy = false");
  add("draining-operator", "draining = true");
  add("draining-agent", "agent_draining = true");
  add("draining-both", "draining = true, agent_draining = true");
  add("draining-and-stale", "draining = true, reported_at = '2026-01-02 03:04:05Z'");
  add("disabled", "enabled = false");
  add("disabled-and-draining", "enabled = false, draining = true, agent_healthy = false");
  q("INSERT INTO loadns.backends (service, name, address) VALUES "
    "('api.example.com', 'no-agent', '192.0.2.20')");
  // Shown in UTC whatever the session's time zone.
  CHECK(q("SET TIME ZONE 'America/New_York'; SELECT name || ' | ' || state || ' | ' || "
          "coalesce(reason, '-') FROM loadns.backend_status ORDER BY id") ==
        "serving | serving | -\n"
        "full | full | full at 100 of 100 connections\n"
        "full-by-operator | full | full at 10 of 10 connections\n"
        "unhealthy | unhealthy | unhealthy: http: 503 Service Unavailable\n"
        "unhealthy-silent | unhealthy | unhealthy: its agent gave no detail\n"
        "unhealthy-and-full | unhealthy | unhealthy: exec: exit 1\n"
        "stale | stale | stale since 2026-01-02 03:04:05 UTC\n"
        "stale-and-unhealthy | stale | stale since 2026-01-02 03:04:05 UTC\n"
        "draining-operator | draining | draining by an operator\n"
        "draining-agent | draining | draining by its agent\n"
        "draining-both | draining | draining by an operator and by its agent\n"
        "draining-and-stale | draining | draining by an operator\n"
        "disabled | disabled | disabled by an operator\n"
        "disabled-and-draining | disabled | disabled by an operator\n"
        "no-agent | serving | -");
  CHECK(q("SELECT host(second_address) IS NULL, agent_healthy, serving_since IS NOT NULL, "
          "registered_by IS NULL FROM loadns.backend_status WHERE name = 'unhealthy'") ==
        "t|f|t|t");
}
