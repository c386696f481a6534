// PostgreSQL streaming replication (README, "Several servers, one PostgreSQL"): the server reads a
// hot standby through a multi-host conninfo with target_session_attrs=prefer-standby, the agent and
// the operator write the primary. A change on the primary is served via the standby by the poll
// (NOTIFY does not cross to a standby); stopping the standby moves the server to the primary
// without one failed answer. A server reading the standby shares its answer counts through
// --share-db on the primary, with a server that reads the primary.

#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

using addrs = std::vector<std::string>;

}  // namespace

TEST_CASE(
    "the server reads a standby and follows the primary's changes and fails over to the "
    "primary without a failed answer") {
  pg_cluster primary;
  primary.create_loadns_database();
  primary.psql(seed_sql);
  standby_cluster standby(primary);
  REQUIRE(standby.psql("SELECT pg_is_in_recovery()") == "t");
  REQUIRE(
      eventually(10s, [&] { return standby.psql("SELECT count(*) FROM loadns.backends") == "1"; }));

  const std::string hosts = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(standby.port()) +
                            "," + std::to_string(primary.port()) + " dbname=loadns";
  server_process server(
      server_options_for(hosts + " user=server target_session_attrs=prefer-standby"));
  const std::string on_standby = "127.0.0.1:" + std::to_string(standby.port());
  const std::string on_primary = "127.0.0.1:" + std::to_string(primary.port());
  CHECK_MESSAGE(server.log().find("database connected (" + on_standby) != std::string::npos,
                server.log_tail());

  // The agent is given the same two hosts, standby first, and finds the writable one.
  agent_process agent({"--db", hosts + " user=agent target_session_attrs=read-write", "--service",
                       "api.example.com", "--address", "192.0.2.10", "--port",
                       std::to_string(free_port()), "--name", "b1", "--interval", "300ms",
                       "--check", "none"});
  const bool agent_reports_via_standby = eventually(10s, [&] {
    return standby.psql(
               "SELECT reported_at IS NOT NULL FROM loadns.backends "
               "WHERE name = 'b1'") == "t";
  });
  CHECK_MESSAGE(agent_reports_via_standby, agent.log());

  query_load load(server.port(), "api.example.com", transport::udp, 5ms);
  REQUIRE(eventually(5s, [&] { return load.counts().answered > 10; }));

  // An operator change on the primary reaches the server through the standby.
  const auto t_change = steady::now();
  primary.psql(
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('api.example.com', 'b2', '192.0.2.11');"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b1';");
  const bool via_standby = eventually(
      10s, [&] { return addresses(server.port(), "api.example.com") == addrs{"192.0.2.11"}; });
  const double via_standby_after = seconds_since(t_change);

  // Stop the standby under load: the server moves to the primary.
  const auto before_failover = load.counts();
  load.reset_gap();
  const auto t_stop = steady::now();
  standby.stop();
  const bool moved = eventually(20s, [&] {
    return server.log().find("database connection resumed") != std::string::npos &&
           metric(server.metrics_port(), "loadns_database_up").value_or(0) == 1;
  });
  const double moved_after = seconds_since(t_stop);
  // The window counted covers the move and at least 100 queries after it started.
  REQUIRE(eventually(10s, [&] { return load.counts().sent >= before_failover.sent + 100; }));
  const auto failover = load.counts() - before_failover;
  const auto failover_gap = load.counts().longest_gap;

  // Now on the primary: a change is served again (by NOTIFY, at once).
  const auto t_change2 = steady::now();
  primary.psql(
      "UPDATE loadns.backends SET enabled = true WHERE name = 'b1';"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b2';");
  const bool via_primary = eventually(
      10s, [&] { return addresses(server.port(), "api.example.com") == addrs{"192.0.2.10"}; });
  const double via_primary_after = seconds_since(t_change2);
  load.stop();
  const auto total = load.counts();

  const auto log = server.log();
  std::printf("replication: server on the standby (%s), agent on the primary (%s)\n",
              on_standby.c_str(), on_primary.c_str());
  std::printf("  primary change served via the standby (poll 1 s) in %.2f s\n", via_standby_after);
  std::printf(
      "  standby stopped: server on the primary after %.2f s; during the failover %llu "
      "of %llu queries answered, %llu failed, longest gap %lld ms\n",
      moved_after, static_cast<unsigned long long>(failover.answered),
      static_cast<unsigned long long>(failover.sent),
      static_cast<unsigned long long>(failover.failed),
      static_cast<long long>(failover_gap.count()));
  std::printf(
      "  primary change served directly in %.2f s; whole run %llu of %llu answered, "
      "%llu failed\n",
      via_primary_after, static_cast<unsigned long long>(total.answered),
      static_cast<unsigned long long>(total.sent), static_cast<unsigned long long>(total.failed));

  CHECK(via_standby);
  CHECK(via_standby_after < 5.0);
  CHECK(moved);
  CHECK_MESSAGE(log.find("database connection resumed") != std::string::npos, log);
  CHECK_MESSAGE(log.find(on_primary + ")") != std::string::npos, log);
  CHECK(failover.sent >= 100);
  CHECK(failover.failed == 0);
  CHECK(via_primary);
  CHECK(via_primary_after < 3.0);
  CHECK(total.failed == 0);
  CHECK(agent.running());
  CHECK(server.running());
}

TEST_CASE("a server reading a standby shares its answer counts through --share-db on the primary") {
  pg_cluster primary;
  primary.create_loadns_database();
  primary.psql(seed_sql);
  // Eight operator backends without agents: their load is counted from answers alone.
  primary.psql(
      "INSERT INTO loadns.services (name) VALUES ('pool.example.com');"
      "INSERT INTO loadns.backends (service, name, address) SELECT 'pool.example.com', 'p' || i, "
      "('192.0.2.' || (100 + i))::inet FROM generate_series(1, 8) AS i;");
  standby_cluster standby(primary);
  REQUIRE(eventually(10s, [&] {
    return standby.psql(
               "SELECT count(*) FROM loadns.backends WHERE service = 'pool.example.com'") == "8";
  }));

  // The reader takes its snapshots from the standby (which is read-only) and writes and reads
  // the shared counts on the primary; the other server uses the primary for both.
  const std::string on_primary = primary.conninfo("loadns", "server");
  auto reader_options = server_options_for("host=127.0.0.1 port=" + std::to_string(standby.port()) +
                                           " dbname=loadns user=server");
  reader_options.threads = 1;
  reader_options.extra_args = {"--share-db", on_primary};
  server_process reader(reader_options);
  auto other_options = server_options_for(on_primary);
  other_options.threads = 1;
  server_process other(other_options);
  CHECK_MESSAGE(reader.log().find("database connected (127.0.0.1:" +
                                  std::to_string(standby.port())) != std::string::npos,
                reader.log_tail());

  const auto first = [](const server_process& s, int n) {
    const auto a = addresses(s.port(), "q" + std::to_string(n) + ".pool.example.com");
    REQUIRE(a.has_value());
    REQUIRE(a->size() == 1);
    return a->front();
  };
  // The reader answers seven queries: seven different backends, leaving one with the least
  // load. Once the other server has read those seven answers, it must pick that one.
  std::set<std::string> by_reader;
  for (int i = 0; i < 7; ++i) by_reader.insert(first(reader, i));
  REQUIRE(by_reader.size() == 7);
  REQUIRE_MESSAGE(
      eventually(10s,
                 [&] {
                   return metric(other.metrics_port(), "loadns_share_answers_total").value_or(0) >=
                          7;
                 }),
      reader.log_tail());
  const auto by_other = first(other, 100);
  CHECK_MESSAGE(by_reader.count(by_other) == 0,
                "the other server answered " << by_other << ", which the reader had answered");
  // And the reader learns the other's answer through the primary too.
  CHECK(eventually(10s, [&] {
    return metric(reader.metrics_port(), "loadns_share_answers_total").value_or(0) >= 1;
  }));
  CHECK(eventually(
      5s, [&] { return metric(reader.metrics_port(), "loadns_share_up").value_or(0) == 1; }));
  CHECK(primary.psql("SELECT count(DISTINCT s.server) || ':' || sum(s.answers) FROM "
                     "loadns.shared_answers s JOIN loadns.backends b ON b.id = s.backend_id "
                     "WHERE b.service = 'pool.example.com'") == "2:8");
}
