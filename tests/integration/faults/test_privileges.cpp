// What a compromised or buggy agent can do with its login role (member of loadns_agent): only
// report, and only for its own backend. tests/integration/db/test_schema.cpp covers SELECT on
// backends/zones/backend_status, UPDATE of enabled/capacity, INSERT, DELETE and next_serial();
// tests/integration/db/test_agent_grants.cpp each refusal of report(). This adds the rest of
// the tables, the other operator columns, DDL, role switching, report() run as the agent on an
// operator-managed backend (refused until handed over), per-host logins against a running
// server, and the real agent binary under granted and ungranted logins.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

struct fixture {
  pg_cluster pg;
  fixture() {
    pg.create_loadns_database();
    pg.psql(seed_sql);
    pg.psql(
        "INSERT INTO loadns.backends (service, name, address, capacity, weight) "
        "VALUES ('api.example.com', 'other', '192.0.2.12', 100, 3)");
  }
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "an agent cannot read loadns tables nor touch operator columns") {
  for (const std::string sql : {
           "SELECT * FROM loadns.services",
           "SELECT * FROM loadns.records",
           "SELECT * FROM loadns.schema_migrations",
           "SELECT address FROM loadns.backends WHERE name = 'other'",
           "COPY loadns.backends TO STDOUT",
           "UPDATE loadns.backends SET weight = 1000 WHERE name = 'other'",
           "UPDATE loadns.backends SET draining = true WHERE name = 'other'",
           "UPDATE loadns.backends SET enabled = false WHERE name = 'other'",
           "UPDATE loadns.backends SET capacity = 1 WHERE name = 'other'",
           "UPDATE loadns.backends SET connections = 0 WHERE name = 'other'",
           "TRUNCATE loadns.backends",
           "CREATE TABLE loadns.mine (x int)",
           "CREATE FUNCTION loadns.report(text) RETURNS void LANGUAGE sql AS ''",
           "SELECT loadns.enclosing_zone('api.example.com')",
           "SET ROLE loadns_server",
           "SET ROLE postgres",
       }) {
    INFO(sql);
    const auto err = pg.psql_error(sql, "agent");
    CHECK_MESSAGE((err.find("permission denied") != std::string::npos ||
                   err.find("must be member of role") != std::string::npos),
                  err);
  }
  CHECK(pg.psql("SELECT enabled, draining, capacity, weight FROM loadns.backends "
                "WHERE name = 'other'") == "t|f|100|3");
}

TEST_CASE_FIXTURE(fixture,
                  "report() run as the agent cannot take over an operator's backend until it "
                  "is handed over, then keeps operator settings") {
  pg.psql(
      "UPDATE loadns.backends SET enabled = false, draining = true, capacity = 50, "
      "weight = 2 WHERE name = 'other'");
  const auto row = [&] {
    return pg.psql(
        "SELECT host(address), enabled, draining, capacity, weight, agent_capacity, "
        "connections, reported_at IS NULL FROM loadns.backends WHERE name = 'other'");
  };
  const auto before = row();
  // The hole this test used to show: any agent login could report for an operator's row
  // (repoint it, drain it, call it empty). Now the row is the operator's until handed over.
  for (const std::string sql : {
           "SELECT loadns.report('api.example.com', 'other', '192.0.2.99', 0, 500, false)",
           "SELECT loadns.report('api.example.com', 'other', '192.0.2.12', 7, 500, true)",
       }) {
    INFO(sql);
    const auto err = pg.psql_error("\\set VERBOSITY verbose\n" + sql, "agent");
    CHECK_MESSAGE(err.find("42501") != std::string::npos, err);
    CHECK_MESSAGE(err.find("is an operator's row") != std::string::npos, err);
  }
  CHECK(row() == before);

  pg.psql("UPDATE loadns.backends SET registered_by = 'agent' WHERE name = 'other'");
  CHECK(
      pg.psql_error("SELECT loadns.report('api.example.com', 'other', '192.0.2.12', 7, 500, false)",
                    "agent")
          .empty());
  CHECK(pg.psql("SELECT enabled, draining, capacity, weight, agent_capacity, connections "
                "FROM loadns.backends WHERE name = 'other'") == "f|t|50|2|500|7");
  CHECK(pg.psql("SELECT state FROM loadns.backend_status WHERE name = 'other'") == "disabled");
  // An address must be one host: a network would send clients anywhere in it.
  CHECK(pg.psql_error(
              "SELECT loadns.report('api.example.com', 'other', '192.0.2.0/24', 7, 500, false)",
              "agent")
            .find("backends_address_single_host") != std::string::npos);
  CHECK(pg.psql("SELECT host(address) FROM loadns.backends WHERE name = 'other'") == "192.0.2.12");
}

