#include "server/core/snapshot_publisher.hpp"

#include <doctest/doctest.h>

#include "tests/unit/core/example_source.hpp"

using namespace loadns;

TEST_CASE("snapshot_publisher publishes good data as the next generation, nothing for bad") {
  core::snapshot_holder holder;
  core::counter_registry counters;
  core::snapshot_publisher publisher(holder, counters);
  const auto now = core::clock::now();

  auto src = test::example_source();
  CHECK(publisher.publish(src, now).empty());
  CHECK(publisher.generation() == 1);
  const auto first = holder.current();
  REQUIRE(first);
  CHECK(first->generation == 1);
  const auto counted = counters.size();
  CHECK(counted == src.backends.size());

  auto bad = src;
  bad.backends[0].address = "192.0.2.300";
  const auto error = publisher.publish(bad, now);
  CHECK(error.find("invalid address") != std::string::npos);
  CHECK(publisher.generation() == 1);
  CHECK(holder.current() == first);  // the last good snapshot stays

  // A backend gone: its counter is forgotten once the snapshot without it is published.
  src.backends.pop_back();
  CHECK(publisher.publish(src, now).empty());
  CHECK(holder.current()->generation == 2);
  CHECK(counters.size() == counted - 1);
}
