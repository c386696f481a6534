// The real loadns-agent against a real PostgreSQL when the database stalls and when report()
// asks it to shed: a SIGTERM during a call blocked on `LOCK loadns.backends` cancels the call
// and still attempts the draining report, inside a systemd stop timeout; a shed count runs
// --on-shed with LOADNS_SHED and, with --shed destroy, closes exactly that many of the newest
// connections.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/eventually.hpp"

using namespace std::chrono_literals;
using namespace loadns::test::agent;
using loadns::test::connection_set;
using loadns::test::eventually;
using loadns::test::tcp_listener;
using steady = std::chrono::steady_clock;

namespace {

// deploy/systemd/loadns-agent.service: TimeoutStopSec=10s, then SIGKILL.
constexpr auto unit_stop_timeout = 10s;

// `psql` holding `LOCK loadns.backends` in an open transaction until killed.
class lock_holder {
 public:
  explicit lock_holder(const database& db) : db_(db) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      const std::string conninfo =
          db.pg.conninfo("loadns", "postgres") + " application_name=lock_holder";
      ::execl("/usr/bin/psql", "psql", "-X", "-q", "-d", conninfo.c_str(), "-c",
              "BEGIN; LOCK loadns.backends; SELECT pg_sleep(120);", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(eventually(10s, [&] {
      return db.query(
                 "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                 "WHERE c.relname = 'backends' AND l.mode = 'AccessExclusiveLock' AND "
                 "l.granted") == "1";
    }));
  }
  ~lock_holder() { release(); }
  lock_holder(const lock_holder&) = delete;
  lock_holder& operator=(const lock_holder&) = delete;
  void release() {
    if (pid_ > 0) {
      // A backend in pg_sleep() does not notice its client going: end it from the server.
      (void)db_.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
          "'lock_holder'");
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

 private:
  const database& db_;
  pid_t pid_ = -1;
};

bool agent_waits_on_lock(const database& db) {
  return db.query(
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
             "'loadns-agent' AND wait_event_type = 'Lock'") == "1";
}

long ms_since(steady::time_point t0) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count());
}

}  // namespace

