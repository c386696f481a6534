// Tests client/spread.cpp.
#include "client/spread.hpp"

#include <doctest/doctest.h>

using namespace loadns::client;

TEST_CASE("spread: counts and shares by address, largest first") {
  spread s;
  for (int i = 0; i < 5; ++i) {
    s.add_answer("192.0.2.2");
  }
  for (int i = 0; i < 3; ++i) {
    s.add_answer("192.0.2.10");
  }
  for (int i = 0; i < 2; ++i) {
    s.add_answer("192.0.2.3");
  }
  s.add_failure(lookup_status::timeout);
  CHECK(s.answered() == 10);
  CHECK(s.failed() == 1);
  const auto rows = s.rows();
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].address == "192.0.2.2");
  CHECK(rows[0].count == 5);
  CHECK(rows[0].share == doctest::Approx(0.5));
  CHECK(rows[1].address == "192.0.2.10");
  CHECK(rows[2].share == doctest::Approx(0.2));
  CHECK(s.failures().at("TIMEOUT") == 1);
  const auto text = s.format();
  CHECK(text.find("11 lookups, 10 answered, 1 failed") == 0);
  CHECK(text.find("192.0.2.2         5   50.0%") != std::string::npos);
  CHECK(text.find("TIMEOUT") != std::string::npos);
}

TEST_CASE("spread: equal counts keep address order, and an empty tally") {
  spread s;
  s.add_answer("192.0.2.9");
  s.add_answer("192.0.2.1");
  const auto rows = s.rows();
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].address == "192.0.2.1");
  spread empty;
  CHECK(empty.rows().empty());
  CHECK(empty.format().find("0 lookups") == 0);
}
