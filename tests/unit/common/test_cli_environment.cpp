// common/cli_environment: every flag of a CLI11 command line gets its LOADNS_* variable and
// its default in --help; the environment is checked against what that command line reads.
#include "common/cli_environment.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <vector>

using loadns::bind_environment;
using loadns::check_environment;
using loadns::environment_names;

namespace {

struct example {
  CLI::App app{"example", "loadns-example"};
  unsigned threads = 1;
  std::string poll = "1s";
  std::vector<std::string> listen;
  bool query_log = false;
  bool check = false;
  std::string name;
  example() {
    app.add_option("--threads", threads, "workers");
    app.add_option("--poll-interval", poll, "interval");
    app.add_option("--listen", listen, "addresses");
    app.add_flag("--query-log", query_log, "log");
    app.add_flag("--check-config", check, "an action");
    app.add_option("NAME", name, "positional");
    app.add_subcommand("migrate", "sub")->add_option("--db-url", name, "url");
    bind_environment(app, {"--check-config"});
  }
  std::string check_env(std::vector<const char*> env) {
    env.push_back(nullptr);
    return check_environment(app, env.data());
  }
};

}  // namespace

TEST_CASE("every long option gets its variable; actions, --help and positionals do not") {
  example e;
  CHECK(e.app.get_option("--threads")->get_envname() == "LOADNS_THREADS");
  CHECK(e.app.get_option("--query-log")->get_envname() == "LOADNS_QUERY_LOG");
  CHECK(e.app.get_option("--check-config")->get_envname().empty());
  CHECK(e.app.get_option("NAME")->get_envname().empty());
  CHECK(environment_names(e.app) == std::vector<std::string>{"LOADNS_DB_URL", "LOADNS_LISTEN",
                                                             "LOADNS_POLL_INTERVAL",
                                                             "LOADNS_QUERY_LOG", "LOADNS_THREADS"});
  const auto help = e.app.help();
  CHECK(help.find("(Env:LOADNS_POLL_INTERVAL)") != std::string::npos);
  CHECK(help.find("=1s") != std::string::npos);  // the default, shown
  CHECK(help.find("=[]") == std::string::npos);  // an empty list shows none
}

TEST_CASE("variables are read, flags win") {
  example e;
  ::setenv("LOADNS_THREADS", "3", 1);
  ::setenv("LOADNS_QUERY_LOG", "true", 1);
  e.app.parse(std::vector<std::string>{"7", "--threads"});  // CLI11 takes them reversed
  CHECK(e.threads == 7);
  CHECK(e.query_log);
  ::unsetenv("LOADNS_THREADS");
  ::unsetenv("LOADNS_QUERY_LOG");
}

TEST_CASE("an unknown LOADNS_* variable is named with the program and what it reads") {
  example e;
  CHECK(e.check_env({"PATH=/bin", "LOADNS_THREADS=2", "LOADNS_DB_URL=x"}).empty());
  CHECK(e.check_env({"LOADNS_SERVER_BIN=/x"}).empty());  // scripts' own variables
  const auto message = e.check_env({"LOADNS_THREAD=2"});
  CHECK(message.find("loadns-example: unknown environment variable LOADNS_THREAD") == 0);
  CHECK(message.find("did you mean LOADNS_THREADS?") != std::string::npos);
  CHECK(message.find("LOADNS_POLL_INTERVAL") != std::string::npos);  // what it does read
}
