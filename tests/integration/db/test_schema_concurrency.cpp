// The name checks of the schema under concurrent writers (migrations/0004): a CNAME alone at
// its name (RFC 2181 10.1) and no static A/AAAA/CNAME at a balanced service's name hold when
// two transactions write one name at once. The second writer is shown to wait for the first
// (pg_blocking_pids), then is refused under READ COMMITTED or fails with serialization_failure
// under REPEATABLE READ and SERIALIZABLE; writers of other zones do not wait, and a large
// import still fits in one transaction.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <utility>

#include "tests/support/pg_cluster.hpp"

using loadns::test::pg_cluster;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr auto wait_limit = 10s;

/// One statement run in a transaction of its own, on its own connection and thread, and
/// committed when it succeeds: the second writer, which the test watches wait. Its statements
/// time out after 30 s, and the destructor cancels one still running (pg_cancel_backend from
/// another connection), so a test that fails half way never hangs.
class writer {
 public:
  writer(const std::string& conninfo, std::string sql,
         pqxx::isolation_level level = pqxx::read_committed)
      : conninfo_(conninfo),
        conn_(conninfo + " options='-c statement_timeout=30s'"),
        pid_(conn_.backendpid()),
        thread_([this, sql = std::move(sql), level] { run(sql, level); }) {}
  ~writer() {
    if (!finished()) {
      try {
        pqxx::connection c(conninfo_);
        pqxx::nontransaction(c).exec("SELECT pg_cancel_backend(" + std::to_string(pid_) + ")");
      } catch (const std::exception&) {
        // The statement times out instead.
      }
    }
    if (thread_.joinable()) thread_.join();
  }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  int pid() const noexcept { return pid_; }
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  /// Waits for the transaction to end; its error message, or "" when it committed.
  const std::string& error() {
    if (thread_.joinable()) thread_.join();
    return error_;
  }
  /// The SQLSTATE of the error, or "" (call after error()).
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  template <pqxx::isolation_level level>
  void exec(const std::string& sql) {
    pqxx::transaction<level> tx(conn_);
    tx.exec(sql);
    tx.commit();
  }
  void run(const std::string& sql, pqxx::isolation_level level) {
    try {
      switch (level) {
        case pqxx::read_committed:
          exec<pqxx::read_committed>(sql);
          break;
        case pqxx::repeatable_read:
          exec<pqxx::repeatable_read>(sql);
          break;
        case pqxx::serializable:
          exec<pqxx::serializable>(sql);
          break;
      }
    } catch (const pqxx::sql_error& e) {
      error_ = e.what();
      sqlstate_ = e.sqlstate();
    } catch (const pqxx::serialization_failure& e) {
      // libpqxx 6 raises these two as transaction_rollback, which carries no SQLSTATE.
      error_ = e.what();
      sqlstate_ = "40001";
    } catch (const pqxx::deadlock_detected& e) {
      error_ = e.what();
      sqlstate_ = "40P01";
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    finished_.store(true, std::memory_order_release);
  }

  std::string conninfo_;
  pqxx::connection conn_;
  int pid_;
  std::atomic<bool> finished_{false};
  std::string error_;
  std::string sqlstate_;
  std::thread thread_;  // last: starts once everything it uses exists
};

struct fixture {
  /// A migrated database with two zones; returns its conninfo.
  static std::string prepare(pg_cluster& pg) {
    pg.create_loadns_database();
    pg.psql(
        "INSERT INTO loadns.zones (name, nameservers) VALUES "
        "('example.com', '{ns1.example.com}'), ('example.org', '{ns1.example.org}')");
    return pg.conninfo();
  }

