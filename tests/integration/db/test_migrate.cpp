// loadns::db::migrate and check_connection against a real cluster: an empty database gets
// every migration, a second run changes nothing, concurrent runs are safe, the result equals
// schema/schema.sql, and the start-up check explains what is wrong.
#include "server/db/migrate.hpp"

#include <doctest/doctest.h>

#include <future>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/db/migrations.hpp"
#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;

namespace {

std::string dump_schema(const pg_cluster& pg, const std::string& db) {
  auto r = loadns::test::run_process({"pg_dump", "--schema-only", "--no-owner", "-h", "127.0.0.1",
                                      "-p", std::to_string(pg.port()), "-U", "postgres", db});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  // Comments, blank lines and pg_dump's per-run \restrict keys are not schema.
  std::istringstream in(r.out);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("--", 0) == 0 || line.rfind("\\restrict", 0) == 0 ||
        line.rfind("\\unrestrict", 0) == 0) {
      continue;
    }
    out += line + '\n';
  }
  return out;
}

std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream ia(a), ib(b);
  std::string la, lb;
  int n = 0;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(ia, la));
    const bool gb = static_cast<bool>(std::getline(ib, lb));
    ++n;
    if (!ga && !gb) return {};
    if (!ga || !gb || la != lb) {
      return "line " + std::to_string(n) + ":\n  migrated:   " + (ga ? la : "<end>") +
             "\n  schema.sql: " + (gb ? lb : "<end>");
    }
  }
}

}  // namespace

TEST_CASE("migrate applies every migration to an empty database, then nothing") {
  pg_cluster pg;
  pg.create_database("loadns");
  const auto all = loadns::db::embedded_migrations();
  REQUIRE(all.size() >= 1);

  const auto first = loadns::db::migrate(pg.conninfo());
  REQUIRE(first.applied.size() == all.size());
  for (std::size_t i = 0; i < all.size(); ++i) CHECK(first.applied[i] == all[i].name);
  CHECK(pg.psql("SELECT count(*) FROM loadns.schema_migrations") == std::to_string(all.size()));
  CHECK(pg.psql("SELECT string_agg(name, ',' ORDER BY version) FROM loadns.schema_migrations")
            .find(std::string(all[0].name)) == 0);

  const auto before = pg.psql(
      "SELECT string_agg(version || ':' || applied_at, ',') "
      "FROM loadns.schema_migrations");
  const auto second = loadns::db::migrate(pg.conninfo());
  CHECK(second.applied.empty());
  CHECK(pg.psql("SELECT string_agg(version || ':' || applied_at, ',') "
                "FROM loadns.schema_migrations") == before);
  loadns::db::check_connection(pg.conninfo());
}

TEST_CASE("concurrent migrate runs are safe: each migration applied exactly once") {
  pg_cluster pg;
  pg.create_database("loadns");
  std::vector<std::future<loadns::db::migrate_result>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(
        std::async(std::launch::async, [&] { return loadns::db::migrate(pg.conninfo()); }));
  }
  std::size_t total = 0;
  for (auto& r : runs) total += r.get().applied.size();
  CHECK(total == loadns::db::embedded_migrations().size());
  CHECK(pg.psql("SELECT count(*) FROM loadns.schema_migrations") ==
        std::to_string(loadns::db::embedded_migrations().size()));
}

TEST_CASE("two databases of one cluster can be migrated at once (roles are cluster-wide)") {
  pg_cluster pg;
  pg.create_database("one");
  pg.create_database("two");
  auto a = std::async(std::launch::async, [&] { return loadns::db::migrate(pg.conninfo("one")); });
  auto b = std::async(std::launch::async, [&] { return loadns::db::migrate(pg.conninfo("two")); });
  CHECK(a.get().applied.size() == loadns::db::embedded_migrations().size());
  CHECK(b.get().applied.size() == loadns::db::embedded_migrations().size());
}

