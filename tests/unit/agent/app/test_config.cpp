// g++ 12 -Wnull-dereference false positive on the nested initializer lists below.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "agent/app/config.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <vector>

using namespace loadns::agent;

namespace {

// Sets LOADNS_* variables for one parse (CLI11 reads them with getenv) and unsets them after;
// the same list is the environment searched for unknown names.
parse_result parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "loadns-agent");
  for (const char* e : env) {
    const std::string entry(e);
    const auto eq = entry.find('=');
    ::setenv(entry.substr(0, eq).c_str(), entry.substr(eq + 1).c_str(), 1);
  }
  env.push_back(nullptr);
  auto r = parse_config(static_cast<int>(args.size()), args.data(), env.data(), "backend-1");
  for (const char* e : env) {
    if (e != nullptr) ::unsetenv(std::string(e).substr(0, std::string(e).find('=')).c_str());
  }
  return r;
}

const std::vector<const char*> minimal = {"--db",      "host=127.0.0.1 dbname=loadns",
                                          "--service", "api.example.com",
                                          "--address", "192.0.2.10",
                                          "--port",    "8443"};

}  // namespace

TEST_CASE("the minimal command line and its defaults") {
  const auto r = parse(minimal);
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.service == "api.example.com");
  CHECK(r.cfg.name == "backend-1");
  CHECK(r.cfg.address.to_string() == "192.0.2.10");
  CHECK(r.cfg.filter.ports == std::vector<std::uint16_t>{8443});
  CHECK_FALSE(r.cfg.filter.local_address);
  CHECK(r.cfg.interval == std::chrono::seconds(2));
  CHECK_FALSE(r.cfg.capacity);
  CHECK(r.cfg.drain_on_exit);
  CHECK(r.cfg.counter == counter_mode::automatic);
  CHECK(r.cfg.log_level == "info");
  CHECK(r.cfg.check.mode == check_mode::listen);
  CHECK(r.cfg.check_interval == std::chrono::milliseconds(250));
  CHECK(r.cfg.check_timeout == std::chrono::seconds(1));
  CHECK(r.cfg.fall == 2);
  CHECK(r.cfg.rise == 2);
  CHECK(r.cfg.sql_timeout == std::chrono::seconds(5));
  CHECK(r.cfg.on_shed.empty());
  CHECK(r.cfg.shed == shed_action::off);
  CHECK_FALSE(r.cfg.second_address);
}

TEST_CASE("every flag") {
  auto args = minimal;
  for (const char* a : {"--port", "8444", "--local-address", "2001:db8::5", "--interval", "500ms",
                        "--capacity", "1000", "--name", "edge-7", "--no-drain-on-exit", "--counter",
                        "proc", "--log-level", "debug"}) {
    args.push_back(a);
  }
  const auto r = parse(args);
  REQUIRE(r.what == parse_result::action::run);
  CHECK(r.cfg.filter.ports == std::vector<std::uint16_t>{8443, 8444});
  REQUIRE(r.cfg.filter.local_address);
  CHECK(r.cfg.filter.local_address->to_string() == "2001:db8::5");
  CHECK(r.cfg.interval == std::chrono::milliseconds(500));
  CHECK(r.cfg.capacity == 1000);
  CHECK(r.cfg.name == "edge-7");
  CHECK_FALSE(r.cfg.drain_on_exit);
  CHECK(r.cfg.counter == counter_mode::proc);
  CHECK(r.cfg.log_level == "debug");
}

TEST_CASE("health, SQL timeout and shedding flags") {
  auto args = minimal;
  for (const char* a : {"--check", "http://127.0.0.1:8080/healthz", "--check-interval", "100ms",
                        "--check-timeout", "300ms", "--fall", "3", "--rise", "4", "--sql-timeout",
                        "2s", "--on-shed", "kill -USR1 $(cat /run/app.pid)", "--shed", "destroy"}) {
    args.push_back(a);
  }
  const auto r = parse(args);
  REQUIRE_MESSAGE(r.what == parse_result::action::run, r.output);
  CHECK(r.cfg.check.mode == check_mode::http);
  CHECK(r.cfg.check.http.port == 8080);
  CHECK(r.cfg.check_interval == std::chrono::milliseconds(100));
  CHECK(r.cfg.check_timeout == std::chrono::milliseconds(300));
  CHECK(r.cfg.fall == 3);
  CHECK(r.cfg.rise == 4);
  CHECK(r.cfg.sql_timeout == std::chrono::seconds(2));
  CHECK(r.cfg.on_shed == "kill -USR1 $(cat /run/app.pid)");
  CHECK(r.cfg.shed == shed_action::destroy);
}

TEST_CASE("--address once per family: the second is the other family's") {
  auto args = minimal;
  args.push_back("--address");
  args.push_back("2001:db8::10");
  const auto r = parse(args);
  REQUIRE_MESSAGE(r.what == parse_result::action::run, r.output);
  CHECK(r.cfg.address.to_string() == "192.0.2.10");
  REQUIRE(r.cfg.second_address);
  CHECK(r.cfg.second_address->to_string() == "2001:db8::10");

  args.push_back("--address");
  args.push_back("192.0.2.11");
  CHECK(parse(args).exit_code == 2);
  auto same = minimal;
  same.push_back("--address");
  same.push_back("192.0.2.11");
  const auto twice_v4 = parse(same);
  CHECK(twice_v4.exit_code == 2);
  CHECK(twice_v4.output.find("one address per family") != std::string::npos);
}

