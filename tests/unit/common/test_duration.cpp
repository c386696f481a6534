#include <doctest/doctest.h>

#include "common/duration.hpp"

using loadns::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("durations: units, fractions and bare seconds") {
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("2s") == milliseconds(2000));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("0.25s") == milliseconds(250));
  CHECK(parse_duration(".5s") == milliseconds(500));
  CHECK(parse_duration("1m") == milliseconds(60'000));
  CHECK(parse_duration("1h") == milliseconds(3'600'000));
  CHECK(parse_duration("3") == milliseconds(3000));
  CHECK(parse_duration("0") == milliseconds(0));
  CHECK(parse_duration("24h") == milliseconds(86'400'000));
}

TEST_CASE("durations: what is not one") {
  for (const char* bad : {"", "s", "ms", "-1s", "2 s", " 2s", "2sec", "2x", "1e3ms", "..5s",
                          "99999999999999999999s", "2d", "25h", "100000m"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
}