TEST_CASE("the migrated schema equals schema/schema.sql") {
  pg_cluster pg;
  pg.create_database("migrated");
  pg.create_database("from_file");
  loadns::db::migrate(pg.conninfo("migrated"));
  auto r = loadns::test::run_process({"psql", "-XAq", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                                      "-p", std::to_string(pg.port()), "-U", "postgres", "-d",
                                      "from_file", "-f", LOADNS_SOURCE_DIR "/schema/schema.sql"});
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const auto migrated = dump_schema(pg, "migrated");
  const auto from_file = dump_schema(pg, "from_file");
  CHECK(migrated.find("CREATE TABLE loadns.backends") != std::string::npos);
  const auto diff = first_difference(migrated, from_file);
  CHECK_MESSAGE(diff.empty(), "schema.sql differs from the migrations at ", diff);
}

TEST_CASE("migrate names the failing migration and leaves nothing of it behind") {
  pg_cluster pg;
  pg.create_database("loadns");
  // A table in the way of migration 0001 makes it fail half way.
  pg.psql("CREATE SCHEMA loadns; CREATE TABLE loadns.zones (x int)");
  try {
    loadns::db::migrate(pg.conninfo());
    FAIL("migrate did not throw");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    CHECK(what.find(std::string(loadns::db::embedded_migrations()[0].name)) != std::string::npos);
    CHECK(what.find("already exists") != std::string::npos);
  }
  CHECK(pg.psql("SELECT count(*) FROM loadns.schema_migrations") == "0");
  CHECK(pg.psql("SELECT to_regclass('loadns.services') IS NULL") == "t");
}

TEST_CASE("migrate and check_connection explain an unreachable database without the password") {
  pg_cluster pg;
  const auto bad = "host=127.0.0.1 port=" + std::to_string(pg.port()) +
                   " dbname=does_not_exist user=postgres password=hunter2 connect_timeout=3";
  for (auto fn : {+[](const std::string& c) { loadns::db::migrate(c); },
                  +[](const std::string& c) { loadns::db::check_connection(c); }}) {
    try {
      fn(bad);
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      CHECK(what.find("does_not_exist") != std::string::npos);
      CHECK(what.find("hunter2") == std::string::npos);
      CHECK(what.find("cannot connect") != std::string::npos);
    }
  }
}

TEST_CASE("check_connection says when the schema is missing or not readable") {
  pg_cluster pg;
  pg.create_database("loadns");
  try {
    loadns::db::check_connection(pg.conninfo());
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("migrate") != std::string::npos);
  }
  loadns::db::migrate(pg.conninfo());
  pg.psql("CREATE ROLE nobody LOGIN");
  try {
    loadns::db::check_connection(pg.conninfo("loadns", "nobody"));
    FAIL("no exception");
  } catch (const std::runtime_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("loadns_server") != std::string::npos);
  }
  pg.psql("GRANT loadns_server TO nobody");
  loadns::db::check_connection(pg.conninfo("loadns", "nobody"));
}

TEST_CASE("a database owner without superuser or CREATEROLE can migrate") {
  pg_cluster pg;
  // What an administrator of a managed PostgreSQL does once.
  pg.psql(
      "CREATE ROLE owner LOGIN; CREATE ROLE loadns_agent NOLOGIN; "
      "CREATE ROLE loadns_server NOLOGIN; CREATE ROLE agent LOGIN IN ROLE loadns_agent;",
      "postgres");
  pg.psql("CREATE DATABASE loadns OWNER owner", "postgres");
  const auto result = loadns::db::migrate(pg.conninfo("loadns", "owner"));
  CHECK(result.applied.size() == loadns::db::embedded_migrations().size());
  pg.psql(
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name) VALUES ('api.example.com');"
      "INSERT INTO loadns.agent_grants (login, service) VALUES ('agent', 'api.example.com')",
      "loadns", "owner");
  pg.psql("SELECT loadns.report('api.example.com', 'b1', '192.0.2.10', 1)", "loadns", "agent");
  CHECK(pg.psql("SELECT count(*) FROM loadns.backends", "loadns", "owner") == "1");
}
