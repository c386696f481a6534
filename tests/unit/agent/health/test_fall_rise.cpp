// agent/health/fall_rise: --fall/--rise hysteresis, and a definite failure taking a backend
// down at once.

#include "agent/health/fall_rise.hpp"

#include <doctest/doctest.h>

using loadns::agent::fall_rise;

TEST_CASE("the first outcome decides at once, either way") {
  fall_rise up(2, 2);
  CHECK(up.observe(true));
  CHECK(up.healthy());
  fall_rise down(2, 2);
  CHECK(down.observe(false));
  CHECK_FALSE(down.healthy());
}

TEST_CASE("fall consecutive failures take it down, rise consecutive successes bring it back") {
  fall_rise h(2, 3);
  h.observe(true);
  CHECK_FALSE(h.observe(false));
  CHECK(h.healthy());
  CHECK(h.observe(false));  // the second in a row
  CHECK_FALSE(h.healthy());
  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.observe(true));
  CHECK(h.observe(true));  // the third in a row
  CHECK(h.healthy());
}

TEST_CASE("an outcome that agrees with the state breaks a streak") {
  fall_rise h(2, 2);
  h.observe(true);
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(true));   // streak broken
  CHECK_FALSE(h.observe(false));  // one failure again, not two
  CHECK(h.healthy());
  CHECK(h.observe(false));
  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.observe(false));
  CHECK_FALSE(h.observe(true));
  CHECK_FALSE(h.healthy());
}

TEST_CASE("a definite failure (the listener vanished) is down at once; coming back still rises") {
  fall_rise h(5, 2);
  h.observe(true);
  CHECK(h.observe(false, true));
  CHECK_FALSE(h.healthy());
  CHECK_FALSE(h.observe(true));
  CHECK(h.observe(true));
  CHECK(h.healthy());
}

TEST_CASE("fall 1 and rise 1 follow every outcome") {
  fall_rise h(1, 1);
  h.observe(true);
  CHECK(h.observe(false));
  CHECK(h.observe(true));
  CHECK_FALSE(h.observe(true));
}
