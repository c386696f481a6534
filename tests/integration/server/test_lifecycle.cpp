// The server as a process: flags, --help and --version, readiness before the first snapshot,
// answering through a database outage, and a graceful stop on SIGTERM.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "tests/integration/server/environment.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::both_transports;
using loadns::test::dig;
using loadns::test::free_port;
using loadns::test::http_get;
using loadns::test::run_command;
using loadns::test::server_binary;
using loadns::test::server_options;
using loadns::test::server_process;
using loadns::test::to_string;
using loadns::test::transport;
using loadns::test::e2e::options_for;
using loadns::test::e2e::seeded_cluster;
using steady = std::chrono::steady_clock;

std::string binary() {
  return server_binary(LOADNS_SERVER_BINARY);
}

}  // namespace

TEST_CASE("--help and --version exit 0 and say what they are") {
  const auto help = run_command({binary(), "--help"});
  CHECK_MESSAGE(help.exit_code == 0, help.err);
  for (const char* flag : {"--db", "--listen", "--threads", "--poll-interval", "--metrics-listen",
                           "--log-level", "--query-log", "migrate"}) {
    CHECK_MESSAGE(help.out.find(flag) != std::string::npos, flag << " not in --help:\n"
                                                                 << help.out);
  }
  const auto version = run_command({binary(), "--version"});
  CHECK_MESSAGE(version.exit_code == 0, version.err);
  CHECK_MESSAGE(version.out.find(LOADNS_VERSION) != std::string::npos, version.out);
}

TEST_CASE("a bad flag exits non-zero with a message") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--no-such-flag"},
           {"--threads", "many"},
           {"--listen", "not-an-address"},
           {"--listen", "127.0.0.1:99999"},
           {"--poll-interval", "soon"},
           {"--log-level", "chatty"},
           {"migrate"},  // migrate needs --db
       }) {
    std::vector<std::string> argv{binary(), "--db", "host=127.0.0.1 port=1"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (args.front() == "migrate") argv = {binary(), "migrate"};
    const auto r = run_command(argv, 10s);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    INFO(shown);
    CHECK_FALSE(r.timed_out);
    CHECK_MESSAGE(r.exit_code != 0, r.out << r.err);
    CHECK_MESSAGE(r.exit_code != 128 + SIGSEGV, r.err);
    CHECK_MESSAGE(r.exit_code != 128 + SIGABRT, r.err);
    CHECK_MESSAGE(!(r.err + r.out).empty(), "no message");
  }
}

TEST_CASE("--check-config reaches the database: exit 0, or non-zero with a reason") {
  seeded_cluster db;
  const auto ok =
      run_command({binary(), "--check-config", "--db", db.pg.conninfo("loadns", "server"),
                   "--listen", "127.0.0.1:" + std::to_string(free_port())},
                  30s);
  CHECK_MESSAGE(ok.exit_code == 0, ok.out << ok.err);
  const auto bad = run_command({binary(), "--check-config", "--db",
                                "host=127.0.0.1 port=" + std::to_string(free_port()) +
                                    " dbname=loadns user=server connect_timeout=2",
                                "--listen", "127.0.0.1:" + std::to_string(free_port())},
                               30s);
  CHECK_FALSE(bad.timed_out);
  CHECK_MESSAGE(bad.exit_code != 0, bad.out << bad.err);
  CHECK_MESSAGE(!(bad.err + bad.out).empty(), "no reason given");
}

TEST_CASE("SIGTERM stops the server with exit code 0") {
  seeded_cluster db;
  server_process server(options_for(db.pg));
  // Some traffic first, so there is state to wind down.
  for (auto t : both_transports)
    dig(server.port(), t, "api.example.com").response().check_rcode("NOERROR");
  loadns::test::tcp_client idle(server.port());  // an open idle TCP session must not block stop
  const auto t0 = steady::now();
  const auto code = server.stop(5s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  MESSAGE("SIGTERM to exit: ", took.count(), " ms");
  INFO(server.log_tail());
  REQUIRE_MESSAGE(code.has_value(), "still running 5 s after SIGTERM");
  CHECK(*code == 0);
}

TEST_CASE("before the first snapshot the server answers SERVFAIL and is not ready") {
  seeded_cluster db;
  db.pg.stop();  // the database is down when the server starts
  auto options = options_for(db.pg);
  options.wait = server_options::wait_for::listening;
  server_process server(options);
  INFO(server.log_tail());
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(server.port(), t, "api.example.com").response();
    r.check_rcode("SERVFAIL");
    CHECK(!r.flag("ra"));
    CHECK(r.answer.empty());
  }
  const auto ready = http_get(server.metrics_port(), "/readyz");
  REQUIRE_MESSAGE(ready.has_value(), "no answer on /readyz");
  CHECK(ready->status != 200);
  const auto healthy = http_get(server.metrics_port(), "/healthz");
  REQUIRE(healthy.has_value());
  CHECK(healthy->status == 200);

  // The database comes up: the server loads its first snapshot and answers.
  const auto t0 = steady::now();
  db.pg.start();
  REQUIRE_MESSAGE(server.wait_answering(30s), "no snapshot 30 s after the database came up");
  MESSAGE("first snapshot loaded ",
          std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count(),
          " ms after the database came up");
  for (auto t : both_transports) {
    INFO(to_string(t));
    dig(server.port(), t, "api.example.com").response().check_rcode("NOERROR");
  }
  const auto now_ready = http_get(server.metrics_port(), "/readyz");
  REQUIRE(now_ready.has_value());
  CHECK(now_ready->status == 200);
}

