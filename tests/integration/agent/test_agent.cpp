// The real loadns-agent binary against a real PostgreSQL (tests/support/pg_cluster.hpp) and real
// loopback connections: reports follow connections, outages are ridden out, SIGTERM drains,
// bad flags are refused.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"

using namespace std::chrono_literals;
using loadns::test::connection_set;
using loadns::test::eventually;
using loadns::test::pg_cluster;
using loadns::test::tcp_listener;

using namespace loadns::test::agent;

namespace {

using clock_type = std::chrono::steady_clock;

}  // namespace

TEST_CASE("the reported count follows real connections within two intervals") {
  database db;
  tcp_listener v4("127.0.0.1");
  tcp_listener v6("::1", v4.port());
  tcp_listener other("127.0.0.1");  // another port: never counted
  agent_process agent(db.agent_args("b1", v4.port()));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(0); }), agent.log());

  connection_set c4(v4), c6(v6), c_other(other);
  c_other.open(9);
  const auto step = [&](std::size_t n4, std::size_t n6) {
    if (n4 > c4.size())
      c4.open(n4 - c4.size());
    else
      c4.close(c4.size() - n4);
    if (n6 > c6.size())
      c6.open(n6 - c6.size());
    else
      c6.close(c6.size() - n6);
    const std::string want = row(static_cast<long>(n4 + n6));
    CAPTURE(want);
    std::string seen;
    CHECK_MESSAGE(eventually(2 * interval, [&] { return (seen = db.backend("b1")) == want; }),
                  seen);
  };
  step(10, 0);
  step(10, 5);
  step(4, 5);
  step(250, 0);
  step(0, 0);
  CHECK(agent.running());

  // One line per state change, not one per report: a dozen reports, a handful of lines.
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "connected to the database") == 1);
  CHECK(occurrences(log, "\n") <= 4);
}

TEST_CASE("PostgreSQL stopped and restarted under a running agent: reports resume") {
  database db;
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(2);
  agent_process agent(db.agent_args("b1", l.port()));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(2); }), agent.log());

  db.pg.stop();
  conns.open(5);  // counted while the database is away, reported when it is back
  // The outage lasts until the agent has seen it (a failed report), not a guessed time.
  CHECK_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database connection lost") == 1; }),
      agent.log());
  CHECK(agent.running());
  db.pg.start();
  std::string seen;
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(7); }), seen);
  CHECK(agent.running());

  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "database connection lost") == 1);
  CHECK(occurrences(log, "reports resumed") == 1);

  // A crash (SIGKILL of the postmaster) is ridden out the same way.
  db.pg.kill();
  conns.close(3);
  CHECK_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database connection lost") == 2; }),
      agent.log());
  db.pg.start();
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(4); }), seen);
  CHECK(agent.running());
}

TEST_CASE("a database down at start is waited out and is not an exit") {
  database db;
  tcp_listener l("127.0.0.1");
  const auto args = db.agent_args("b1", l.port());  // creates the agent's login: before the stop
  db.pg.stop();
  connection_set conns(l);
  conns.open(3);
  agent_process agent(args);
  REQUIRE_MESSAGE(
      eventually(10s, [&] { return occurrences(agent.log(), "database unreachable") >= 1; }),
      agent.log());
  REQUIRE(agent.running());
  db.pg.start();
  std::string seen;
  CHECK_MESSAGE(eventually(15s, [&] { return (seen = db.backend("b1")) == row(3); }), seen);
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(occurrences(log, "database unreachable") == 1);
}

TEST_CASE("SIGTERM reports draining then exits 0 but --no-drain-on-exit does not") {
  database db;
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(4);

  agent_process drains(db.agent_args("b1", l.port(), {"--interval", "1h"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b1") == row(4); }), drains.log());
  // The interval is an hour: only a wait woken by the signal exits in time.
  const auto t0 = clock_type::now();
  drains.signal(SIGTERM);
  CHECK(drains.wait_exit(3s) == 0);
  CHECK(clock_type::now() - t0 < 2s);
  CHECK(db.backend("b1") == row(4, true, "draining"));

  agent_process keeps(db.agent_args("b2", l.port(), {"--no-drain-on-exit"}));
  REQUIRE_MESSAGE(eventually(10s, [&] { return db.backend("b2") == row(4); }), keeps.log());
  keeps.signal(SIGINT);
  CHECK(keeps.wait_exit(3s) == 0);
  CHECK(db.backend("b2") == row(4));
}

TEST_CASE("--capacity is reported and the password never reaches the log") {
  database db;
  tcp_listener l("127.0.0.1");
  auto args = db.agent_args("b1", l.port(), {"--capacity", "100", "--counter", "proc"});
  args[1] += " password=topsecret-42";  // trust auth ignores it; the agent must not print it
  agent_process agent(args);
  std::string seen;
  CHECK_MESSAGE(eventually(10s, [&] { return (seen = db.backend("b1")) == row(0); }),
                (seen + "\n" + agent.log()));
  CHECK(db.query("SELECT capacity FROM loadns.backend_status WHERE name = 'b1'") == "100");
  agent.signal(SIGTERM);
  CHECK_MESSAGE(agent.wait_exit(5s) == 0, agent.log());
  const std::string log = agent.log();
  CAPTURE(log);
  CHECK(log.find("topsecret") == std::string::npos);
  CHECK(log.find("password=********") != std::string::npos);
  CHECK(log.find("/proc/net/tcp") != std::string::npos);  // the forced method is logged
}

TEST_CASE("bad flags: a clear message and a non-zero exit while --help and --version exit 0") {
  struct bad {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<bad> cases = {
      {{"--service", "api.example.com", "--address", "192.0.2.1", "--port", "80"}, "--db"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "99999"},
       "--port"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "nowhere", "--port", "80"},
       "address"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "80",
        "--interval", "fast"},
       "duration"},
      {{"--db", "host=127.0.0.1", "--service", "a", "--address", "192.0.2.1", "--port", "80",
        "--what"},
       "--what"},
  };
  for (const auto& c : cases) {
    agent_process agent(c.args);
    const int code = agent.wait_exit(5s);
    const std::string log = agent.log();
    CAPTURE(log);
    CHECK(code == 2);
    CHECK(log.find(c.says) != std::string::npos);
  }
  agent_process help({"--help"});
  CHECK(help.wait_exit(5s) == 0);
  CHECK(help.log().find("--no-drain-on-exit") != std::string::npos);
  agent_process version({"--version"});
  CHECK(version.wait_exit(5s) == 0);
  CHECK(version.log().find(LOADNS_VERSION) != std::string::npos);
}

TEST_CASE("--address once per family: the second address reaches report(second_address)") {
  database db;
  tcp_listener l("127.0.0.1");
  agent_process agent(db.agent_args("b1", l.port(), {"--address", "2001:db8::10"}));
  std::string seen;
  CHECK_MESSAGE(
      eventually(10s,
                 [&] {
                   return (seen = db.query("SELECT host(address) || '|' || host(second_address) "
                                           "FROM loadns.backends WHERE name = 'b1'")) ==
                          "192.0.2.10|2001:db8::10";
                 }),
      seen << "\n"
           << agent.log());
}
