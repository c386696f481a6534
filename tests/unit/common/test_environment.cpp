// common/environment: flag names to variable names, and unknown LOADNS_* variables refused.

#include "common/environment.hpp"

#include <doctest/doctest.h>

using loadns::flag_env_name;
using loadns::unknown_loadns_variables;
using loadns::unknown_variables_message;

TEST_CASE("a flag's variable is LOADNS_ and its name in upper case with underscores") {
  CHECK(flag_env_name("--db") == "LOADNS_DB");
  CHECK(flag_env_name("--check-interval") == "LOADNS_CHECK_INTERVAL");
  CHECK(flag_env_name("no-drain-on-exit") == "LOADNS_NO_DRAIN_ON_EXIT");
}

TEST_CASE("unknown LOADNS_ variables are found, others and tool variables are not") {
  const std::vector<std::string> known{"LOADNS_DB", "LOADNS_INTERVAL"};
  const char* env[] = {"PATH=/bin",
                       "LOADNS_DB=host=x",
                       "LOADNS_INTERVALL=1s",
                       "LOADNS_BIN_DIR=/opt",
                       "LOADNS_AGENT_BIN=/opt/a",
                       "LOADNS_SERVER_BINARY=/opt/s",
                       "LOADNS_WHATEVER",
                       "XLOADNS_DB=1",
                       nullptr};
  const auto unknown = unknown_loadns_variables(env, known);
  REQUIRE(unknown == std::vector<std::string>{"LOADNS_INTERVALL", "LOADNS_WHATEVER"});
  const std::string message = unknown_variables_message(unknown, known);
  CHECK(message ==
        "unknown environment variable LOADNS_INTERVALL (did you mean LOADNS_INTERVAL?); "
        "unknown environment variable LOADNS_WHATEVER");
  CHECK(unknown_variables_message({}, known).empty());
  CHECK(unknown_loadns_variables(nullptr, known).empty());
}
