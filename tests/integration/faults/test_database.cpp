// Database faults under a running loadns-server (README, "Metrics and health";
// docs/architecture.md): PostgreSQL SIGKILLed and restarted under the server and an agent, a
// statement that hangs behind a lock, and bad operator data forced past the schema's checks.
// Answers never stop; a row the server cannot use is left out (a zone row is served as its last
// good version), with one log line and a metric.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

using addrs = std::vector<std::string>;

struct world {
  pg_cluster pg;
  std::unique_ptr<server_process> server;
  world() {
    pg.create_loadns_database();
    pg.psql(seed_sql);
    server = std::make_unique<server_process>(server_options_for(pg.conninfo("loadns", "server")));
  }
  std::uint16_t port() const { return server->port(); }
  double metric_value(std::string_view series) const {
    return metric(server->metrics_port(), series).value_or(-1);
  }
  /// Waits until `name` A answers exactly `want`; the seconds it took, or -1.
  double served_within(std::string_view name, const addrs& want,
                       std::chrono::milliseconds timeout = 10s) const {
    const auto t0 = steady::now();
    const bool ok = eventually(timeout, [&] { return addresses(port(), name) == want; });
    return ok ? seconds_since(t0) : -1;
  }
  /// The rcode of one UDP query.
  int rcode_of(std::string_view name, std::uint16_t type = rr_type::a) const {
    query_spec q;
    q.name = std::string(name);
    q.type = type;
    const auto r = udp_exchange(port(), make_query(q), 1s);
    if (!r) return -1;
    const auto h = parse_header(*r);
    return h ? h->rcode : -1;
  }
};

void print_counts(const char* phase, const load_counts& c) {
  std::printf("  %s: %llu of %llu queries answered, %llu failed, longest gap %lld ms\n", phase,
              static_cast<unsigned long long>(c.answered), static_cast<unsigned long long>(c.sent),
              static_cast<unsigned long long>(c.failed),
              static_cast<long long>(c.longest_gap.count()));
}

