#include "server/core/snapshot_publisher.hpp"

#include <doctest/doctest.h>

#include "tests/unit/core/example_source.hpp"

using namespace loadns;

TEST_CASE(
    "snapshot_publisher publishes good data as the next generation, without bad rows, a bad "
    "zone row as its last good version") {
  core::snapshot_holder holder;
  core::counter_registry counters;
  core::snapshot_publisher publisher(holder, counters);
  const auto now = core::clock::now();

  auto src = test::example_source();
  publisher.publish(src, now);
  CHECK(publisher.zone_rows() == src.zones);
  CHECK(publisher.generation() == 1);
  const auto first = holder.current();
  REQUIRE(first);
  CHECK(first->generation == 1);
  const auto counted = counters.size();
  CHECK(counted == src.backends.size());

  auto bad_zone = src;
  bad_zone.zones[0].nameservers.clear();
  bad_zone.services[0].ttl = 5;
  std::vector<core::skipped_row> skipped;
  publisher.publish(bad_zone, now, &skipped);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].table == core::table::zones);
  CHECK(skipped[0].reason == "no nameservers (NS records); its last good version is served");
  CHECK(publisher.generation() == 2);
  CHECK(publisher.zone_rows() == src.zones);      // kept for the next publish()
  CHECK(holder.current()->services[0].ttl == 5);  // the rest follows the rows
  publisher.publish(bad_zone, now, &skipped);
  CHECK(holder.current()->zones.zone_at(0).ns.rdata.size() == 2);
  CHECK(publisher.generation() == 3);

  // A bad backend row: left out, the rest published, its counter forgotten.
  auto bad = src;
  bad.backends[0].address = "192.0.2.300";
  publisher.publish(bad, now, &skipped);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].table == core::table::backends);
  CHECK(skipped[0].reason == "invalid address");
  CHECK(holder.current()->generation == 4);
  CHECK(counters.size() == counted - 1);

  // Fixed: back in, with a new counter.
  publisher.publish(src, now, &skipped);
  CHECK(skipped.empty());
  CHECK(holder.current()->generation == 5);
  CHECK(counters.size() == counted);
}
