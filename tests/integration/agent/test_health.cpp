// The real loadns-agent's round-two duties against a real PostgreSQL: health checks that
// report at once (listen, tcp, http, exec), a SIGTERM that cancels a call blocked on a lock
// and still attempts the draining report within a systemd stop timeout, and report()'s shed
// count handed to --on-shed and --shed destroy.

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/http_toggle.hpp"
#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/eventually.hpp"

using namespace std::chrono_literals;
using namespace loadns::test::agent;
using loadns::test::eventually;
using loadns::test::tcp_listener;
using steady = std::chrono::steady_clock;

namespace {

// "healthy|check" of backend `name` ("" while it is not registered).
std::string health(const database& db, const std::string& name) {
  return db.query(
      "SELECT agent_healthy || '|' || coalesce(agent_check, '') FROM loadns.backends "
      "WHERE service = 'api.example.com' AND name = '" +
      name + "'");
}

long ms_since(steady::time_point t0) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count());
}

// An hour between load reports: whatever reaches the database in a test comes from a health
// change (or the first report), never from the interval.
std::vector<std::string> hour_interval(std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"--interval", "1h"});
  return extra;
}

}  // namespace

TEST_CASE("listen check: a listener that vanishes is reported unhealthy at once, back after rise") {
  database db;
  std::optional<listener_process> service;
  service.emplace("127.0.0.1");
  const std::uint16_t port = service->port();
  agent_process agent(db.agent_args("b1", port, hour_interval({})));
  REQUIRE_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());

  const auto killed = steady::now();
  service->kill();
  const std::string down = "false|listen: nothing listens on port " + std::to_string(port);
  std::string seen;
  REQUIRE_MESSAGE(eventually(
                      5s, [&] { return (seen = health(db, "b1")) == down; }, 5ms),
                  seen << "\n"
                       << agent.log());
  const long down_ms = ms_since(killed);
  MESSAGE("listener SIGKILLed -> agent_healthy = false in the database after " << down_ms << " ms");
  CHECK(down_ms < 500);  // one check interval (250 ms) and one report
  CHECK(db.query("SELECT state || '|' || reason FROM loadns.backend_status WHERE name = 'b1'")
            .starts_with("unhealthy|"));

  const auto back = steady::now();
  service.emplace("127.0.0.1", port);
  REQUIRE_MESSAGE(eventually(
                      5s, [&] { return health(db, "b1") == "true|"; }, 5ms),
                  agent.log());
  MESSAGE("listener back -> healthy after " << ms_since(back) << " ms (rise 2 x 250 ms)");
  CHECK(ms_since(back) < 1500);
  const std::string log = agent.log();
  CHECK(occurrences(log, "health: unhealthy: listen: nothing listens on port") == 1);
}

TEST_CASE("listen check with --local-address: a wildcard listener counts, another address not") {
  database db;
  std::optional<tcp_listener> any;
  any.emplace("0.0.0.0");
  const std::uint16_t port = any->port();
  agent_process agent(db.agent_args("b1", port, hour_interval({"--local-address", "127.0.0.1"})));
  REQUIRE_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());
  any.reset();
  tcp_listener elsewhere("127.0.0.2", port);
  const std::string down = "false|listen: nothing listens on port " + std::to_string(port) +
                           " on 127.0.0.1 or a wildcard";
  std::string seen;
  CHECK_MESSAGE(eventually(5s, [&] { return (seen = health(db, "b1")) == down; }), seen);
}

TEST_CASE("http check: a 503 takes the backend out after --fall checks, a 200 brings it back") {
  database db;
  http_toggle http;
  const std::string url = "http://127.0.0.1:" + std::to_string(http.port()) + "/health";
  agent_process agent(db.agent_args("b1", http.port(), hour_interval({"--check", url})));
  REQUIRE_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());

  const auto t0 = steady::now();
  http.set_status(503);
  std::string seen;
  REQUIRE_MESSAGE(
      eventually(
          5s, [&] { return (seen = health(db, "b1")) == "false|http: " + url + " answered 503"; },
          5ms),
      seen << "\n"
           << agent.log());
  MESSAGE("HTTP 503 -> agent_healthy = false after " << ms_since(t0) << " ms (fall 2 x 250 ms)");
  CHECK(ms_since(t0) < 1000);

  const auto t1 = steady::now();
  http.set_status(200);
  REQUIRE_MESSAGE(eventually(
                      5s, [&] { return health(db, "b1") == "true|"; }, 5ms),
                  agent.log());
  MESSAGE("HTTP 200 -> healthy after " << ms_since(t1) << " ms (rise 2 x 250 ms)");
  CHECK(http.requests() >= 4);
}

TEST_CASE("exec and tcp checks, and none") {
  database db;
  SUBCASE("exec: the command's exit status") {
    const auto flag = std::filesystem::temp_directory_path() /
                      ("loadns-agent-exec-" + std::to_string(::getpid()));
    { std::ofstream(flag.string()) << "ok"; }
    tcp_listener l("127.0.0.1");
    const std::string command = "test -e " + flag.string();
    agent_process agent(db.agent_args(
        "b1", l.port(), hour_interval({"--check", "exec:" + command, "--fall", "1"})));
    REQUIRE_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());
    std::filesystem::remove(flag);
    std::string seen;
    CHECK_MESSAGE(
        eventually(
            5s,
            [&] { return (seen = health(db, "b1")) == "false|exec: `" + command + "` exited 1"; }),
        seen << "\n"
             << agent.log());
  }
  SUBCASE("tcp: a refused connection is down at once") {
    std::optional<tcp_listener> l;
    l.emplace("127.0.0.1");
    const std::uint16_t port = l->port();
    auto args = db.agent_args("b1", port, hour_interval({"--check", "tcp", "--fall", "5"}));
    args[5] = "127.0.0.1";  // --address: where the tcp check connects
    agent_process agent(args);
    REQUIRE_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());
    const auto t0 = steady::now();
    l.reset();
    std::string seen;
    CHECK_MESSAGE(eventually(5s,
                             [&] {
                               return (seen = health(db, "b1")) ==
                                      "false|tcp: connect to 127.0.0.1:" + std::to_string(port) +
                                          ": Connection refused";
                             }),
                  seen << "\n"
                       << agent.log());
    CHECK(ms_since(t0) < 1000);  // not 5 checks: a refusal is definite
  }
  SUBCASE("none: healthy with nothing listening") {
    agent_process agent(db.agent_args("b1", 9, hour_interval({"--check", "none"})));
    CHECK_MESSAGE(eventually(10s, [&] { return health(db, "b1") == "true|"; }), agent.log());
  }
}