TEST_CASE("every flag has its LOADNS_ variable; flags win; lists are comma-separated") {
  const auto r =
      parse({"--interval", "3s"},
            {"LOADNS_DB=host=db.example.com", "LOADNS_SERVICE=api.example.com",
             "LOADNS_ADDRESS=192.0.2.10,2001:db8::10", "LOADNS_PORT=8443,8444",
             "LOADNS_INTERVAL=500ms", "LOADNS_CAPACITY=70", "LOADNS_NAME=edge-9",
             "LOADNS_NO_DRAIN_ON_EXIT=true", "LOADNS_CHECK=tcp", "LOADNS_CHECK_INTERVAL=1s",
             "LOADNS_CHECK_TIMEOUT=2s", "LOADNS_FALL=5", "LOADNS_RISE=6", "LOADNS_SQL_TIMEOUT=3s",
             "LOADNS_ON_SHED=true", "LOADNS_SHED_ACTION=destroy", "LOADNS_COUNTER=proc",
             "LOADNS_LOG_LEVEL=warn", "LOADNS_LOCAL_ADDRESS=192.0.2.10"});
  REQUIRE_MESSAGE(r.what == parse_result::action::run, r.output);
  CHECK(r.cfg.service == "api.example.com");
  CHECK(r.cfg.second_address);
  CHECK(r.cfg.filter.ports == std::vector<std::uint16_t>{8443, 8444});
  CHECK(r.cfg.interval == std::chrono::seconds(3));  // the flag wins
  CHECK(r.cfg.capacity == 70);
  CHECK(r.cfg.name == "edge-9");
  CHECK_FALSE(r.cfg.drain_on_exit);
  CHECK(r.cfg.check.mode == check_mode::tcp);
  CHECK(r.cfg.check_interval == std::chrono::seconds(1));
  CHECK(r.cfg.check_timeout == std::chrono::seconds(2));
  CHECK(r.cfg.fall == 5);
  CHECK(r.cfg.rise == 6);
  CHECK(r.cfg.sql_timeout == std::chrono::seconds(3));
  CHECK(r.cfg.on_shed == "true");
  CHECK(r.cfg.shed == shed_action::destroy);
  CHECK(r.cfg.counter == counter_mode::proc);
  CHECK(r.cfg.log_level == "warn");
  CHECK(r.cfg.filter.local_address);
}

TEST_CASE("an unknown LOADNS_ variable is refused with a clear message") {
  const auto r = parse(minimal, {"LOADNS_INTERVALL=1s"});
  CHECK(r.what == parse_result::action::exit);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("unknown environment variable LOADNS_INTERVALL") != std::string::npos);
  CHECK(r.output.find("LOADNS_INTERVAL?") != std::string::npos);
}

TEST_CASE("--help lists every flag's default and variable") {
  const auto help = parse({"--help"});
  CHECK(help.exit_code == 0);
  for (const char* s : {"LOADNS_CHECK_INTERVAL", "250ms", "LOADNS_SQL_TIMEOUT", "5s", "LOADNS_FALL",
                        "listen", "LOADNS_NO_DRAIN_ON_EXIT", "LOADNS_ON_SHED"}) {
    CAPTURE(s);
    CHECK(help.output.find(s) != std::string::npos);
  }
}

TEST_CASE("LOADNS_DB is the default for --db and the flag wins") {
  const auto env =
      parse({"--service", "api.example.com", "--address", "192.0.2.10", "--port", "80"},
            {"LOADNS_DB=host=db.example.com password=x"});
  REQUIRE(env.what == parse_result::action::run);
  CHECK(env.cfg.db.effective.find("db.example.com") != std::string::npos);
  const auto flag = parse(minimal, {"LOADNS_DB=host=db.example.com"});
  REQUIRE(flag.what == parse_result::action::run);
  CHECK(flag.cfg.db.effective.find("127.0.0.1") != std::string::npos);
}

TEST_CASE("--help and --version exit 0 with output") {
  const auto help = parse({"--help"});
  CHECK(help.what == parse_result::action::exit);
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("--local-address") != std::string::npos);
  const auto version = parse({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.output.find(LOADNS_VERSION) != std::string::npos);
}

TEST_CASE("bad flags exit 2 with a message naming the problem") {
  struct bad_case {
    std::vector<const char*> args;
    const char* says;
  };
  const std::vector<bad_case> cases = {
      {{"--service", "a.example.com", "--address", "192.0.2.1", "--port", "80"}, "--db"},
      {{"--db", "host=x", "--address", "192.0.2.1", "--port", "80"}, "--service"},
      {{"--db", "host=x", "--service", "a.example.com", "--port", "80"}, "--address"},
      {{"--db", "host=x", "--service", "a.example.com", "--address", "192.0.2.1"}, "--port"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.300", "--port", "80"}, "address"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "0"}, "--port"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "65536"}, "--port"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "http"}, "--port"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--interval",
        "soon"},
       "duration"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--interval",
        "1ms"},
       "10ms"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--capacity",
        "-5"},
       "--capacity"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--counter",
        "magic"},
       "--counter"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80",
        "--local-address", "localhost"},
       "address"},
      {{"--db", "nonsense=1", "--service", "a", "--address", "192.0.2.1", "--port", "80"},
       "conninfo"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--bogus"},
       "--bogus"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--check",
        "ping"},
       "--check"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--fall",
        "0"},
       "--fall"},
      {{"--db", "host=x", "--service", "a", "--address", "192.0.2.1", "--port", "80", "--shed",
        "kill"},
       "--shed"},
  };
  for (const auto& c : cases) {
    const auto r = parse(c.args);
    CAPTURE(r.output);
    CHECK(r.what == parse_result::action::exit);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find(c.says) != std::string::npos);
    CHECK(r.output.find("--help") != std::string::npos);
  }
}