TEST_CASE("with the database gone the server keeps answering and logs the outage once") {
  seeded_cluster db;
  server_process server(options_for(db.pg));
  INFO(server.log_tail());
  auto lines = [&] {
    const auto log = server.log();
    return std::count(log.begin(), log.end(), '\n');
  };
  const auto lines_before = lines();
  db.pg.kill();
  // Five poll intervals without a database.
  const auto until = steady::now() + 5500ms;
  int asked = 0;
  while (steady::now() < until) {
    for (auto t : both_transports) {
      INFO(to_string(t));
      const auto r = dig(server.port(), t, "k3j9x.api.example.com").response();
      r.check_rcode("NOERROR");
      CHECK(r.answer.size() == 1);
      ++asked;
    }
  }
  MESSAGE(asked, " queries answered during a 5.5 s database outage");
  CHECK(server.running());
  const auto new_lines = lines() - lines_before;
  MESSAGE(new_lines, " log lines during the outage");
  CHECK_MESSAGE(new_lines <= 3, "log once per state change, not per poll");
}

TEST_CASE("--query-log logs each query") {
  seeded_cluster db;
  auto options = options_for(db.pg);
  options.query_log = true;
  server_process server(options);
  for (auto t : both_transports)
    dig(server.port(), t, "QueryLogged.api.example.com").response().check_rcode("NOERROR");
  const auto until = steady::now() + 2s;  // logs may be flushed asynchronously
  std::size_t seen = 0;
  while (steady::now() < until) {
    auto log = server.log();  // the name as sent or folded: either is a fair log
    std::transform(log.begin(), log.end(), log.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    seen = 0;
    for (auto at = log.find("querylogged"); at != std::string::npos;
         at = log.find("querylogged", at + 1))
      ++seen;
    if (seen >= 2) break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK_MESSAGE(seen >= 2, server.log_tail());
}

TEST_CASE("every --listen address is served") {
  seeded_cluster db;
  const auto second = free_port();
  auto options = options_for(db.pg);
  options.extra_args = {"--listen", "127.0.0.2:" + std::to_string(second)};
  server_process server(options);
  INFO(server.log_tail());
  for (auto t : both_transports) {
    INFO(to_string(t));
    dig(server.port(), t, "api.example.com").response().check_rcode("NOERROR");
    const auto r = loadns::test::run_command(
        {"/usr/bin/dig", "+norec", "+time=2", "+tries=1", "-p", std::to_string(second),
         "@127.0.0.2", t == transport::tcp ? "+tcp" : "+notcp", "api.example.com", "A"});
    const auto parsed = loadns::test::parse_dig_output(r.out);
    REQUIRE_MESSAGE(parsed.size() == 1, r.out << r.err);
    parsed[0].check_rcode("NOERROR");
  }
}

TEST_CASE("the metrics endpoint serves Prometheus text once ready") {
  seeded_cluster db;
  server_process server(options_for(db.pg));
  for (auto t : both_transports)
    dig(server.port(), t, "api.example.com").response().check_rcode("NOERROR");
  const auto ready = http_get(server.metrics_port(), "/readyz");
  REQUIRE(ready.has_value());
  CHECK(ready->status == 200);
  const auto metrics = http_get(server.metrics_port(), "/metrics");
  REQUIRE(metrics.has_value());
  CHECK(metrics->status == 200);
  CHECK_MESSAGE(metrics->body.find("# TYPE") != std::string::npos, metrics->body);
  // What the README's metrics section lists: queries by rcode, protocol and type; answers per
  // backend; snapshot age; poll duration and errors; backends by state; fail-open count. Names are
  // the server's; the words are the spec's.
  auto body = metrics->body;
  std::transform(body.begin(), body.end(), body.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  for (const char* word : {"rcode", "udp", "tcp", "noerror", "api.example.com", "snapshot_age",
                           "poll_duration", "poll_errors", "fail_open", "serving"}) {
    CHECK_MESSAGE(body.find(word) != std::string::npos, word << " not in /metrics:\n" << body);
  }
}

TEST_CASE("--db takes a postgresql:// URI and a multi-host conninfo that skips a dead host") {
  seeded_cluster db;
  const auto port = std::to_string(db.pg.port());
  const auto dead = std::to_string(free_port());
  for (const std::string& conninfo :
       {"postgresql://server@127.0.0.1:" + port + "/loadns",
        "host=127.0.0.1,127.0.0.1 port=" + dead + "," + port + " dbname=loadns user=server"}) {
    INFO(conninfo);
    auto options = options_for(db.pg);
    options.conninfo = conninfo;
    server_process server(options);  // throws, with the log, when it never gets a snapshot
    for (auto t : both_transports) {
      INFO(to_string(t));
      dig(server.port(), t, "k3j9x.api.example.com").response().check_rcode("NOERROR");
    }
  }
}

TEST_CASE("a second server on a served address refuses to start, unless told to share it") {
  seeded_cluster db;
  server_process first(options_for(db.pg));
  const std::string address = "127.0.0.1:" + std::to_string(first.port());

  // Without the probe, SO_REUSEPORT would let it bind and split the queries with the first.
  const auto second =
      run_command({binary(), "--db", options_for(db.pg).conninfo, "--listen", address}, 10s);
  INFO(second.out, second.err);
  CHECK_FALSE(second.timed_out);
  CHECK(second.exit_code != 0);
  const auto said = second.out + second.err;
  CHECK(said.find(address + "/udp is already served by pid " + std::to_string(first.pid())) !=
        std::string::npos);
  CHECK(said.find("--reuse-port-shared") != std::string::npos);

  // On purpose: it starts, and the first keeps serving.
  auto shared = options_for(db.pg);
  shared.extra_args = {"--listen", address, "--reuse-port-shared"};
  server_process sharing(shared);
  CHECK(sharing.running());
  CHECK(first.running());
  dig(first.port(), transport::udp, "api.example.com").response().check_rcode("NOERROR");
}
