// load_source reads what the tables hold, with effective values and report ages on the
// database clock, in one consistent transaction.
#include "server/db/load_source.hpp"

#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;

TEST_CASE("load_source returns the tables' rows with report_age") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(R"sql(
INSERT INTO loadns.zones (name, nameservers, ttl, minimum) VALUES
  ('example.com', '{ns1.example.com,ns2.example.com}', 3600, 300);
INSERT INTO loadns.services (name, ttl, answers, accept_nonce, stale_after, policy) VALUES
  ('api.example.com', 30, 2, false, '15 s', 'round_robin');
INSERT INTO loadns.backends (service, name, address, capacity) VALUES
  ('api.example.com', 'manual', '2001:db8::7', 40);
SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 12, 100, true);
UPDATE loadns.backends SET reported_at = now() - interval '3 s', weight = 2.5 WHERE name = 'b1';
INSERT INTO loadns.records (name, type, ttl, data) VALUES
  ('ns1.example.com', 'A', 600, '192.0.2.53'), ('example.com', 'MX', 600, '10 mail.example.com');
)sql");
  pqxx::connection conn(pg.conninfo("loadns", "server"));
  const auto src = loadns::db::load_source(conn);

  REQUIRE(src.zones.size() == 1);
  const auto& z = src.zones[0];
  CHECK(z.name == "example.com");
  CHECK(z.mname == "ns1.example.com");
  CHECK(z.rname == "hostmaster.example.com");
  CHECK(z.serial == std::stoul(pg.psql("SELECT serial FROM loadns.zones")));
  CHECK(z.ttl == 3600);
  CHECK(z.minimum == 300);
  CHECK(z.refresh == 3600);
  CHECK(z.nameservers == std::vector<std::string>{"ns1.example.com", "ns2.example.com"});

  REQUIRE(src.services.size() == 1);
  const auto& s = src.services[0];
  CHECK(s.name == "api.example.com");
  CHECK(s.zone == "example.com");
  CHECK(s.ttl == 30);
  CHECK(s.records_per_response == 2);
  CHECK_FALSE(s.accept_nonce);
  CHECK(s.policy == "round_robin");
  CHECK(s.stale_after == std::chrono::milliseconds(15'000));

  REQUIRE(src.backends.size() == 2);
  const auto& manual = src.backends[0];  // ordered by service, id: inserted first
  CHECK(manual.name == "manual");
  CHECK(manual.address == "2001:db8::7");
  CHECK(manual.capacity == 40);
  CHECK_FALSE(manual.report_age.has_value());
  CHECK(manual.enabled);
  CHECK_FALSE(manual.draining);
  const auto& b1 = src.backends[1];
  CHECK(b1.service == "api.example.com");
  CHECK(b1.name == "b1");
  CHECK(b1.address == "192.0.2.10");
  CHECK(b1.connections == 12);
  CHECK(b1.capacity == 100);  // the agent's, no operator capacity
  CHECK(b1.draining);         // the agent's draining
  CHECK(b1.weight == doctest::Approx(2.5));
  REQUIRE(b1.report_age.has_value());
  CHECK(b1.report_age->count() >= 3000);
  CHECK(b1.report_age->count() < 3000 + 2000);  // now() is the transaction's start

  REQUIRE(src.records.size() == 2);
  CHECK(src.records[0].name == "example.com");
  CHECK(src.records[0].type == "MX");
  CHECK(src.records[0].data == "10 mail.example.com");
  CHECK(src.records[0].ttl == 600);
  CHECK(src.records[1].zone == "example.com");
  CHECK(src.records[1].data == "192.0.2.53");

  // The operator's capacity wins over the agent's.
  pg.psql("UPDATE loadns.backends SET capacity = 7 WHERE name = 'b1'");
  CHECK(loadns::db::load_source(conn).backends[1].capacity == 7);

  // Slow start: the window, and each backend's time in service on the database's clock
  // (NULL serving_since: none; ahead of now(): negative).
  CHECK(s.slow_start == std::chrono::milliseconds(0));  // off by default
  pg.psql(
      "UPDATE loadns.services SET slow_start = '30 s';"
      "UPDATE loadns.backends SET serving_since = now() - interval '4 s' WHERE name = 'b1';"
      "UPDATE loadns.backends SET serving_since = NULL WHERE name = 'manual';");
  auto with_slow_start = loadns::db::load_source(conn);
  CHECK(with_slow_start.services[0].slow_start == std::chrono::milliseconds(30'000));
  CHECK_FALSE(with_slow_start.backends[0].in_service.has_value());
  REQUIRE(with_slow_start.backends[1].in_service.has_value());
  CHECK(with_slow_start.backends[1].in_service->count() >= 4000);
  CHECK(with_slow_start.backends[1].in_service->count() < 4000 + 2000);
  pg.psql("UPDATE loadns.backends SET serving_since = now() + interval '1 min' WHERE name = 'b1'");
  with_slow_start = loadns::db::load_source(conn);
  REQUIRE(with_slow_start.backends[1].in_service.has_value());
  CHECK(with_slow_start.backends[1].in_service->count() <= -50'000);
}

TEST_CASE("load_source on an empty schema is empty, and fails clearly without one") {
  pg_cluster pg;
  pg.create_loadns_database();
  pqxx::connection conn(pg.conninfo());
  const auto src = loadns::db::load_source(conn);
  CHECK(src.zones.empty());
  CHECK(src.backends.empty());
  pg.create_database("empty");
  pqxx::connection bare(pg.conninfo("empty"));
  CHECK_THROWS_WITH_AS(loadns::db::load_source(bare), doctest::Contains("loadns.zones"),
                       pqxx::sql_error);
}