  /// Whether `waiter`'s backend comes to wait for `holder`'s lock within wait_limit, polled.
  bool waits_for(const writer& waiter, const pqxx::connection& holder) {
    const std::string sql = "SELECT " + std::to_string(holder.backendpid()) +
                            " = ANY (pg_blocking_pids(" + std::to_string(waiter.pid()) + "))";
    const auto deadline = steady::now() + wait_limit;
    while (steady::now() < deadline && !waiter.finished()) {
      pqxx::nontransaction n(observer);
      if (n.exec(sql)[0][0].as<bool>()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  /// Whether `w` ends within wait_limit, polled.
  static bool finishes(const writer& w) {
    const auto deadline = steady::now() + wait_limit;
    while (steady::now() < deadline && !w.finished()) std::this_thread::sleep_for(5ms);
    return w.finished();
  }

  std::string q(const std::string& sql) const { return pg.psql(sql); }

  pg_cluster pg;
  pqxx::connection observer{prepare(pg)};  // watches who waits for whom
};

constexpr auto cname_www =
    "INSERT INTO loadns.records (name, type, data) "
    "VALUES ('www.example.com', 'CNAME', 'web.example.org')";
constexpr auto a_www =
    "INSERT INTO loadns.records (name, type, data) "
    "VALUES ('www.example.com', 'A', '192.0.2.80')";
constexpr auto service_api = "INSERT INTO loadns.services (name) VALUES ('api.example.com')";
constexpr auto a_api =
    "INSERT INTO loadns.records (name, type, data) "
    "VALUES ('api.example.com', 'A', '192.0.2.10')";

struct race {
  const char* first;   // committed while the second waits
  const char* second;  // refused once the first has committed
  const char* refusal;
  const char* setup = "";  // run before, on the emptied tables
};

/// Runs `r` on emptied tables: the first writer's transaction stays open while the second
/// writer starts, the second must wait for it, and after the first commits the second must
/// fail with the check's message.
void run_race(fixture& f, const race& r) {
  INFO("first: ", r.first);
  INFO("second: ", r.second);
  f.q(std::string("DELETE FROM loadns.records; DELETE FROM loadns.services;") + r.setup);
  pqxx::connection first_conn(f.pg.conninfo());
  pqxx::work first(first_conn);
  first.exec(r.first);
  writer second(f.pg.conninfo(), r.second);
  CHECK(f.waits_for(second, first_conn));
  CHECK_FALSE(second.finished());
  first.commit();
  CHECK(second.error().find(r.refusal) != std::string::npos);
  CHECK(second.sqlstate() == "23514");  // check_violation, as without a concurrent writer
}

}  // namespace

TEST_CASE_FIXTURE(fixture,
                  "a CNAME and an A record written at one name at once: the second writer waits "
                  "for the first, then is refused") {
  const char* refusal = "\"www.example.com\" cannot have a CNAME and other records";
  run_race(*this, {cname_www, a_www, refusal});
  CHECK(q("SELECT type FROM loadns.records WHERE name = 'www.example.com'") == "CNAME");
  run_race(*this, {a_www, cname_www, refusal});
  CHECK(q("SELECT type FROM loadns.records WHERE name = 'www.example.com'") == "A");
}

TEST_CASE_FIXTURE(fixture,
                  "a service and an A record at one name at once, in either order: the second "
                  "writer waits for the first, then is refused") {
  run_race(*this, {service_api, a_api,
                   "\"api.example.com\" is a balanced service: it cannot have static A records"});
  CHECK(q("SELECT count(*) FROM loadns.records WHERE name = 'api.example.com'") == "0");
  CHECK(q("SELECT count(*) FROM loadns.services WHERE name = 'api.example.com'") == "1");
  run_race(*this, {a_api, service_api,
                   "service \"api.example.com\" clashes with static A, AAAA or CNAME records"});
  CHECK(q("SELECT count(*) FROM loadns.records WHERE name = 'api.example.com'") == "1");
  CHECK(q("SELECT count(*) FROM loadns.services WHERE name = 'api.example.com'") == "0");
}

TEST_CASE_FIXTURE(fixture,
                  "renaming a record or a service onto a name being written at once waits and "
                  "is refused") {
  // An UPDATE takes the turn of the new name's zone: the rename is what could make the
  // conflict.
  run_race(*this, {cname_www,
                   "UPDATE loadns.records SET name = 'www.example.com' "
                   "WHERE name = 'old.example.com'",
                   "\"www.example.com\" cannot have a CNAME and other records",
                   "INSERT INTO loadns.records (name, type, data) "
                   "VALUES ('old.example.com', 'A', '192.0.2.81')"});
  CHECK(q("SELECT name FROM loadns.records WHERE type = 'A'") == "old.example.com");
  run_race(*this, {a_api,
                   "UPDATE loadns.services SET name = 'api.example.com' "
                   "WHERE name = 'old.example.com'",
                   "service \"api.example.com\" clashes with static A, AAAA or CNAME records",
                   "INSERT INTO loadns.services (name) VALUES ('old.example.com')"});
  CHECK(q("SELECT name FROM loadns.services") == "old.example.com");
}

TEST_CASE_FIXTURE(fixture, "the second writer goes ahead when the first rolls back") {
  pqxx::connection first_conn(pg.conninfo());
  pqxx::work first(first_conn);
  first.exec(cname_www);
  writer second(pg.conninfo(), a_www);
  CHECK(waits_for(second, first_conn));
  first.abort();
  CHECK(second.error().empty());
  CHECK(q("SELECT type FROM loadns.records WHERE name = 'www.example.com'") == "A");
}

TEST_CASE_FIXTURE(fixture,
                  "REPEATABLE READ and SERIALIZABLE: the second writer fails with "
                  "serialization_failure, and its retry is refused") {
  // Its snapshot predates the first writer's commit, so the check alone would miss the CNAME;
  // taking the zone's row that the first writer updated fails instead (SQLSTATE 40001).
  for (const auto level : {pqxx::repeatable_read, pqxx::serializable}) {
    INFO("isolation level ", static_cast<int>(level));
    q("DELETE FROM loadns.records");
    pqxx::connection first_conn(pg.conninfo());
    pqxx::work first(first_conn);
    first.exec(cname_www);
    writer second(pg.conninfo(), a_www, level);
    CHECK(waits_for(second, first_conn));
    first.commit();
    CHECK(second.error().find("could not serialize access") != std::string::npos);
    CHECK(second.sqlstate() == "40001");

    writer retry(pg.conninfo(), a_www, level);
    CHECK(retry.error().find("cannot have a CNAME and other records") != std::string::npos);
    CHECK(retry.sqlstate() == "23514");
    CHECK(q("SELECT type FROM loadns.records WHERE name = 'www.example.com'") == "CNAME");
  }
}

TEST_CASE_FIXTURE(fixture, "writers of another zone do not wait for an open transaction") {
  // (Writers of the same zone always waited: each holds its zone's row, whose serial it bumps,
  // until it commits.)
  pqxx::connection first_conn(pg.conninfo());
  pqxx::work first(first_conn);
  first.exec(cname_www);
  writer record(pg.conninfo(),
                "INSERT INTO loadns.records (name, type, data) "
                "VALUES ('www.example.org', 'A', '192.0.2.90')");
  writer service(pg.conninfo(), "INSERT INTO loadns.services (name) VALUES ('api.example.org')");
  CHECK(finishes(record));
  CHECK(finishes(service));
  CHECK(record.error().empty());
  CHECK(service.error().empty());
  CHECK(q("SELECT count(*) FROM loadns.records WHERE name = 'www.example.com'") == "0");
  first.commit();
  CHECK(q("SELECT count(*) FROM loadns.records") == "2");
}

TEST_CASE_FIXTURE(fixture, "an import of 30000 records fits in one transaction") {
  // The turn-taking holds one lock per zone, not one per name: per-name advisory locks, tried
  // first, exhausted the shared lock table (max_connections * max_locks_per_transaction
  // entries; max_connections is 200 here) with "out of shared memory".
  q("INSERT INTO loadns.records (name, type, data) "
    "SELECT 'h' || i || '.example.com', 'A', '192.0.2.1' FROM generate_series(1, 30000) i");
  CHECK(q("SELECT count(*) FROM loadns.records") == "30000");
}
