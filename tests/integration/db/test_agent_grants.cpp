// An agent speaks only for its own backend (migrations/0006): report() called by a login that
// is neither the schema owner nor a superuser is refused with SQLSTATE 42501 and a message
// naming the reason (no grant, another login's row, an operator's row, a bad address), a
// refused call changes nothing, an operator hands a row over by setting registered_by, and
// future functions are not executable by PUBLIC; a database upgraded from 0005 keeps its rows
// the operator's until handed over as the README says. Each case runs as the role it is about.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server/db/migrate.hpp"
#include "tests/integration/db/seeded_database.hpp"
#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;

namespace {

/// Two per-host agent logins, web1 and web2, both granted api.example.com; an operator's row
/// `manual`.
const char* const seed =
    "CREATE ROLE web1 LOGIN IN ROLE loadns_agent; CREATE ROLE web2 LOGIN IN ROLE loadns_agent;"
    "CREATE ROLE nogrant LOGIN IN ROLE loadns_agent;"
    "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
    "INSERT INTO loadns.services (name) VALUES ('api.example.com'), ('other.example.com');"
    "INSERT INTO loadns.agent_grants (login, service) VALUES "
    "('web1', 'api.example.com'), ('web2', 'api.example.com');"
    "INSERT INTO loadns.backends (service, name, address, capacity, weight) VALUES "
    "('api.example.com', 'manual', '192.0.2.30', 100, 3);";

struct fixture : loadns::test::seeded_database {
  fixture() : seeded_database(seed) {}
  /// psql's error for `sql` run as `login`, with the SQLSTATE ("ERROR:  42501: ..."), or "".
  std::string refusal(const std::string& login, const std::string& sql) const {
    return pg.psql_error("\\set VERBOSITY verbose\n" + sql, login);
  }
  /// Every backend row, for "nothing changed" checks.
  std::string rows() const {
    return q("SELECT string_agg(b::text, E'\\n' ORDER BY id) FROM loadns.backends b");
  }
};

/// The SQL block of the README's "Upgrading a database with agents".
std::string readme_upgrade_sql() {
  std::ifstream in(LOADNS_SOURCE_DIR "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const auto s = text.str();
  const auto at = s.find("**Upgrading a database with agents.**");
  REQUIRE(at != std::string::npos);
  const auto begin = s.find("```sql\n", at);
  REQUIRE(begin != std::string::npos);
  const auto end = s.find("```", begin + 7);
  REQUIRE(end != std::string::npos);
  return s.substr(begin + 7, end - begin - 7);
}

std::string report(const std::string& name, const std::string& rest,
                   const std::string& service = "api.example.com") {
  return "SELECT loadns.report('" + service + "', '" + name + "', " + rest + ")";
}

}  // namespace

TEST_CASE_FIXTURE(fixture, "a login without a grant is refused and nothing changes") {
  const auto before = rows();
  for (const auto& [login, sql] : {
           std::pair<std::string, std::string>{"nogrant", report("web9", "'192.0.2.19', 1")},
           {"agent", report("web9", "'192.0.2.19', 1")},
           {"web1", report("web1", "'192.0.2.11', 1", "other.example.com")},
           // A service that does not exist reads the same: nothing to learn about services.
           {"web1", report("web1", "'192.0.2.11', 1", "nope.example.com")},
       }) {
    CAPTURE(sql);
    const auto err = refusal(login, sql);
    CHECK_MESSAGE(err.find("42501") != std::string::npos, err);
    CHECK_MESSAGE(err.find("has no grant for service") != std::string::npos, err);
    CHECK_MESSAGE(err.find("\"" + login + "\"") != std::string::npos, err);
  }
  CHECK(rows() == before);
}

TEST_CASE_FIXTURE(fixture, "a granted login registers its backend and keeps reporting for it") {
  CHECK(pg.psql(report("web1", "'192.0.2.11', 5, 100"), "loadns", "web1") == "0");
  CHECK(q("SELECT b.registered_by, b.connections, s.state FROM loadns.backends b JOIN "
          "loadns.backend_status s USING (id) WHERE b.name = 'web1'") == "web1|5|serving");
  CHECK(pg.psql(report("web1", "'192.0.2.12', 7, 100, false, true, NULL, '2001:db8::12'"), "loadns",
                "web1") == "0");
  CHECK(q("SELECT host(address), host(second_address), connections FROM loadns.backends "
          "WHERE name = 'web1'") == "192.0.2.12|2001:db8::12|7");
  // SET ROLE changes nothing: the caller is the login.
  CHECK(pg.psql("SET ROLE loadns_agent; " + report("web1", "'192.0.2.12', 8"), "loadns", "web1") ==
        "0");
  CHECK(refusal("web2", "SET ROLE loadns_agent; " + report("web1", "'192.0.2.12', 9"))
            .find("registered by another login") != std::string::npos);
  // A revoked grant stops its reports.
  q("DELETE FROM loadns.agent_grants WHERE login = 'web1'");
  CHECK(refusal("web1", report("web1", "'192.0.2.12', 9")).find("has no grant") !=
        std::string::npos);
  CHECK(q("SELECT connections FROM loadns.backends WHERE name = 'web1'") == "8");
}

TEST_CASE_FIXTURE(fixture, "a second login cannot report for the first one's row") {
  pg.psql(report("web1", "'192.0.2.11', 5, 100"), "loadns", "web1");
  const auto before = rows();
  for (const auto& sql : {
           report("web1", "'192.0.2.66', 0, 100"),                // repoint it
           report("web1", "'192.0.2.11', 0, 100, true"),          // drain it
           report("web1", "'192.0.2.11', 0, 100, false, false"),  // call it unhealthy
           report("web1", "'192.0.2.11', 100000, 100"),           // call it full
       }) {
    CAPTURE(sql);
    const auto err = refusal("web2", sql);
    CHECK_MESSAGE(err.find("42501") != std::string::npos, err);
    CHECK_MESSAGE(err.find("backend \"web1\" of service \"api.example.com\" is registered by "
                           "another login") != std::string::npos,
                  err);
  }
  CHECK(rows() == before);
  // Its own backend is fine.
  CHECK(pg.psql(report("web2", "'192.0.2.12', 1"), "loadns", "web2") == "0");
  CHECK(q("SELECT string_agg(name || ':' || registered_by, ',' ORDER BY name) FROM "
          "loadns.backends WHERE registered_by IS NOT NULL") == "web1:web1,web2:web2");
}

TEST_CASE_FIXTURE(fixture, "an operator's row is refused until an operator hands it over") {
  const auto before = rows();
  const auto err = refusal("web1", report("manual", "'192.0.2.30', 5, 100"));
  CHECK_MESSAGE(err.find("42501") != std::string::npos, err);
  CHECK_MESSAGE(
      err.find("backend \"manual\" of service \"api.example.com\" is an operator's row") !=
          std::string::npos,
      err);
  CHECK_MESSAGE(err.find("SET registered_by = 'web1' WHERE service = 'api.example.com' AND name = "
                         "'manual'") != std::string::npos,
                err);
  CHECK(rows() == before);

  q("UPDATE loadns.backends SET registered_by = 'web1' WHERE name = 'manual'");
  CHECK(pg.psql(report("manual", "'192.0.2.30', 5, 500"), "loadns", "web1") == "0");
  // The operator's settings survive the agent's reports.
  CHECK(q("SELECT connections, agent_capacity, capacity, weight, registered_by FROM "
          "loadns.backends WHERE name = 'manual'") == "5|500|100|3|web1");
  CHECK(refusal("web2", report("manual", "'192.0.2.30', 5")).find("registered by another login") !=
        std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "each bad address is refused, naming the problem, and changes nothing") {
  pg.psql(report("web1", "'192.0.2.11', 5, 100"), "loadns", "web1");
  const auto before = rows();
  struct bad {
    const char* args;
    const char* problem;
  };
  const bad cases[] = {
      {"'0.0.0.0', 1", "address 0.0.0.0 of backend \"web1\" is an unspecified address"},
      {"'0.1.2.3', 1", "is an unspecified address"},
      {"'::', 1", "address :: of backend \"web1\" is an unspecified address"},
      {"'224.0.0.1', 1", "is a multicast address"},
      {"'239.1.2.3', 1", "is a multicast address"},
      {"'ff02::1', 1", "is a multicast address"},
      {"'255.255.255.255', 1", "is the broadcast address"},
      {"'127.0.0.1', 1", "is a loopback address, which the service's agent_networks does not list"},
      {"'::1', 1", "is a loopback address"},
      {"'169.254.10.1', 1", "is a link-local address"},
      {"'fe80::1', 1", "is a link-local address"},
      {"'::ffff:192.0.2.11', 1", "is an IPv4-mapped IPv6 address"},
      {"'192.0.2.11', 1, NULL, false, true, NULL, 'ff02::1'",
       "second address ff02::1 of backend \"web1\" is a multicast address"},
      {"'2001:db8::11', 1, NULL, false, true, NULL, '127.0.0.1'",
       "second address 127.0.0.1 of backend \"web1\" is a loopback address"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    const auto err = refusal("web1", report("web1", c.args));
    CHECK_MESSAGE(err.find("42501") != std::string::npos, err);
    CHECK_MESSAGE(err.find(c.problem) != std::string::npos, err);
  }
  // A first report with a bad address registers nothing.
  CHECK(refusal("web2", report("web2", "'127.0.0.2', 1")).find("loopback") != std::string::npos);
  CHECK(rows() == before);

  // agent_networks: inside only; loopback and link-local when listed; unspecified, multicast
  // and broadcast never.
  q("UPDATE loadns.services SET agent_networks = '{192.0.2.0/28,127.0.0.0/8,fe80::/10}' "
    "WHERE name = 'api.example.com'");
  const auto err = refusal("web1", report("web1", "'192.0.2.77', 1"));
  CHECK_MESSAGE(
      err.find("address 192.0.2.77 of backend \"web1\" is outside the service's "
               "agent_networks {192.0.2.0/28,127.0.0.0/8,fe80::/10}") != std::string::npos,
      err);
  CHECK(refusal("web1", report("web1", "'2001:db8::11', 1")).find("outside") != std::string::npos);
  CHECK(refusal("web1", report("web1", "'169.254.1.1', 1")).find("link-local") !=
        std::string::npos);
  CHECK(rows() == before);
  q("UPDATE loadns.services SET agent_networks = '{0.0.0.0/0,::/0}' WHERE name = "
    "'api.example.com'");
  CHECK(refusal("web1", report("web1", "'224.0.0.1', 1")).find("multicast") != std::string::npos);
  CHECK(refusal("web1", report("web1", "'0.0.0.0', 1")).find("unspecified") != std::string::npos);
  q("UPDATE loadns.services SET agent_networks = '{192.0.2.0/28,127.0.0.0/8,fe80::/10}' "
    "WHERE name = 'api.example.com'");
  for (const std::string good : {"'192.0.2.11', 2", "'127.0.0.11', 3", "'fe80::11', 4",
                                 "'127.0.0.11', 5, NULL, false, true, NULL, 'fe80::11'"}) {
    CAPTURE(good);
    CHECK(pg.psql_error(report("web1", good), "web1").empty());
  }
  CHECK(q("SELECT host(address), host(second_address), connections FROM loadns.backends WHERE "
          "name = 'web1'") == "127.0.0.11|fe80::11|5");
}

TEST_CASE_FIXTURE(fixture, "superusers and the schema owner are trusted") {
  // postgres (superuser, and here the schema owner): an agent's row, a loopback address and a
  // service without grants are all fine; a row it creates is an operator's.
  pg.psql(report("web1", "'192.0.2.11', 5"), "loadns", "web1");
  CHECK(q(report("web1", "'127.0.0.1', 6")) == "0");
  CHECK(q(report("manual", "'::1', 7")) == "0");
  CHECK(q(report("op1", "'192.0.2.40', 1", "other.example.com")) == "0");
  CHECK(q("SELECT string_agg(name || ':' || coalesce(registered_by, '-'), ',' ORDER BY name) "
          "FROM loadns.backends") == "manual:-,op1:-,web1:web1");

  // A database migrated by an owner that is no superuser: the owner and its members are
  // trusted, an agent is not.
  pg_cluster other;
  other.psql(
      "CREATE ROLE owner LOGIN; CREATE ROLE operator LOGIN IN ROLE owner;"
      "CREATE ROLE loadns_agent NOLOGIN; CREATE ROLE loadns_server NOLOGIN;"
      "CREATE ROLE web1 LOGIN IN ROLE loadns_agent; CREATE DATABASE loadns OWNER owner;",
      "postgres");
  loadns::db::migrate(other.conninfo("loadns", "owner"));
  other.psql(
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name) VALUES ('api.example.com');",
      "loadns", "owner");
  CHECK(other.psql(report("b1", "'127.0.0.1', 1"), "loadns", "owner") == "0");
  CHECK(other.psql(report("b1", "'127.0.0.2', 2"), "loadns", "operator") == "0");
  CHECK(other.psql_error(report("b1", "'192.0.2.1', 3"), "web1").find("has no grant") !=
        std::string::npos);
  CHECK(other.psql("SELECT host(address) || ':' || connections || ':' || "
                   "coalesce(registered_by, '-') FROM loadns.backends",
                   "loadns", "owner") == "127.0.0.2:2:-");
}

TEST_CASE_FIXTURE(fixture, "grants follow their service: renamed with it, deleted with it") {
  q("UPDATE loadns.services SET name = 'api2.example.com' WHERE name = 'api.example.com'");
  CHECK(q("SELECT string_agg(login || '@' || service, ',' ORDER BY login) FROM "
          "loadns.agent_grants") == "web1@api2.example.com,web2@api2.example.com");
  CHECK(pg.psql(report("web1", "'192.0.2.11', 5", "api2.example.com"), "loadns", "web1") == "0");
  q("DELETE FROM loadns.services WHERE name = 'api2.example.com'");
  CHECK(q("SELECT count(*) FROM loadns.agent_grants") == "0");
  CHECK(pg.psql_error("INSERT INTO loadns.agent_grants (login, service) VALUES ('web1', "
                      "'nope.example.com')")
            .find("agent_grants_service_fkey") != std::string::npos);
  // Agents and servers cannot read or write grants.
  for (const auto& login : {"web1", "server"}) {
    CHECK(pg.psql_error("SELECT * FROM loadns.agent_grants", login).find("permission denied") !=
          std::string::npos);
    CHECK(
        pg.psql_error("INSERT INTO loadns.agent_grants VALUES ('web1', 'other.example.com')", login)
            .find("permission denied") != std::string::npos);
  }
}

TEST_CASE_FIXTURE(fixture, "a function created after the migrations is not executable by PUBLIC") {
  q("CREATE FUNCTION loadns.added_later() RETURNS integer LANGUAGE sql RETURN 1");
  CHECK(pg.psql_error("SELECT loadns.added_later()", "web1").find("permission denied") !=
        std::string::npos);
  CHECK(pg.psql_error("SELECT loadns.added_later()", "server").find("permission denied") !=
        std::string::npos);
  CHECK(q("SELECT loadns.added_later()") == "1");
}

TEST_CASE(
    "an upgraded database: its rows are the operator's until handed over as the README says") {
  pg_cluster pg;
  pg.create_database_at(5);  // as migrations 0001-0005 left it, before agents were checked
  pg.psql(
      "CREATE ROLE agent LOGIN IN ROLE loadns_agent;"
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name) VALUES ('api.example.com');"
      "INSERT INTO loadns.backends (service, name, address) VALUES "
      "('api.example.com', 'manual', '192.0.2.30');");
  // Then every agent reported under one shared login, for any row.
  CHECK(pg.psql(report("web1", "'192.0.2.11', 5"), "loadns", "agent") == "0");
  CHECK(pg.psql(report("web2", "'192.0.2.12', 6"), "loadns", "agent") == "0");

  const auto result = loadns::db::migrate(pg.conninfo());
  REQUIRE_FALSE(result.applied.empty());
  CHECK(result.applied.front().rfind("0006_", 0) == 0);
  // Every existing row is the operator's; the agent's reports are refused and change nothing.
  CHECK(pg.psql("SELECT count(*) FROM loadns.backends WHERE registered_by IS NULL") == "3");
  const auto before =
      pg.psql("SELECT string_agg(b::text, E'\\n' ORDER BY id) FROM loadns.backends b");
  CHECK(pg.psql_error(report("web1", "'192.0.2.11', 7"), "agent").find("has no grant") !=
        std::string::npos);
  pg.psql("INSERT INTO loadns.agent_grants (login, service) VALUES ('agent', 'api.example.com')");
  CHECK(pg.psql_error(report("web1", "'192.0.2.11', 7"), "agent").find("is an operator's row") !=
        std::string::npos);
  CHECK(pg.psql("SELECT string_agg(b::text, E'\\n' ORDER BY id) FROM loadns.backends b") == before);
  pg.psql("DELETE FROM loadns.agent_grants");

  // The README's statements, in one transaction: the rows agents reported for are theirs
  // again, the operator's own row stays the operator's.
  pg.psql("BEGIN;\n" + readme_upgrade_sql() + "COMMIT;");
  CHECK(pg.psql(report("web1", "'192.0.2.11', 7"), "loadns", "agent") == "0");
  CHECK(pg.psql(report("web2", "'192.0.2.12', 8"), "loadns", "agent") == "0");
  CHECK(pg.psql("SELECT string_agg(name || ':' || coalesce(registered_by, '-') || ':' || "
                "connections, ',' ORDER BY name) FROM loadns.backends") ==
        "manual:-:0,web1:agent:7,web2:agent:8");
  CHECK(pg.psql_error(report("manual", "'192.0.2.30', 1"), "agent").find("is an operator's row") !=
        std::string::npos);
}
