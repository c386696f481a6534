// Tests client/duration.cpp.
#include "client/duration.hpp"

#include <doctest/doctest.h>

using loadns::client::parse_duration;
using std::chrono::milliseconds;

TEST_CASE("parse_duration: units and bare seconds") {
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("2s") == milliseconds(2000));
  CHECK(parse_duration("1.5s") == milliseconds(1500));
  CHECK(parse_duration("3") == milliseconds(3000));
  CHECK(parse_duration("0.25") == milliseconds(250));
  CHECK(parse_duration("1m") == milliseconds(60'000));
  CHECK(parse_duration("0") == milliseconds(0));
}

TEST_CASE("parse_duration: malformed") {
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("2 s"));
  CHECK_FALSE(parse_duration("2h"));
  CHECK_FALSE(parse_duration("1e3"));
  CHECK_FALSE(parse_duration("2d"));
  CHECK_FALSE(parse_duration("100000m"));  // over a day
}
