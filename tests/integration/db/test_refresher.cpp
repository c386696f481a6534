// The refresher against a real cluster: first snapshot, load changes within one poll
// interval, operator changes at once through NOTIFY (latencies printed), the last snapshot
// kept while PostgreSQL is stopped, killed, slow or serving bad data, and recovery after.
#include "server/db/refresher.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <pqxx/pqxx>
#include <thread>

#include "server/core/snapshot.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// Polled every millisecond: some cases measure how soon a change is published.
bool eventually_1ms(std::chrono::milliseconds limit, const std::function<bool()>& pred) {
  return loadns::test::eventually(limit, pred, 1ms);
}

struct world {
  world() {
    pg.create_loadns_database();
    pg.psql(R"sql(
INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
INSERT INTO loadns.services (name) VALUES ('api.example.com');
SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 1, 100);
SELECT loadns.report('api.example.com', 'b2', '192.0.2.11', 2, 100);
)sql");
  }

  loadns::db::refresher_options options(std::chrono::milliseconds poll) const {
    loadns::db::refresher_options o;
    o.conninfo = pg.conninfo("loadns", "server");
    o.poll_interval = poll;
    o.reconnect_max = 1000ms;
    return o;
  }

  /// The backend `name` of the current snapshot, or null.
  const loadns::core::backend* backend(const std::string& name) {
    snap = holder.current();
    if (!snap) return nullptr;
    for (const auto& svc : snap->services) {
      for (const auto& fam : svc.backends) {
        for (const auto& b : fam) {
          if (b.name == name) return &b;
        }
      }
    }
    return nullptr;
  }

  bool has_snapshot() const { return holder.generation() > 0; }

  pg_cluster pg;
  loadns::core::snapshot_holder holder;
  loadns::core::counter_registry counters;
  std::shared_ptr<const loadns::core::snapshot> snap;
};

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

}  // namespace

