// g++ 12 -Wnull-dereference false positive on the nested initializer lists below.
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "agent/app/config.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace loadns::agent;

namespace {

parse_result parse(std::vector<const char*> args, const char* env_db = nullptr) {
  args.insert(args.begin(), "loadns-agent");
  return parse_config(static_cast<int>(args.size()), args.data(), env_db, "backend-1");
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

TEST_CASE("LOADNS_DB is the default for --db and the flag wins") {
  const auto env =
      parse({"--service", "api.example.com", "--address", "192.0.2.10", "--port", "80"},
            "host=db.example.com password=x");
  REQUIRE(env.what == parse_result::action::run);
  CHECK(env.cfg.db.effective.find("db.example.com") != std::string::npos);
  const auto flag = parse(minimal, "host=db.example.com");
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
