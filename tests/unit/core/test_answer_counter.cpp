#include "server/core/answer_counter.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace loadns::core;

namespace {
// A fixed origin well away from zero, on a bucket boundary, so tests do not depend on uptime.
const clock::time_point t0 = clock::time_point{} + 1000s;
// Times below are in buckets, so that the tests hold for any bucket width.
constexpr clock::duration w = answer_counter::bucket_width;
}  // namespace

TEST_CASE("answer_counter: counts, totals and sums from a time on") {
  answer_counter c;
  CHECK(c.total() == 0);
  CHECK(c.since(t0, t0) == 0);
  c.add(t0);
  c.add(t0 + 2 * w + w / 2, 3);
  c.add(t0 + 10 * w, 2);
  CHECK(c.total() == 6);
  CHECK(c.since(t0, t0 + 10 * w) == 6);
  CHECK(c.since(t0 + 2 * w, t0 + 10 * w) == 5);        // bucket 2 holds the 3
  CHECK(c.since(t0 + 3 * w - 1ms, t0 + 10 * w) == 5);  // same bucket: bucket resolution
  CHECK(c.since(t0 + 3 * w, t0 + 10 * w) == 2);
  CHECK(c.since(t0 + 20 * w, t0 + 20 * w) == 0);
  CHECK(c.before(t0 + 3 * w, t0 + 10 * w) == 4);
  CHECK(c.before(t0, t0 + 10 * w) == 0);
}

TEST_CASE("answer_counter: before() stays constant as later answers arrive") {
  answer_counter c;
  c.add(t0, 10);
  const auto report = t0 + 5 * w;
  const auto base = c.before(report, t0 + 6 * w);
  CHECK(base == 10);
  for (int i = 0; i < 100; ++i) c.add(t0 + 6 * w + i * w / 10);
  CHECK(c.before(report, t0 + 20 * w) == base);
  CHECK(c.total() - base == 100);
}

TEST_CASE("answer_counter: before() splits the report's bucket by time once it is closed") {
  answer_counter c;
  c.add(t0 + w / 10, 10);  // bucket 0
  c.add(t0 + w + w / 2, 4);
  // 30% into a bucket of 10 answers: 3 of them counted as before.
  CHECK(c.before(t0 + w * 3 / 10, t0 + 10 * w) == 3);
  CHECK(c.before(t0 + w, t0 + 10 * w) == 10);
  // While the bucket is still open it counts whole as later (the result must not change as
  // answers keep arriving in it).
  CHECK(c.before(t0 + w * 3 / 10, t0 + w / 2) == 0);
  // since() keeps plain bucket resolution.
  CHECK(c.since(t0 + w * 3 / 10, t0 + 10 * w) == 14);
}

TEST_CASE("answer_counter: the ring forgets what is older than its history") {
  answer_counter c;
  c.add(t0, 7);
  // One full ring later the slot of t0 is reused for a new bucket.
  const auto later = t0 + answer_counter::history;
  c.add(later, 1);
  CHECK(c.total() == 8);
  CHECK(c.since(t0, later) == 1);  // looks back at most `history`
  CHECK(c.since(later, later) == 1);
  // A bucket left over from a previous lap is not counted as a current one.
  answer_counter d;
  d.add(t0, 5);
  CHECK(d.since(t0 + answer_counter::history + w / 2, t0 + answer_counter::history + w / 2) == 0);
  // An answer stamped a whole ring behind a recycled slot still counts in the total.
  d.add(t0 + answer_counter::history, 1);
  d.add(t0, 1);
  CHECK(d.total() == 7);
}

