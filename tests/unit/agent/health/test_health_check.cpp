// agent/health/health_check: the --check values.

#include "agent/health/health_check.hpp"

#include <doctest/doctest.h>

using namespace loadns::agent;

TEST_CASE("--check values") {
  std::string error;
  CHECK(parse_check("listen", error)->mode == check_mode::listen);
  CHECK(parse_check("tcp", error)->mode == check_mode::tcp);
  CHECK(parse_check("none", error)->mode == check_mode::none);
  const auto exec = parse_check("exec:test -e /run/ok", error);
  REQUIRE(exec);
  CHECK(exec->mode == check_mode::exec);
  CHECK(exec->command == "test -e /run/ok");
  CHECK(exec->text() == "exec:test -e /run/ok");
  const auto http = parse_check("http://127.0.0.1:9/health", error);
  REQUIRE(http);
  CHECK(http->mode == check_mode::http);
  CHECK(http->http.port == 9);
  CHECK(http->text() == "http://127.0.0.1:9/health");
  for (const char* bad : {"", "Listen", "udp", "exec:", "exec:  ", "https://a/"}) {
    CAPTURE(bad);
    error.clear();
    CHECK_FALSE(parse_check(bad, error));
    CHECK_FALSE(error.empty());
  }
}
