// The loadns schema as operators, agents and servers meet it (schema/schema.sql and
// docs/schema.md): report() registers then updates only load columns, roles can do exactly
// their job, operator changes NOTIFY and load reports do not, every constraint refuses its bad
// row with a message naming the problem, and SOA serials follow zone content but not load.
#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/integration/db/seeded_database.hpp"

namespace {

using fixture = loadns::test::seeded_database;

/// A LISTEN loadns_changed session collecting payloads.
struct listener final : pqxx::notification_receiver {
  explicit listener(pqxx::connection& c) : pqxx::notification_receiver(c, "loadns_changed") {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

/// Waits (bounded) until a notification with `payload` arrives; returns every payload seen.
std::vector<std::string> wait_for(pqxx::connection& c, listener& l, const std::string& payload) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& p : l.payloads) {
      if (p == payload) return l.payloads;
    }
    c.await_notification(0, 200'000);
  }
  FAIL("no notification ", payload, " within 30 s");
  return l.payloads;
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "report registers the backend on first call, enabled") {
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, 100, false)");
  CHECK(q("SELECT service, name, host(address), enabled, draining, capacity IS NULL, "
          "agent_capacity, connections, reported_at IS NOT NULL FROM loadns.backends") ==
        "api.example.com|b1|192.0.2.10|t|f|t|100|5|t");
  CHECK(q("SELECT state, capacity, utilisation FROM loadns.backend_status") == "serving|100|0.050");
}

TEST_CASE_FIXTURE(fixture, "report updates only load columns: operator settings survive") {
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, 100, false)");
  const auto first_report = q("SELECT reported_at FROM loadns.backends");
  q("UPDATE loadns.backends SET enabled = false, capacity = 50, weight = 2, draining = true");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 7, 200, false)");
  CHECK(q("SELECT enabled, draining, capacity, weight, agent_capacity, connections, "
          "reported_at > '" +
          first_report + "' FROM loadns.backends") == "f|t|50|2|200|7|t");
  CHECK(q("SELECT state, capacity FROM loadns.backend_status") == "disabled|50");
  q("UPDATE loadns.backends SET enabled = true, draining = false");
  // The agent's own draining (on shutdown) shows, without touching the operator's flag.
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 7, 200, true)");
  CHECK(q("SELECT draining, agent_draining FROM loadns.backends") == "f|t");
  CHECK(q("SELECT state FROM loadns.backend_status") == "draining");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 50, 200, false)");
  CHECK(q("SELECT state FROM loadns.backend_status") == "full");  // 50 >= operator's 50
  CHECK(q("SELECT count(*) FROM loadns.backends") == "1");
}

TEST_CASE_FIXTURE(fixture, "report refuses an unknown service and bad load") {
  CHECK(pg.psql_error("SELECT loadns.report('nope.example.com', 'b1', '192.0.2.10', 5)")
            .find("unknown service \"nope.example.com\"") != std::string::npos);
  CHECK(pg.psql_error("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', -5)")
            .find("backends_connections_not_negative") != std::string::npos);
  CHECK(pg.psql_error("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5, 0)")
            .find("backends_agent_capacity_positive") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "backend_status: stale after stale_after, serving without an agent") {
  q("INSERT INTO loadns.backends (service, name, address) VALUES "
    "('api.example.com', 'manual', '2001:db8::1')");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5)");
  q("UPDATE loadns.backends SET reported_at = now() - interval '11 seconds' WHERE name = 'b1'");
  CHECK(q("SELECT name || ':' || state FROM loadns.backend_status ORDER BY name") ==
        "b1:stale\nmanual:serving");
  CHECK(q("SELECT report_age IS NULL FROM loadns.backend_status WHERE name = 'manual'") == "t");
}