TEST_CASE("answer_counter: a full bucket stays full and the total keeps counting") {
  answer_counter c;
  for (int i = 0; i < 70; ++i) c.add(t0, 1000);  // 70,000 in one bucket: more than a slot holds
  c.add(t0 + w, 5);
  CHECK(c.total() == 70'005);
  CHECK(c.since(t0, t0 + w) == 65'535 + 5);  // the slot saturates instead of wrapping
  CHECK(c.since(t0 + w, t0 + w) == 5);       // and its neighbour is untouched
}

TEST_CASE("answer_counter: a backend idle for hours counts afresh, whatever its old tags") {
  // Slot tags are 16 bits of the bucket number: they repeat every 65,536 buckets (4.5 h).
  // Answers after an idle time land in the ring and are summed, except within a minute of a
  // whole number of tag periods (answer_counter.cpp says what happens then).
  for (const auto idle : {std::chrono::duration_cast<clock::duration>(20min),
                          std::chrono::duration_cast<clock::duration>(3h),
                          std::chrono::duration_cast<clock::duration>(7h + 13min)}) {
    CAPTURE(idle.count());
    answer_counter c;
    c.add(t0, 7);
    const auto later = t0 + idle;
    c.add(later, 2);
    c.add(later + w, 3);
    CHECK(c.total() == 12);
    CHECK(c.since(later, later + w) == 5);
    CHECK(c.before(later + w, later + 2 * w) == 9);
  }
}

TEST_CASE("answer_counter: concurrent adds lose nothing") {
  answer_counter c;
  constexpr int threads = 4;
  constexpr int per_thread = 50'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&c, t] {
      for (int i = 0; i < per_thread; ++i) {
        // Spread over 20 buckets so that slots are recycled concurrently too.
        c.add(t0 + ((i + t) % 20) * w);
      }
    });
  }
  for (auto& one : workers) one.join();
  CHECK(c.total() == std::uint64_t{threads} * per_thread);
  CHECK(c.since(t0, t0 + 20 * w) == std::uint64_t{threads} * per_thread);
}

TEST_CASE("answer_counter: since() neither loses nor doubles answers while buckets turn") {
  // A writer opens a new bucket every 20 answers; a reader sums them all meanwhile. Each sum
  // must be at least the previous one (nothing lost) and at most the total read after it,
  // give or take the one answer being added (nothing counted twice).
  for (int round = 0; round < 20; ++round) {
    answer_counter c;
    std::atomic<bool> done{false};
    std::thread writer([&] {
      // 12 s, within the history, several answers per bucket.
      for (int i = 0; i < 6000; ++i) c.add(t0 + i * 2ms);
      done = true;
    });
    std::uint64_t previous = 0;
    int missed = 0;
    int doubled = 0;
    for (int reads = 0; reads < 200'000 && !done; ++reads) {
      const std::uint64_t s = c.since(t0, t0 + 13s);
      const std::uint64_t after = c.total();
      missed += s < previous;
      // add() counts the bucket before the total: one answer in flight may be in the sum
      // and not yet in the total.
      doubled += s > after + 1;
      previous = s;
    }
    writer.join();
    CHECK(missed == 0);
    CHECK(doubled == 0);
    CHECK(c.since(t0, t0 + 13s) == 6000);
  }
}

TEST_CASE("counter_registry: one counter per backend id, kept across snapshots") {
  counter_registry r;
  auto a = r.get(1);
  auto b = r.get(2);
  CHECK(a != b);
  CHECK(r.get(1) == a);
  a->add(t0);
  const std::int64_t live[] = {2};
  r.retain(live);
  CHECK(r.size() == 1);
  CHECK(r.get(2) == b);
  CHECK(a->total() == 1);  // a snapshot still holding it keeps it alive
  CHECK(r.get(1) != a);    // a backend that comes back starts afresh
  CHECK(r.get(1)->total() == 0);
}

TEST_CASE("counter_registry: counters made in slabs keep separate histories") {
  counter_registry r;
  std::vector<std::shared_ptr<answer_counter>> all;
  for (std::int64_t id = 0; id < 200; ++id) all.push_back(r.get(id));  // several slabs
  for (std::int64_t id = 0; id < 200; ++id) {
    auto& c = *all[static_cast<std::size_t>(id)];
    c.add(t0, static_cast<std::uint32_t>(id));
    c.add(t0 + 2 * w, 1);  // closes the first bucket
  }
  for (std::int64_t id = 0; id < 200; ++id) {
    auto& c = *all[static_cast<std::size_t>(id)];
    CAPTURE(id);
    CHECK(c.total() == static_cast<std::uint64_t>(id) + 1);
    CHECK(c.since(t0, t0 + 4 * w) == static_cast<std::uint64_t>(id) + 1);
    CHECK(c.before(t0 + w, t0 + 4 * w) == static_cast<std::uint64_t>(id));
  }
  std::vector<std::int64_t> none;
  r.retain(none);
  CHECK(r.size() == 0);
  CHECK(all[150]->total() == 151);  // still alive while referenced
}