/// The NS names at the apex of example.com, sorted (dig, so the parse is not ours).
std::vector<std::string> ns_set(std::uint16_t port) {
  auto r = dig(port, transport::udp, "example.com", "NS");
  if (!r.answered()) return {};
  auto v = r.response().answer_data("NS");
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE(
    "PostgreSQL SIGKILLed and restarted under the server and an agent: answers continue and "
    "later changes are served") {
  world w;
  const auto agent_port = free_port();
  agent_process agent({"--db", w.pg.conninfo("loadns", "agent"), "--service", "api.example.com",
                       "--address", "192.0.2.10", "--port", std::to_string(agent_port), "--name",
                       "b1", "--interval", "300ms", "--check", "none"});
  REQUIRE_MESSAGE(eventually(10s,
                             [&] {
                               return w.pg.psql(
                                          "SELECT reported_at IS NOT NULL FROM "
                                          "loadns.backends WHERE name = 'b1'") == "t";
                             }),
                  agent.log());

  query_load load(w.port(), "api.example.com", transport::udp, 5ms);
  REQUIRE(eventually(5s, [&] { return load.counts().answered > 10; }));
  const auto before = load.counts();
  load.reset_gap();

  const auto t_kill = steady::now();
  w.pg.kill();
  // The outage lasts until both the server and the agent have noticed it.
  const bool server_noticed =
      eventually(10s, [&] { return w.metric_value("loadns_database_up") == 0; });
  const double server_noticed_after = seconds_since(t_kill);
  const bool agent_noticed = eventually(10s, [&] {
    const auto log = agent.log();
    return log.find("warn") != std::string::npos || log.find("error") != std::string::npos;
  });
  // Both are still retrying: see at least one failed reconnect each.
  const auto errors_at_notice = w.metric_value("loadns_poll_errors_total");
  REQUIRE(eventually(
      10s, [&] { return w.metric_value("loadns_poll_errors_total") > errors_at_notice; }));
  const auto outage = load.counts() - before;
  const auto outage_gap = load.counts().longest_gap;
  const double outage_seconds = seconds_since(t_kill);

  const auto t_start = steady::now();
  w.pg.start();
  const std::string restarted_at = w.pg.psql("SELECT now()");
  const bool server_back =
      eventually(15s, [&] { return w.metric_value("loadns_database_up") == 1; });
  const double server_back_after = seconds_since(t_start);
  const bool agent_back = eventually(15s, [&] {
    return w.pg.psql("SELECT reported_at > '" + restarted_at +
                     "' FROM loadns.backends WHERE name = 'b1'") == "t";
  });
  const double agent_back_after = seconds_since(t_start);

  // An operator change after the restart is served.
  w.pg.psql(
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('api.example.com', 'b2', '192.0.2.11');"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b1';");
  const double change_served = w.served_within("api.example.com", {"192.0.2.11"});
  load.stop();
  const auto total = load.counts();

  std::printf("PostgreSQL SIGKILL under the server and an agent:\n");
  std::printf("  server saw the outage after %.2f s; outage lasted %.2f s\n", server_noticed_after,
              outage_seconds);
  print_counts("during the outage", {outage.sent, outage.answered, outage.failed, outage_gap});
  std::printf(
      "  after restart: server reconnected in %.2f s, agent reported again in %.2f s, "
      "an operator change was served %.2f s after commit\n",
      server_back_after, agent_back_after, change_served);
  print_counts("whole run", total);

  const auto log = w.server->log();
  CHECK(server_noticed);
  CHECK(agent_noticed);
  CHECK(outage.sent > 50);
  CHECK(outage.failed == 0);
  CHECK(total.failed == 0);
  CHECK(server_back);
  CHECK(agent_back);
  CHECK(change_served >= 0);
  // One line per state change, not one per failed reconnect.
  CHECK(occurrences(log, "answering from the last snapshot") == 1);
  CHECK(occurrences(log, "database connection resumed") == 1);
  CHECK(agent.running());
  CHECK(w.server->running());
}

TEST_CASE(
    "a statement hung behind ACCESS EXCLUSIVE does not stall answers and the server "
    "recovers after release") {
  world w;
  query_load load(w.port(), "api.example.com", transport::udp, 5ms);
  REQUIRE(eventually(5s, [&] { return load.counts().answered > 10; }));
  const auto errors_before = w.metric_value("loadns_poll_errors_total");
  const auto polls_before = w.metric_value("loadns_polls_total");
  const auto before = load.counts();
  load.reset_gap();

  pqxx::connection locker(w.pg.conninfo());
  pqxx::work tx(locker);
  tx.exec("LOCK TABLE loadns.backends IN ACCESS EXCLUSIVE MODE");
  const auto t_lock = steady::now();
  // The holder may change what it locked; it becomes visible at commit.
  tx.exec(
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('api.example.com', 'b2', '192.0.2.11');"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b1'");
  // Hold it until the server's statement has hit its statement_timeout (5 s) at least once.
  const bool timed_out =
      eventually(15s, [&] { return w.metric_value("loadns_poll_errors_total") > errors_before; });
  const bool no_poll_during_lock = w.metric_value("loadns_polls_total") == polls_before ||
                                   w.metric_value("loadns_polls_total") == polls_before + 1;
  const auto during = load.counts() - before;
  const auto during_gap = load.counts().longest_gap;
  const double held = seconds_since(t_lock);
  const bool still_old = addresses(w.port(), "api.example.com") == addrs{"192.0.2.10"};
  tx.commit();
  const auto t_release = steady::now();
  const double served = w.served_within("api.example.com", {"192.0.2.11"});
  const bool recovered = eventually(10s, [&] {
    return w.server->log().find("database poll succeeds again") != std::string::npos;
  });
  const double recovered_after = seconds_since(t_release);
  load.stop();

  std::printf("ACCESS EXCLUSIVE lock on loadns.backends held %.2f s:\n", held);
  print_counts("during the lock", {during.sent, during.answered, during.failed, during_gap});
  std::printf(
      "  after release: the change was served in %.2f s, \"poll succeeds again\" "
      "logged within %.2f s\n",
      served, recovered_after);

  const auto log = w.server->log();
  CHECK(timed_out);
  CHECK(no_poll_during_lock);
  CHECK(log.find("database poll failed") != std::string::npos);
  CHECK(log.find("canceling statement due to statement timeout") != std::string::npos);
  CHECK(during.sent > 100);
  CHECK(during.failed == 0);
  CHECK(still_old);
  CHECK(served >= 0);
  CHECK(recovered);
  CHECK(w.server->running());
}

TEST_CASE(
    "a CNAME beside an A record forced past the triggers: the A row is left out, the rest "
    "loads") {
  // The schema refuses a CNAME beside other data, from racing sessions too (migration 0004,
  // tests/integration/db/test_schema_concurrency.cpp); here its check is switched off by hand
  // (a botched migration, a trigger disabled for an import).
  world w;
  const auto skipped_before = w.metric_value("loadns_rows_skipped_total{table=\"records\"}");
  query_load load(w.port(), "api.example.com", transport::udp, 5ms);

  w.pg.psql(
      "INSERT INTO loadns.records (name, type, ttl, data) "
      "VALUES ('www2.example.com', 'CNAME', 120, 'www.example.com')");
  w.pg.psql(
      "ALTER TABLE loadns.records DISABLE TRIGGER records_check_data;"
      "INSERT INTO loadns.records (name, type, ttl, data) "
      "VALUES ('www2.example.com', 'A', 120, '192.0.2.81');"
      "ALTER TABLE loadns.records ENABLE TRIGGER records_check_data;");
  REQUIRE(w.pg.psql("SELECT count(*) FROM loadns.records WHERE name = 'www2.example.com'") == "2");
  const auto a_id =
      w.pg.psql("SELECT id FROM loadns.records WHERE name = 'www2.example.com' AND type = 'A'");

  // The older row (the CNAME) stays; the one that came later is left out.
  const std::string expected_log =
      "row skipped, the rest of the snapshot loads: loadns.records: record " + a_id +
      " 'www2.example.com' A '192.0.2.81': the name has a CNAME";
  const bool logged =
      eventually(10s, [&] { return w.server->log().find(expected_log) != std::string::npos; });
  const auto skipped =
      w.metric_value("loadns_rows_skipped_total{table=\"records\"}") - skipped_before;
  const int www2_rcode = w.rcode_of("www2.example.com");
  const auto www2_addresses = addresses(w.port(), "www2.example.com");
  // Later changes load while the bad row is still there.
  w.pg.psql(
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('api.example.com', 'b2', '192.0.2.11');"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b1';");
  const double served = w.served_within("api.example.com", {"192.0.2.11"});

  w.pg.psql("DELETE FROM loadns.records WHERE name = 'www2.example.com' AND type = 'A'");
  const bool cleared = eventually(
      10s, [&] { return w.server->log().find("row no longer skipped") != std::string::npos; });
  load.stop();
  const auto c = load.counts();

  std::printf(
      "CNAME + A forced: %s; loadns_rows_skipped_total{table=\"records\"} +%.0f; www2 A: rcode "
      "%d, %zu addresses; a later change served in %.2f s with the row still there\n",
      logged ? "A row skipped, logged" : "NOT logged", skipped, www2_rcode,
      www2_addresses.value_or(addrs{}).size(), served);
  print_counts("throughout", c);

  CHECK_MESSAGE(logged, w.server->log_tail());
  CHECK(occurrences(w.server->log(), expected_log) == 1);  // once, not once per poll
  CHECK(skipped >= 1);
  CHECK(www2_rcode == rcode::noerror);
  const auto www2_seen = www2_addresses.value_or(addrs{});
  CHECK(std::find(www2_seen.begin(), www2_seen.end(), "192.0.2.81") == www2_seen.end());
  CHECK(served >= 0);
  CHECK(cleared);
  CHECK(w.metric_value("loadns_rows_skipped_total{table=\"zones\"}") == 0);
  CHECK(c.failed == 0);
}

TEST_CASE(
    "each kind of row the server cannot use is left out with one log line, and drains and new "
    "backends still load") {
  // Rows that old schemas (before migrations/0012) accepted, or that slip in past dropped
  // checks and disabled triggers: each is left out, the rest of every snapshot loads.
  world w;
  w.pg.psql(
      "INSERT INTO loadns.services (name) VALUES ('web.example.com');"
      "INSERT INTO loadns.backends (service, name, address) VALUES "
      "  ('web.example.com', 'w1', '192.0.2.21'), ('web.example.com', 'w2', '192.0.2.22');"
      "INSERT INTO loadns.records (name, type, data) VALUES ('good.example.com', 'TXT', "
      "  '\"fine\"');");
  REQUIRE(eventually(10s, [&] {
    const auto a = addresses(w.port(), "web.example.com");
    return a && a->size() == 1;
  }));
  query_load load(w.port(), "api.example.com", transport::udp, 5ms);
  w.pg.psql(R"sql(
ALTER TABLE loadns.records DROP CONSTRAINT records_data_valid;
ALTER TABLE loadns.records DISABLE TRIGGER records_check_data;
ALTER TABLE loadns.services DROP CONSTRAINT services_stale_after_range;
ALTER TABLE loadns.backends DROP CONSTRAINT backends_weight_range;
INSERT INTO loadns.records (name, type, data) VALUES ('escape.example.com', 'TXT', '"\1"');
INSERT INTO loadns.records (name, type, data)
  SELECT 'big.example.com', 'TXT', i || repeat('x', 1000) FROM generate_series(1, 64) i;
INSERT INTO loadns.services (name, stale_after) VALUES ('tiny.example.com', '400 microseconds');
INSERT INTO loadns.backends (service, name, address) VALUES ('tiny.example.com', 't1', '192.0.2.31');
INSERT INTO loadns.backends (service, name, address, weight)
  VALUES ('web.example.com', 'w3', '192.0.2.23', 1e-300);
SET session_replication_role = replica;
INSERT INTO loadns.backends (id, service, name, address)
  VALUES (900, 'ghost.example.com', 'g1', '192.0.2.99');
)sql");
  const std::vector<std::string> expected = {
      "loadns.records: record ",  // the escape, then the 64th big one (ids vary)
      "'escape.example.com' TXT '\"\\1\"': bad \\DDD escape in TXT",
      "'big.example.com' TXT '",
      "octets (12 per record plus its data), more than 65000",
      "loadns.services: service 'tiny.example.com': stale_after must be 1 ms to 100 years (it is 0 "
      "ms)",
      "loadns.backends: backend 900 ghost.example.com/g1 (192.0.2.99): unknown service",
      "tiny.example.com/t1 (192.0.2.31): unknown service",
      "web.example.com/w3 (192.0.2.23): weight must be 0.000001 to 1000000",
  };
  const bool logged = eventually(10s, [&] {
    const auto log = w.server->log();
    return std::all_of(expected.begin(), expected.end(),
                       [&](const std::string& e) { return log.find(e) != std::string::npos; });
  });
  auto skipped = [&](const char* table) {
    return w.metric_value(std::string("loadns_rows_skipped_total{table=\"") + table + "\"}");
  };
  // A drain and a new backend, on a service with a bad backend row beside them.
  w.pg.psql(
      "UPDATE loadns.backends SET draining = true WHERE name IN ('w1', 'w2');"
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('web.example.com', 'w4', '192.0.2.24');");
  const double served = w.served_within("web.example.com", {"192.0.2.24"});
  const auto good_txt = w.rcode_of("good.example.com", rr_type::txt);
  const auto escape_rcode = w.rcode_of("escape.example.com", rr_type::txt);
  const auto tiny_rcode = w.rcode_of("tiny.example.com");
  load.stop();
  const auto c = load.counts();
  const auto log = w.server->log();
  const std::size_t skip_lines = occurrences(log, "row skipped, the rest of the snapshot loads");
  std::printf(
      "bad rows: %s; %zu 'row skipped' lines; loadns_rows_skipped_total records %.0f, services "
      "%.0f, backends %.0f; drain + new backend served in %.2f s; good TXT rcode %d, bad TXT "
      "name rcode %d, bad service rcode %d\n",
      logged ? "all logged" : "NOT all logged", skip_lines, skipped("records"), skipped("services"),
      skipped("backends"), served, good_txt, escape_rcode, tiny_rcode);
  print_counts("throughout", c);

  CHECK_MESSAGE(logged, w.server->log_tail());
  CHECK(skip_lines == 6);  // one per row, not one per poll
  CHECK(skipped("zones") == 0);
  CHECK(skipped("records") >= 2);
  CHECK(skipped("services") >= 1);
  CHECK(skipped("backends") >= 3);
  CHECK(served >= 0);
  CHECK(good_txt == rcode::noerror);
  CHECK(escape_rcode == rcode::nxdomain);
  CHECK(tiny_rcode == rcode::nxdomain);
  CHECK(c.failed == 0);
  CHECK(w.server->running());
}

TEST_CASE(
    "a failed NS update and then one forced past the constraint: the NS set served stays the "
    "last good one while other changes load") {
  world w;
  const std::vector<std::string> original{"ns1.example.com.", "ns2.example.com."};
  REQUIRE(ns_set(w.port()) == original);
  const std::string zones_skipped = "loadns_rows_skipped_total{table=\"zones\"}";
  const auto skipped_before = w.metric_value(zones_skipped);

  // Refused by the database: nothing changes anywhere.
  bool refused = false;
  try {
    w.pg.psql("UPDATE loadns.zones SET nameservers = '{}' WHERE name = 'example.com'");
  } catch (const std::runtime_error& e) {
    refused = std::string(e.what()).find("zones_nameservers_not_empty") != std::string::npos;
  }
  CHECK(refused);
  CHECK(ns_set(w.port()) == original);

  // Forced past the schema (a constraint dropped by hand, a botched migration).
  w.pg.psql(
      "ALTER TABLE loadns.zones DROP CONSTRAINT zones_nameservers_not_empty;"
      "UPDATE loadns.zones SET nameservers = '{}' WHERE name = 'example.com';");
  const std::string expected_log =
      "row skipped, the rest of the snapshot loads: loadns.zones: zone 'example.com': no "
      "nameservers (NS records); its last good version is served";
  const bool logged =
      eventually(10s, [&] { return w.server->log().find(expected_log) != std::string::npos; });
  const auto skipped = w.metric_value(zones_skipped) - skipped_before;
  const auto ns_while_bad = ns_set(w.port());
  // A backend change loads while the zone row is bad.
  w.pg.psql(
      "INSERT INTO loadns.backends (service, name, address) "
      "VALUES ('api.example.com', 'b2', '192.0.2.11');"
      "UPDATE loadns.backends SET enabled = false WHERE name = 'b1';");
  const double served = w.served_within("api.example.com", {"192.0.2.11"});
  const auto ns_after_change = ns_set(w.port());

  w.pg.psql(
      "UPDATE loadns.zones SET nameservers = '{ns1.example.com,ns3.example.com}' "
      "WHERE name = 'example.com'");
  const std::vector<std::string> fixed{"ns1.example.com.", "ns3.example.com."};
  const bool fixed_served = eventually(10s, [&] { return ns_set(w.port()) == fixed; });

  std::printf(
      "empty NS set: refused by the database: %s; forced past it: %s, "
      "loadns_rows_skipped_total{table=\"zones\"} +%.0f, NS served meanwhile: %zu names; a new "
      "backend served after %.2f s; fixed NS set served: %s\n",
      refused ? "yes" : "no", logged ? "skip logged" : "NO skip logged", skipped,
      ns_while_bad.size(), served, fixed_served ? "yes" : "no");

  CHECK_MESSAGE(logged, w.server->log_tail());
  CHECK(occurrences(w.server->log(), expected_log) == 1);  // once, not once per poll
  CHECK(skipped >= 1);
  CHECK(ns_while_bad == original);
  CHECK(served >= 0);
  CHECK(ns_after_change == original);
  CHECK(fixed_served);
}

TEST_CASE("a backend of no service inserted with triggers off is left out by the builder") {
  world w;
  // session_replication_role = replica skips triggers, foreign keys included (and the NOTIFY:
  // the poll finds it).
  w.pg.psql(
      "SET session_replication_role = replica;"
      "INSERT INTO loadns.backends (id, service, name, address) "
      "VALUES (900, 'ghost.example.com', 'g1', '192.0.2.99');");
  const std::string expected_log =
      "row skipped, the rest of the snapshot loads: loadns.backends: backend 900 "
      "ghost.example.com/g1 (192.0.2.99): unknown service";
  const bool logged =
      eventually(10s, [&] { return w.server->log().find(expected_log) != std::string::npos; });
  const auto skipped = w.metric_value("loadns_rows_skipped_total{table=\"backends\"}");
  const bool ready =
      http_get(w.server->metrics_port(), "/readyz").value_or(http_response{}).status == 200;
  const auto served = addresses(w.port(), "api.example.com");
  w.pg.psql("DELETE FROM loadns.backends WHERE id = 900");
  const bool cleared = eventually(
      10s, [&] { return w.server->log().find("row no longer skipped") != std::string::npos; });
  std::printf(
      "orphan backend: %s, loadns_rows_skipped_total{table=\"backends\"} %.0f, still ready: "
      "%s, 'no longer skipped' after delete: %s\n",
      logged ? "skipped, logged" : "NOT logged", skipped, ready ? "yes" : "no",
      cleared ? "yes" : "no");
  CHECK(logged);
  CHECK(skipped >= 1);
  CHECK(ready);
  CHECK(served == addrs{"192.0.2.10"});
  CHECK(cleared);
}