TEST_CASE_FIXTURE(fixture, "loadns_agent may only call report") {
  q("INSERT INTO loadns.agent_grants (login, service) VALUES ('agent', 'api.example.com')");
  CHECK(pg.psql_error("SELECT loadns.report('api.example.com', 'a1', '192.0.2.20', 3)", "agent")
            .empty());
  CHECK(q("SELECT connections FROM loadns.backends WHERE name = 'a1'") == "3");
  for (const std::string sql : {
           "SELECT * FROM loadns.backends",
           "SELECT * FROM loadns.zones",
           "SELECT * FROM loadns.backend_status",
           "UPDATE loadns.backends SET enabled = false",
           "UPDATE loadns.backends SET capacity = 1",
           "INSERT INTO loadns.services (name) VALUES ('x.example.com')",
           "DELETE FROM loadns.backends",
           "SELECT loadns.next_serial(0)",
       }) {
    INFO(sql);
    CHECK(pg.psql_error(sql, "agent").find("permission denied") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(fixture, "loadns_server can read what it needs and write nothing") {
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5)");
  for (const std::string sql : {
           "SELECT count(*) FROM loadns.zones",
           "SELECT count(*) FROM loadns.services",
           "SELECT count(*) FROM loadns.backends",
           "SELECT count(*) FROM loadns.records",
           "SELECT count(*) FROM loadns.backend_status",
           "SELECT count(*) FROM loadns.schema_migrations",
       }) {
    INFO(sql);
    CHECK(pg.psql_error(sql, "server").empty());
  }
  for (const std::string sql : {
           "UPDATE loadns.backends SET enabled = false",
           "INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'A', "
           "'192.0.2.1')",
           "DELETE FROM loadns.zones",
           "SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5)",
       }) {
    INFO(sql);
    CHECK(pg.psql_error(sql, "server").find("permission denied") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(fixture, "NOTIFY after operator changes, not after load reports") {
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5)");
  pqxx::connection conn(pg.conninfo());
  listener l(conn);

  q("UPDATE loadns.backends SET enabled = false WHERE name = 'b1'");
  wait_for(conn, l, "backends");

  // Notifications arrive in commit order: a report followed by an operator change to another
  // table must deliver only the latter.
  l.payloads.clear();
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 6, 100, false)");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 7, 100, false)");
  q("UPDATE loadns.zones SET ttl = 600");
  const auto seen = wait_for(conn, l, "zones");
  CHECK(seen == std::vector<std::string>{"zones"});

  // Registration, deletion, capacity, services and records do notify.
  for (const auto& [sql, payload] : std::vector<std::pair<std::string, std::string>>{
           {"SELECT loadns.report('api.example.com', 'b2', '192.0.2.11', 1)", "backends"},
           {"UPDATE loadns.backends SET capacity = 10 WHERE name = 'b2'", "backends"},
           {"DELETE FROM loadns.backends WHERE name = 'b2'", "backends"},
           {"UPDATE loadns.services SET ttl = 30", "services"},
           {"INSERT INTO loadns.records (name, type, data) VALUES ('www.example.com', 'A', "
            "'192.0.2.80')",
            "records"},
       }) {
    INFO(sql);
    l.payloads.clear();
    q(sql);
    wait_for(conn, l, payload);
  }
}

TEST_CASE_FIXTURE(fixture, "each constraint refuses its bad row, naming the problem") {
  q("INSERT INTO loadns.zones (name, nameservers) VALUES ('eu.example.com', '{ns1.example.com}')");
  q("INSERT INTO loadns.records (name, type, data) VALUES ('www.example.com', 'CNAME', "
    "'api.example.com')");
  struct bad {
    const char* sql;
    const char* problem;
  };
  const bad rows[] = {
      // zones
      {"INSERT INTO loadns.zones (name, nameservers) VALUES ('Example.org', '{ns1.example.org}')",
       "zones_name_lower_case"},
      {"INSERT INTO loadns.zones (name, nameservers) VALUES ('example.org.', "
       "'{ns1.example.org}')",
       "zones_name_no_trailing_dot"},
      {"INSERT INTO loadns.zones (name, nameservers) VALUES ('exa mple.org', "
       "'{ns1.example.org}')",
       "zones_name_valid"},
      {"INSERT INTO loadns.zones (name, nameservers) VALUES ('example.org', '{}')",
       "zones_nameservers_not_empty"},
      {"INSERT INTO loadns.zones (name, nameservers) VALUES ('example.org', '{ns1..org}')",
       "zones_nameservers_valid"},
      {"INSERT INTO loadns.zones (name, nameservers, ttl) VALUES ('example.org', "
       "'{ns1.example.org}', -1)",
       "zones_ttl_range"},
      {"INSERT INTO loadns.zones (name, nameservers, serial) VALUES ('example.org', "
       "'{ns1.example.org}', 4294967296)",
       "zones_serial_range"},
      // services
      {"INSERT INTO loadns.services (name) VALUES ('api.example.org')",
       "service \"api.example.org\" is in no zone"},
      {"INSERT INTO loadns.services (name, zone) VALUES ('api2.example.com', 'eu.example.com')",
       "service \"api2.example.com\" is outside its zone \"eu.example.com\""},
      {"INSERT INTO loadns.services (name, zone) VALUES ('api.eu.example.com', 'example.com')",
       "belongs to zone \"eu.example.com\""},
      {"INSERT INTO loadns.services (name) VALUES ('API2.example.com')",
       "service name \"API2.example.com\" must be lower case"},
      {"INSERT INTO loadns.services (name) VALUES ('api2.example.com.')",
       "service name \"api2.example.com.\" must not end with a dot"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a_b c.example.com', 'A', "
       "'192.0.2.1')",
       "record name \"a_b c.example.com\" has a label with characters other than"},
      {"INSERT INTO loadns.services (name, policy) VALUES ('api2.example.com', 'fastest')",
       "services_policy_known"},
      {"INSERT INTO loadns.services (name, answers) VALUES ('api2.example.com', 0)",
       "services_answers_range"},
      {"INSERT INTO loadns.services (name, ttl) VALUES ('api2.example.com', -1)",
       "services_ttl_range"},
      {"INSERT INTO loadns.services (name, stale_after) VALUES ('api2.example.com', '0 s')",
       "services_stale_after_range"},
      {"INSERT INTO loadns.services (name, stale_after) VALUES ('api2.example.com', "
       "'400 microseconds')",
       "services_stale_after_range"},
      {"INSERT INTO loadns.services (name, stale_after) VALUES ('api2.example.com', "
       "'-1 year 361 days')",
       "services_stale_after_range"},
      {"INSERT INTO loadns.services (name) VALUES ('www.example.com')",
       "clashes with static A, AAAA or CNAME records"},
      // backends
      {"INSERT INTO loadns.backends (service, name, address, capacity) VALUES "
       "('api.example.com', 'b', '192.0.2.1', -5)",
       "backends_capacity_positive"},
      {"INSERT INTO loadns.backends (service, name, address, connections) VALUES "
       "('api.example.com', 'b', '192.0.2.1', -5)",
       "backends_connections_not_negative"},
      {"INSERT INTO loadns.backends (service, name, address) VALUES "
       "('api.example.com', 'b', '192.0.2.0/24')",
       "backends_address_single_host"},
      {"INSERT INTO loadns.backends (service, name, address, weight) VALUES "
       "('api.example.com', 'b', '192.0.2.1', 0)",
       "backends_weight_range"},
      {"INSERT INTO loadns.backends (service, name, address, weight) VALUES "
       "('api.example.com', 'b', '192.0.2.1', 1e-300)",
       "backends_weight_range"},
      {"INSERT INTO loadns.backends (service, name, address, reported_at) VALUES "
       "('api.example.com', 'b', '192.0.2.1', 'infinity')",
       "backends_times_finite"},
      {"INSERT INTO loadns.backends (service, name, address) VALUES "
       "('nope.example.com', 'b', '192.0.2.1')",
       "backends_service_fkey"},
      {"INSERT INTO loadns.backends (service, name, address) VALUES "
       "('api.example.com', '', '192.0.2.1')",
       "backends_name_valid"},
      // records
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'A', '300.1.2.3')",
       "invalid A record data for \"a.example.com\": \"300.1.2.3\" is not an IP address"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'A', "
       "'2001:db8::1')",
       "is not an IPv4 address"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'AAAA', "
       "'192.0.2.1')",
       "is not an IPv6 address"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'MX', "
       "'mail.example.com')",
       "must be \"preference host\""},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'MX', "
       "'70000 mail.example.com')",
       "preference must be 0..65535"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'CNAME', "
       "'bad..example.com')",
       "target has an empty label"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'TXT', "
       "'\"unterminated')",
       "not a sequence of \"quoted strings\""},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'TXT', "
       "'\"\\999\"')",
       "has a \\DDD escape above 255"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'TXT', "
       "'\"\\1\"')",
       "\\ and a digit must be three digits"},
      {"INSERT INTO loadns.records (name, type, data) "
       "SELECT 'a.example.com', 'TXT', repeat('x', 255) || i FROM generate_series(1, 300) i",
       "octets, more than 65000 (12 per record plus its data)"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'SRV', '1 2 3 x')",
       "record type \"SRV\" is not supported"},
      {"INSERT INTO loadns.records (name, type, data, ttl) VALUES ('a.example.com', 'A', "
       "'192.0.2.1', -1)",
       "records_ttl_range"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('a.example.org', 'A', '192.0.2.1')",
       "record \"a.example.org\" is in no zone"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('www.example.com', 'A', "
       "'192.0.2.1')",
       "cannot have a CNAME and other records"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('example.com', 'CNAME', "
       "'x.example.net')",
       "a CNAME cannot be at the zone apex"},
      {"INSERT INTO loadns.records (name, type, data) VALUES ('api.example.com', 'A', "
       "'192.0.2.1')",
       "is a balanced service"},
      {"DELETE FROM loadns.zones WHERE name = 'example.com'", "services_zone_fkey"},
  };
  for (const auto& row : rows) {
    INFO(row.sql);
    const auto err = pg.psql_error(row.sql);
    CHECK_MESSAGE(err.find(row.problem) != std::string::npos, "error was: ", err);
  }
}