TEST_CASE_FIXTURE(world, "refresher publishes the first snapshot and load within one poll") {
  const auto poll = 300ms;
  loadns::db::refresher r(options(poll), holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  REQUIRE(backend("b1") != nullptr);
  CHECK(backend("b1")->connections == 1);
  CHECK(backend("b2")->state == loadns::core::backend_state::serving);
  CHECK(r.stats().connected.load());
  CHECK(r.stats().polls.load() >= 1);

  // A load report does not notify: the next poll picks it up.
  const auto t0 = steady::now();
  pg.psql("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 42, 100)");
  REQUIRE(eventually_1ms(20s, [&] { return backend("b1") && backend("b1")->connections == 42; }));
  const auto latency = ms_since(t0);
  std::printf("report -> snapshot latency by polling: %.1f ms (poll interval %lld ms)\n", latency,
              static_cast<long long>(poll.count()));
  std::fflush(stdout);
  // One poll interval plus scheduling slack on a busy machine.
  CHECK(latency < static_cast<double>(poll.count()) + 1500.0);
}

TEST_CASE_FIXTURE(world, "refresher reloads at once on NOTIFY") {
  const auto poll = 10s;  // far longer than the test: only the notification can explain it
  loadns::db::refresher r(options(poll), holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  REQUIRE(backend("b1")->enabled);

  pqxx::connection operator_session(pg.conninfo());
  for (int round = 0; round < 3; ++round) {
    const bool enable = round % 2 == 1;
    pqxx::work tx(operator_session);
    tx.exec(std::string("UPDATE loadns.backends SET enabled = ") + (enable ? "true" : "false") +
            " WHERE name = 'b1'");
    const auto t0 = steady::now();
    tx.commit();  // the notification is sent at commit
    REQUIRE(eventually_1ms(20s, [&] { return backend("b1") && backend("b1")->enabled == enable; }));
    const auto latency = ms_since(t0);
    std::printf("commit of UPDATE enabled -> snapshot published, by NOTIFY: %.1f ms\n", latency);
    std::fflush(stdout);
    CHECK(latency < 2000.0);
  }
  CHECK(backend("b1")->state == loadns::core::backend_state::disabled);
  CHECK(r.stats().notifications.load() >= 3);
}

TEST_CASE_FIXTURE(world, "refresher keeps the last snapshot while the cluster is down") {
  loadns::db::refresher r(options(200ms), holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));

  SUBCASE("stopped") {
    pg.stop();
  }
  SUBCASE("killed") {
    pg.kill();
  }
  REQUIRE(eventually_1ms(20s, [&] { return !r.stats().connected.load(); }));
  const auto last = holder.current();  // polls publish until the link is lost
  REQUIRE(last != nullptr);
  const auto errors = r.stats().poll_errors.load();
  REQUIRE(eventually_1ms(30s, [&] { return r.stats().poll_errors.load() >= errors + 2; }));
  CHECK(holder.current() == last);  // nothing published, nothing lost

  pg.start();
  REQUIRE(eventually_1ms(30s, [&] { return r.stats().connected.load(); }));
  pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'b2'");
  CHECK(eventually_1ms(20s, [&] { return backend("b2") && !backend("b2")->enabled; }));
}

TEST_CASE_FIXTURE(world, "refresher leaves a bad row out, counts it, and later changes load") {
  loadns::db::refresher r(options(200ms), holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  auto skipped = [&] {
    return r.stats().rows_skipped[static_cast<std::size_t>(loadns::core::table::records)].load();
  };
  // Only a superuser bypassing the checks can store this; the server must survive it.
  pg.psql(
      "ALTER TABLE loadns.records DROP CONSTRAINT records_data_valid;"
      "ALTER TABLE loadns.records DISABLE TRIGGER records_check_data;"
      "INSERT INTO loadns.records (name, type, data) VALUES ('bad.example.com', 'A', 'nope')");
  REQUIRE(eventually_1ms(20s, [&] { return skipped() >= 1; }));
  CHECK(eventually_1ms(20s, [&] { return skipped() >= 3; }));  // once per build
  pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'b2'");
  CHECK(eventually_1ms(20s, [&] { return backend("b2") && !backend("b2")->enabled; }));
  CHECK(r.stats().rows_skipped[static_cast<std::size_t>(loadns::core::table::zones)].load() == 0);
}

TEST_CASE_FIXTURE(world,
                  "refresher serves a zone row it cannot use as its last good version while the "
                  "other rows load") {
  loadns::db::refresher r(options(200ms), holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  auto zones_skipped = [&] {
    return r.stats().rows_skipped[static_cast<std::size_t>(loadns::core::table::zones)].load();
  };
  auto nameservers = [&] { return holder.current()->zones.zone_at(0).ns.rdata.size(); };
  REQUIRE(nameservers() == 1);
  pg.psql(
      "ALTER TABLE loadns.zones DROP CONSTRAINT zones_nameservers_not_empty;"
      "UPDATE loadns.zones SET nameservers = '{}'");
  REQUIRE(eventually_1ms(20s, [&] { return zones_skipped() >= 1; }));
  CHECK(nameservers() == 1);  // the last good version, not an empty NS set
  pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'b2'");
  CHECK(eventually_1ms(20s, [&] { return backend("b2") && !backend("b2")->enabled; }));
  CHECK(nameservers() == 1);
  pg.psql("UPDATE loadns.zones SET nameservers = '{ns1.example.com,ns2.example.com}'");
  CHECK(eventually_1ms(20s, [&] { return nameservers() == 2; }));
}

TEST_CASE_FIXTURE(world, "a blocked query times out and the refresher carries on") {
  auto o = options(200ms);
  o.statement_timeout = 500ms;
  loadns::db::refresher r(o, holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  const auto errors = r.stats().poll_errors.load();
  {
    pqxx::connection locker(pg.conninfo());
    pqxx::work tx(locker);
    tx.exec("LOCK TABLE loadns.zones IN ACCESS EXCLUSIVE MODE");
    CHECK(eventually_1ms(20s, [&] { return r.stats().poll_errors.load() > errors; }));
    CHECK(r.stats().connected.load());
  }  // lock released
  const auto polls = r.stats().polls.load();
  CHECK(eventually_1ms(20s, [&] { return r.stats().polls.load() > polls; }));
}

TEST_CASE_FIXTURE(world, "a multi-host conninfo skips a dead host") {
  // A port nobody listens on: bound, then released.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const auto dead = ntohs(a.sin_port);
  ::close(s);

  auto o = options(200ms);
  o.conninfo = "host=127.0.0.1,127.0.0.1 port=" + std::to_string(dead) + "," +
               std::to_string(pg.port()) + " dbname=loadns user=server";
  loadns::db::refresher r(o, holder, counters);
  r.start();
  REQUIRE(eventually_1ms(30s, [&] { return has_snapshot(); }));
  CHECK(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loadns-server'") ==
        "1");
  r.stop();
  CHECK_FALSE(r.stats().connected.load());
}

TEST_CASE("refresher waits for a database that is down at start") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}')");
  pg.stop();
  loadns::core::snapshot_holder holder;
  loadns::core::counter_registry counters;
  loadns::db::refresher_options o;
  o.conninfo = pg.conninfo();
  o.poll_interval = 200ms;
  o.reconnect_max = 500ms;
  loadns::db::refresher r(o, holder, counters);
  r.start();
  CHECK(eventually_1ms(30s, [&] { return r.stats().poll_errors.load() >= 2; }));
  CHECK(holder.generation() == 0);
  pg.start();
  CHECK(eventually_1ms(30s, [&] { return holder.generation() > 0; }));
  const auto t0 = steady::now();
  r.stop();
  CHECK(ms_since(t0) < 1000.0);
}

TEST_CASE("a poll of 100 services with 10000 backends: duration printed") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(R"sql(
INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
INSERT INTO loadns.services (name) SELECT 's' || i || '.example.com' FROM generate_series(1, 100) i;
SELECT count(loadns.report('s' || (i % 100 + 1) || '.example.com', 'b' || i,
                           ('10.0.' || (i / 256) || '.' || (i % 256))::inet, i, 1000))
  FROM generate_series(0, 9999) i;
)sql");
  loadns::core::snapshot_holder holder;
  loadns::core::counter_registry counters;
  loadns::db::refresher_options o;
  o.conninfo = pg.conninfo("loadns", "server");
  o.poll_interval = 200ms;
  loadns::db::refresher r(o, holder, counters);
  r.start();
  REQUIRE(eventually_1ms(20s, [&] { return r.stats().polls.load() >= 5; }));
  REQUIRE(holder.current() != nullptr);
  std::size_t backends = 0;
  for (const auto& svc : holder.current()->services) {
    backends += svc.backends[0].size() + svc.backends[1].size();
  }
  CHECK(backends == 10000);
  const auto us = r.stats().last_poll_duration_us.load();
  std::printf("poll (read) of 100 services / 10000 backends: %.1f ms\n",
              static_cast<double>(us) / 1000.0);
  std::fflush(stdout);
  CHECK(us < 5'000'000);
}
