// What a compromised or buggy agent can do with its login role (member of loadns_agent): only
// report. tests/integration/db/test_schema.cpp covers SELECT on backends/zones/backend_status,
// UPDATE of enabled/capacity, INSERT, DELETE and next_serial(); this adds the rest of the
// tables, the other operator columns, DDL, role switching, report() run as the agent itself on
// an operator-managed backend, and the real agent binary against a server.

#include <doctest/doctest.h>

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
                  "report() run as the agent keeps operator settings and refuses a "
                  "network for an address") {
  pg.psql(
      "UPDATE loadns.backends SET enabled = false, draining = true, capacity = 50, "
      "weight = 2 WHERE name = 'other'");
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
                  "a running agent of a backend the operator disabled does not bring "
                  "it back into answers") {
  pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'b1'");
  server_process server(server_options_for(pg.conninfo("loadns", "server")));
  agent_process agent({"--db", pg.conninfo("loadns", "agent"), "--service", "api.example.com",
                       "--address", "192.0.2.10", "--port", std::to_string(free_port()), "--name",
                       "b1", "--interval", "300ms", "--capacity", "1000"});
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