TEST_CASE_FIXTURE(fixture, "good record data is stored in one canonical form") {
  q("INSERT INTO loadns.records (name, type, data) VALUES "
    "('ns1.example.com', 'a', '192.0.2.53'), "
    "('v6.example.com', 'AAAA', '2001:DB8:0::1'), "
    "('alias.example.com', 'CNAME', 'Target.Example.NET.'), "
    "('example.com', 'MX', '10 Mail.example.com.'), "
    "('example.com', 'TXT', '\"v=spf1 -all\" \"second\"'), "
    "('t.example.com', 'TXT', 'plain text without quotes')");
  CHECK(q("SELECT name || ' ' || type || ' ' || data FROM loadns.records ORDER BY id") ==
        "ns1.example.com A 192.0.2.53\n"
        "v6.example.com AAAA 2001:db8::1\n"
        "alias.example.com CNAME target.example.net\n"
        "example.com MX 10 mail.example.com\n"
        "example.com TXT \"v=spf1 -all\" \"second\"\n"
        "t.example.com TXT plain text without quotes");
}

TEST_CASE_FIXTURE(fixture, "the zone is the longest enclosing one, also for zones added later") {
  q("INSERT INTO loadns.zones (name, nameservers) VALUES ('eu.example.com', '{ns1.example.com}')");
  q("INSERT INTO loadns.services (name) VALUES ('api.eu.example.com'), ('api.xeu.example.com')");
  CHECK(q("SELECT string_agg(name || '@' || zone, ',' ORDER BY name) FROM loadns.services") ==
        "api.eu.example.com@eu.example.com,api.example.com@example.com,"
        "api.xeu.example.com@example.com");
  q("INSERT INTO loadns.records (name, type, data) VALUES ('www.de.example.com', 'A', "
    "'192.0.2.1')");
  q("INSERT INTO loadns.zones (name, nameservers) VALUES ('de.example.com', '{ns1.example.com}')");
  CHECK(q("SELECT zone FROM loadns.records WHERE name = 'www.de.example.com'") == "de.example.com");
}