TEST_CASE_FIXTURE(fixture,
                  "per-host logins: a granted login registers and is served, one without a "
                  "grant or speaking for another's row is refused and never served") {
  pg.psql(
      "CREATE ROLE web1 LOGIN IN ROLE loadns_agent; CREATE ROLE web2 LOGIN IN ROLE loadns_agent;"
      "INSERT INTO loadns.agent_grants (login, service) VALUES ('web1', 'api.example.com');"
      "UPDATE loadns.services SET answers = 16");
  server_process server(server_options_for(pg.conninfo("loadns", "server")));
  const auto served = [&](const std::string& address) {
    const auto a = addresses(server.port(), "api.example.com");
    return a && std::find(a->begin(), a->end(), address) != a->end();
  };
  CHECK(
      pg.psql_error("SELECT loadns.report('api.example.com', 'web2', '192.0.2.22', 0, 100)", "web2")
          .find("has no grant") != std::string::npos);
  CHECK(pg.psql("SELECT loadns.report('api.example.com', 'web1', '192.0.2.21', 0, 100)", "loadns",
                "web1") == "0");
  REQUIRE(eventually(5s, [&] { return served("192.0.2.21"); }));
  pg.psql("INSERT INTO loadns.agent_grants (login, service) VALUES ('web2', 'api.example.com')");
  CHECK(pg.psql_error("SELECT loadns.report('api.example.com', 'web1', '192.0.2.22', 0, 100, "
                      "true)",
                      "web2")
            .find("registered by another login") != std::string::npos);
  // The refused drain changed nothing: web1 is still served, web2's address never was.
  const auto polls = metric(server.metrics_port(), "loadns_polls_total").value_or(0);
  REQUIRE(eventually(5s, [&] {
    return metric(server.metrics_port(), "loadns_polls_total").value_or(0) >= polls + 2;
  }));
  CHECK(served("192.0.2.21"));
  CHECK_FALSE(served("192.0.2.22"));
  CHECK(pg.psql("SELECT registered_by, agent_draining FROM loadns.backends WHERE name = 'web1'") ==
        "web1|f");
}

TEST_CASE_FIXTURE(fixture, "the real loadns-agent under a per-host granted login, end to end") {
  pg.psql(
      "CREATE ROLE web1 LOGIN IN ROLE loadns_agent; CREATE ROLE web2 LOGIN IN ROLE loadns_agent;"
      "INSERT INTO loadns.agent_grants (login, service) VALUES ('web1', 'api.example.com');"
      "UPDATE loadns.services SET answers = 16");
  server_process server(server_options_for(pg.conninfo("loadns", "server")));
  // Nothing listens on the agents' ports: --check none keeps web1 healthy (the default listen
  // check would report it unhealthy and the server would leave it out).
  agent_process web1({"--db", pg.conninfo("loadns", "web1"), "--service", "api.example.com",
                      "--address", "192.0.2.21", "--port", std::to_string(free_port()), "--name",
                      "web1", "--interval", "300ms", "--capacity", "100", "--check", "none"});
  // web2 has no grant: its agent is refused at every report and its backend never appears.
  agent_process web2({"--db", pg.conninfo("loadns", "web2"), "--service", "api.example.com",
                      "--address", "192.0.2.22", "--port", std::to_string(free_port()), "--name",
                      "web2", "--interval", "300ms", "--capacity", "100", "--check", "none"});
  REQUIRE_MESSAGE(eventually(10s,
                             [&] {
                               return pg.psql(
                                          "SELECT registered_by || ':' || agent_capacity "
                                          "FROM loadns.backends WHERE name = 'web1'") == "web1:100";
                             }),
                  web1.log());
  REQUIRE(eventually(5s, [&] {
    const auto a = addresses(server.port(), "api.example.com");
    return a && std::find(a->begin(), a->end(), "192.0.2.21") != a->end();
  }));
  REQUIRE_MESSAGE(
      eventually(10s, [&] { return web2.log().find("has no grant") != std::string::npos; }),
      web2.log());
  CHECK(pg.psql("SELECT count(*) FROM loadns.backends WHERE name = 'web2'") == "0");
  const auto a = addresses(server.port(), "api.example.com");
  REQUIRE(a.has_value());
  CHECK(std::find(a->begin(), a->end(), "192.0.2.22") == a->end());
}

TEST_CASE_FIXTURE(fixture,
                  "a running agent of a backend the operator disabled does not bring "
                  "it back into answers") {
  pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'b1'");
  server_process server(server_options_for(pg.conninfo("loadns", "server")));
  agent_process agent({"--db", pg.conninfo("loadns", "agent"), "--service", "api.example.com",
                       "--address", "192.0.2.10", "--port", std::to_string(free_port()), "--name",
                       "b1", "--interval", "300ms", "--capacity", "1000", "--check", "none"});
  const std::string first = pg.psql("SELECT now()");
  // Two reports after the server is up, each polled.
  REQUIRE_MESSAGE(eventually(10s,
                             [&] {
                               return pg.psql("SELECT reported_at > '" + first +
                                              "'::timestamptz + interval '700 ms' FROM "
                                              "loadns.backends WHERE name = 'b1'") == "t";
                             }),
                  agent.log());
  const auto polls = metric(server.metrics_port(), "loadns_polls_total").value_or(0);
  REQUIRE(eventually(5s, [&] {
    return metric(server.metrics_port(), "loadns_polls_total").value_or(0) >= polls + 2;
  }));
  int b1_answers = 0;
  for (int i = 0; i < 50; ++i) {
    const auto a = addresses(server.port(), "api.example.com");
    REQUIRE(a.has_value());
    if (*a == std::vector<std::string>{"192.0.2.10"}) ++b1_answers;
  }
  std::printf("disabled backend with a live agent: %d of 50 answers named it; row: %s\n",
              b1_answers,
              pg.psql("SELECT enabled || '|' || coalesce(agent_capacity::text, '') FROM "
                      "loadns.backends WHERE name = 'b1'")
                  .c_str());
  CHECK(b1_answers == 0);
  CHECK(pg.psql("SELECT enabled, agent_capacity FROM loadns.backends WHERE name = 'b1'") ==
        "f|1000");
}