TEST_CASE(
    "SIGTERM while blocked on LOCK loadns.backends: cancelled, draining attempted, exit in time") {
  database db;
  tcp_listener l("127.0.0.1");
  SUBCASE("the lock goes away during the draining attempt: the drain lands") {
    // --sql-timeout 30s: without the cancel the blocked report would outlive the stop timeout.
    agent_process agent(db.agent_args("b1", l.port(), {"--sql-timeout", "30s"}));
    REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());
    lock_holder lock(db);
    REQUIRE_MESSAGE(eventually(5s, [&] { return agent_waits_on_lock(db); }), agent.log());
    const auto t0 = steady::now();
    agent.signal(SIGTERM);
    // The blocked report is cancelled at once; the draining report then waits on the lock,
    // which goes away a second later.
    REQUIRE(eventually(5s, [&] {
      return occurrences(agent.log(), "SIGTERM received") == 1 && agent_waits_on_lock(db);
    }));
    const long cancelled_ms = ms_since(t0);
    std::this_thread::sleep_for(1s);  // a lock held a little longer, as by a migration
    lock.release();
    const int code = agent.wait_exit(unit_stop_timeout);
    const long exit_ms = ms_since(t0);
    const std::string log = agent.log();
    CAPTURE(log);
    MESSAGE("SIGTERM -> blocked call cancelled and draining attempt waiting within "
            << cancelled_ms << " ms; exit after " << exit_ms << " ms");
    CHECK(code == 0);
    CHECK(exit_ms < 10'000);
    CHECK(db.backend("b1") == row(0, true, "draining"));
    CHECK(log.find("reported draining") != std::string::npos);
  }
  SUBCASE("the lock stays: the draining attempt gives up at the SQL timeout, still in time") {
    agent_process agent(db.agent_args("b1", l.port()));  // default --sql-timeout 5s
    REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());
    lock_holder lock(db);
    REQUIRE_MESSAGE(eventually(5s, [&] { return agent_waits_on_lock(db); }), agent.log());
    const auto t0 = steady::now();
    agent.signal(SIGTERM);
    const int code = agent.wait_exit(unit_stop_timeout);
    const long exit_ms = ms_since(t0);
    const std::string log = agent.log();
    CAPTURE(log);
    MESSAGE("SIGTERM with the lock kept -> exit after " << exit_ms << " ms");
    CHECK(code == 0);
    CHECK(exit_ms < 10'000);
    CHECK(exit_ms >= 4'000);  // it did wait for the lock, up to the SQL timeout
    CHECK(log.find("could not report draining") != std::string::npos);
    CHECK(log.find("timeout") != std::string::npos);
  }
}

TEST_CASE("a report blocked on a lock gives up at --sql-timeout and the agent goes on") {
  database db;
  tcp_listener l("127.0.0.1");
  agent_process agent(db.agent_args("b1", l.port(), {"--sql-timeout", "1s"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());
  {
    lock_holder lock(db);
    CHECK_MESSAGE(
        eventually(5s, [&] { return agent.log().find("report timed out") != std::string::npos; }),
        agent.log());
  }
  connection_set conns(l);
  conns.open(3);
  std::string seen;
  CHECK_MESSAGE(eventually(10s, [&] { return (seen = db.backend("b1")) == row(3); }), seen);
  CHECK(agent.running());
}

namespace {

// report() replaced by a plain upsert that returns a shed count the test sets once (then
// NULL), so the agent's side is tested apart from the service's shed computation.
void fake_shed_report(const database& db) {
  db.pg.psql(R"sql(
    CREATE TABLE loadns.test_shed (n bigint);
    DROP FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean, text, inet);
    CREATE FUNCTION loadns.report(service text, name text, address inet,
        connections bigint, capacity bigint DEFAULT NULL, draining boolean DEFAULT false,
        healthy boolean DEFAULT true, check_detail text DEFAULT NULL,
        second_address inet DEFAULT NULL) RETURNS bigint
      LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        INSERT INTO loadns.backends (service, name, address, connections, reported_at)
        VALUES ($1, $2, $3, $4, now())
        ON CONFLICT ON CONSTRAINT backends_service_name_unique
        DO UPDATE SET connections = excluded.connections, reported_at = now();
        DELETE FROM loadns.test_shed RETURNING n;
      $$;
    GRANT EXECUTE ON FUNCTION loadns.report(text, text, inet, bigint, bigint, boolean, boolean,
        text, inet) TO loadns_agent;
  )sql");
}

// Client sockets to `l`, each with its accepted end, in this process: the test sees which
// ones the agent closed.
struct held_connection {
  int client = -1;
  int server = -1;
};

held_connection connect_to(const tcp_listener& l) {
  held_connection c;
  c.client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(l.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(c.client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  c.server = ::accept4(l.fd(), nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(c.server >= 0);
  return c;
}

// True when the peer reset the connection (the agent destroyed the server end).
bool was_reset(const held_connection& c) {
  pollfd p{c.client, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char b = 0;
  const ssize_t n = ::recv(c.client, &b, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

}  // namespace

TEST_CASE("--shed destroy closes exactly the shed count, the newest connections first") {
  database db;
  fake_shed_report(db);
  tcp_listener l("127.0.0.1");
  std::vector<held_connection> old_ones;
  for (int i = 0; i < 7; ++i) old_ones.push_back(connect_to(l));
  agent_process agent(db.agent_args("b1", l.port(), {"--shed", "destroy"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(7); }), agent.log());
  // The old connections have been dumped (so the kernel gave them cookies) before these exist.
  std::vector<held_connection> new_ones;
  for (int i = 0; i < 3; ++i) new_ones.push_back(connect_to(l));
  REQUIRE_MESSAGE(eventually(5s, [&] { return db.backend("b1") == row(10); }), agent.log());

  db.pg.psql("INSERT INTO loadns.test_shed VALUES (3)");
  REQUIRE_MESSAGE(eventually(5s,
                             [&] {
                               int reset = 0;
                               for (const auto& c : new_ones) reset += was_reset(c) ? 1 : 0;
                               return reset == 3;
                             }),
                  agent.log());
  for (const auto& c : old_ones) CHECK_FALSE(was_reset(c));
  CHECK_MESSAGE(eventually(5s, [&] { return db.backend("b1") == row(7); }), agent.log());
  const std::string log = agent.log();
  CHECK(log.find("report asks to shed 3 connections: closed 3 of the newest connections") !=
        std::string::npos);
  for (auto& c : old_ones) ::close(c.client), ::close(c.server);
  for (auto& c : new_ones) ::close(c.client), ::close(c.server);
}

TEST_CASE("--on-shed runs the command with LOADNS_SHED") {
  database db;
  fake_shed_report(db);
  tcp_listener l("127.0.0.1");
  const auto out = std::filesystem::temp_directory_path() /
                   ("loadns-agent-on-shed-" + std::to_string(::getpid()));
  agent_process agent(
      db.agent_args("b1", l.port(), {"--on-shed", "echo \"$LOADNS_SHED\" > " + out.string()}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());
  db.pg.psql("INSERT INTO loadns.test_shed VALUES (42)");
  std::string seen;
  CHECK_MESSAGE(eventually(5s,
                           [&] {
                             std::ifstream in(out);
                             std::getline(in, seen);
                             return seen == "42";
                           }),
                seen << "\n"
                     << agent.log());
  std::filesystem::remove(out);
}
