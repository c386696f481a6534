#include "server/core/snapshot_publisher.hpp"

#include <doctest/doctest.h>

#include "tests/unit/core/example_source.hpp"

using namespace loadns;

TEST_CASE(
    "snapshot_publisher publishes good data as the next generation, without bad rows, nothing "
    "for a bad zone") {
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

  auto bad_zone = src;
  bad_zone.zones[0].nameservers.clear();
  std::vector<core::skipped_row> skipped;
  const auto error = publisher.publish(bad_zone, now, &skipped);
  CHECK(error.find("no nameservers") != std::string::npos);
  CHECK(publisher.generation() == 1);
  CHECK(holder.current() == first);  // the last good snapshot stays

  // A bad backend row: left out, the rest published, its counter forgotten.
  auto bad = src;
  bad.backends[0].address = "192.0.2.300";
  CHECK(publisher.publish(bad, now, &skipped).empty());
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].table == core::table::backends);
  CHECK(skipped[0].reason == "invalid address");
  CHECK(holder.current()->generation == 2);
  CHECK(counters.size() == counted - 1);

  // Fixed: back in, with a new counter.
  CHECK(publisher.publish(src, now, &skipped).empty());
  CHECK(skipped.empty());
  CHECK(holder.current()->generation == 3);
  CHECK(counters.size() == counted);
}