TEST_CASE_FIXTURE(fixture, "the SOA serial follows zone content, not backends or load") {
  auto serial = [&] { return std::stoll(q("SELECT serial FROM loadns.zones")); };
  const auto today = std::stoll(q("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')")) * 100;
  auto s = serial();
  CHECK(s >= today);  // date style, bumped once by the fixture's service

  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 5)");
  q("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 9)");
  q("UPDATE loadns.backends SET enabled = false");
  CHECK(serial() == s);

  q("INSERT INTO loadns.records (name, type, data) VALUES ('a.example.com', 'A', '192.0.2.1'), "
    "('b.example.com', 'A', '192.0.2.2'), ('c.example.com', 'A', '192.0.2.3')");
  CHECK(serial() == s + 1);  // once per statement, not per row
  s = serial();
  q("UPDATE loadns.services SET ttl = 30");
  CHECK(serial() == s + 1);
  s = serial();
  q("DELETE FROM loadns.records WHERE name = 'a.example.com'");
  CHECK(serial() == s + 1);
  s = serial();
  q("UPDATE loadns.zones SET minimum = 300");
  CHECK(serial() == s + 1);
  s = serial();
  q("UPDATE loadns.zones SET serial = 12345");  // an operator's explicit serial is kept
  CHECK(serial() == 12345);
  q("UPDATE loadns.services SET ttl = 31");
  CHECK(serial() == today);  // behind today's date: jumps to it

  // RFC 1982: the increment after 2^32 - 1 wraps to 0, which is "greater".
  q("UPDATE loadns.zones SET serial = 4294967295");
  q("UPDATE loadns.services SET ttl = 32");
  CHECK(serial() == 0);
}
