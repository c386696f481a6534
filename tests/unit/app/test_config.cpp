#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <string>

#include "server/app/config.hpp"

using namespace loadns::app;
using namespace std::chrono_literals;

TEST_CASE("listen addresses: v4, bracketed v6, port only") {
  auto v4 = parse_listen_address("127.0.0.1:5300");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 5300);
  CHECK(v4->to_string() == "127.0.0.1:5300");

  auto v6 = parse_listen_address("[::1]:53");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->to_string() == "[::1]:53");

  auto any = parse_listen_address(":53");
  REQUIRE(any);
  CHECK(any->host == "0.0.0.0");

  for (const char* bad : {"127.0.0.1", "::1:53", "localhost:53", "127.0.0.1:99999", "1.2.3.4:x",
                          "[::1]53", "127.0.0.1:53 "}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_listen_address(bad).has_value());
  }
}

namespace {
parse_result parse(std::initializer_list<const char*> args) {
  std::vector<std::string> storage{"loadns-server"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

TEST_CASE("command line: flags become an immutable configuration") {
  auto r = parse({"--db", "dbname=loadns", "--listen", "127.0.0.1:5300", "--listen", "[::1]:5300",
                  "--threads", "2", "--poll-interval", "500ms", "--metrics-listen",
                  "127.0.0.1:9153", "--query-log"});
  REQUIRE(r.config);
  CHECK(r.config->cmd == command::serve);
  CHECK(r.config->listen.size() == 2);
  CHECK_FALSE(r.config->default_listen);
  CHECK(r.config->threads == 2);
  CHECK(r.config->poll_interval == 500ms);
  REQUIRE(r.config->metrics_listen);
  CHECK(r.config->metrics_listen->port == 9153);
  CHECK(r.config->query_log);

  auto defaults = parse({"--db", "dbname=loadns"});
  REQUIRE(defaults.config);
  CHECK(defaults.config->default_listen);
  CHECK(defaults.config->listen.size() == 2);
  CHECK(defaults.config->listen[0].port == 53);

  auto migrate = parse({"migrate", "--db", "dbname=loadns"});
  REQUIRE(migrate.config);
  CHECK(migrate.config->cmd == command::migrate);
}

TEST_CASE("command line: bad flags are refused with a non-zero exit") {
  CHECK(parse({"--db", "x", "--threads", "0"}).exit_code != 0);
  CHECK(parse({"--db", "x", "--poll-interval", "soon"}).exit_code != 0);
  CHECK(parse({"--db", "x", "--listen", "localhost:53"}).exit_code != 0);
  CHECK(parse({"--db", "x", "--no-such-flag"}).exit_code != 0);
  CHECK(parse({"--db", "x", "--log-level", "loud"}).exit_code != 0);
  CHECK_FALSE(parse({"--db", "x", "--no-such-flag"}).config);
}

TEST_CASE("environment: every flag has its LOADNS_* form, unknown ones are refused") {
  ::setenv("LOADNS_TCP_MAX_CONNECTIONS", "77", 1);
  ::setenv("LOADNS_TCP_IDLE_TIMEOUT", "3s", 1);
  ::setenv("LOADNS_QUERY_LOG", "true", 1);
  auto r = parse({"--db", "x"});
  REQUIRE(r.config);
  CHECK(r.config->tcp_max_connections == 77);
  CHECK(r.config->tcp_idle_timeout == 3s);
  CHECK(r.config->query_log);
  ::setenv("LOADNS_TCP_MAX_CONNECTIONS", "many", 1);  // a bogus value is an error, not ignored
  CHECK(parse({"--db", "x"}).exit_code == 2);
  ::unsetenv("LOADNS_TCP_MAX_CONNECTIONS");
  ::unsetenv("LOADNS_TCP_IDLE_TIMEOUT");
  ::unsetenv("LOADNS_QUERY_LOG");

  ::setenv("LOADNS_THREAD", "2", 1);  // misspelt: refused rather than ignored in silence
  auto typo = parse({"--db", "x"});
  CHECK_FALSE(typo.config);
  CHECK(typo.exit_code == 2);
  ::unsetenv("LOADNS_THREAD");
}
