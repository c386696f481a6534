#include "agent/app/duration.hpp"

#include <doctest/doctest.h>

using loadns::agent::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("durations with units") {
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("2s") == milliseconds(2000));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("0.25s") == milliseconds(250));
  CHECK(parse_duration("1m") == milliseconds(60'000));
  CHECK(parse_duration("1h") == milliseconds(3'600'000));
  CHECK(parse_duration("3") == milliseconds(3000));
  CHECK(parse_duration(".5s") == milliseconds(500));
}

TEST_CASE("what is not a duration") {
  for (const char* bad : {"", "s", "ms", "-1s", "2 s", " 2s", "2sec", "2x", "1e3ms", "..5s",
                          "99999999999999999999s"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}
