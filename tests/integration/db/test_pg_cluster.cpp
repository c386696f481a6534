// The harness itself: a cluster starts, answers, survives stop/kill + start on its port, and
// its folder disappears with it.
#include "tests/support/pg_cluster.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <stdexcept>

using loadns::test::pg_cluster;

TEST_CASE("pg_cluster starts, restarts on the same port and cleans up") {
  std::filesystem::path dir;
  {
    pg_cluster pg;
    dir = pg.dir();
    CHECK(pg.port() != 0);
    CHECK(pg.psql("SELECT 40 + 2", "postgres") == "42");
    CHECK(pg.psql("SHOW fsync", "postgres") == "off");

    const auto port = pg.port();
    pg.stop();
    CHECK_THROWS_AS(pg.psql("SELECT 1", "postgres"), std::runtime_error);
    pg.start();
    CHECK(pg.port() == port);
    CHECK(pg.psql("SELECT 1", "postgres") == "1");

    pg.kill();
    CHECK_THROWS_AS(pg.psql("SELECT 1", "postgres"), std::runtime_error);
    pg.start();
    CHECK(pg.port() == port);
    CHECK(pg.psql("SELECT 2", "postgres") == "2");
    CHECK(std::filesystem::exists(dir));
  }
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("pg_cluster psql reports SQL errors with psql's message") {
  pg_cluster pg;
  try {
    pg.psql("SELECT * FROM no_such_table", "postgres");
    FAIL("psql did not throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("no_such_table") != std::string::npos);
  }
}

TEST_CASE("create_loadns_database gives the login roles agent and server") {
  pg_cluster pg;
  pg.create_loadns_database();
  CHECK(pg.psql("SELECT current_user", "loadns", "agent") == "agent");
  CHECK(pg.psql("SELECT current_user", "loadns", "server") == "server");
  CHECK(pg.conninfo() ==
        "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=loadns user=postgres");
}

TEST_CASE("two clusters run side by side") {
  pg_cluster a;
  pg_cluster b;
  CHECK(a.port() != b.port());
  a.create_database("one");
  CHECK(a.psql("SELECT 1", "one") == "1");
  CHECK_THROWS(b.psql("SELECT 1", "one"));
}
