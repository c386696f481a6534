#include "server/core/backends.hpp"
#include "server/core/balancer.hpp"
#include "tests/unit/core/counted_pick.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace loadns::core;
using loadns::core::testing::pick_counted;

namespace {

const clock::time_point t0 = clock::time_point{} + 1000s;

/// One backend as a test describes it.
struct spec {
  std::int64_t id;
  std::int64_t connections = 0;
  std::optional<clock::time_point> reported_at = t0 - 1s;
  std::optional<std::int64_t> capacity = std::nullopt;
  double weight = 1.0;
  backend_state state = backend_state::serving;
  bool enabled = true;
};

/// A snapshot with one service "api.example.com" whose IPv4 backends are `specs`; counters
/// come from `reg`, as the snapshot builder does it.
std::unique_ptr<snapshot> make_snapshot(counter_registry& reg, std::uint64_t generation,
                                        const std::vector<spec>& specs,
                                        policy pol = policy::least_load) {
  auto snap = std::make_unique<snapshot>();
  snap->generation = generation;
  snap->built_at = t0;
  service svc;
  svc.name = "api.example.com";
  svc.pol = pol;
  svc.index = 0;
  for (const auto& s : specs) {
    backend b;
    b.id = s.id;
    b.name = "b" + std::to_string(s.id);
    b.fam = family::v4;
    b.address = {192, 0, 2, static_cast<std::uint8_t>(s.id)};
    b.address_text = "192.0.2." + std::to_string(s.id);
    b.connections = s.connections;
    b.reported_at = s.reported_at;
    b.capacity = s.capacity;
    b.weight = s.weight;
    b.state = s.state;
    b.enabled = s.enabled;
    b.draining = s.state == backend_state::draining;
    b.answer_count = reg.get(s.id);
    svc.backends[0].push_back(std::move(b));
  }
  decide_candidates(svc);
  snap->services.push_back(std::move(svc));
  return snap;
}

/// `count` single-answer picks at `now`; answers per backend id, in pick order in `order`.
std::map<std::int64_t, int> pick_many(balancer& bal, const snapshot& snap, int count,
                                      clock::time_point now,
                                      std::vector<std::int64_t>* order = nullptr) {
  std::map<std::int64_t, int> got;
  for (int i = 0; i < count; ++i) {
    const backend* out[1];
    REQUIRE(pick_counted(bal, snap, snap.services[0], family::v4, out, now) == 1);
    ++got[out[0]->id];
    if (order) order->push_back(out[0]->id);
  }
  return got;
}

}  // namespace

TEST_CASE("least_load: a newcomer gets answers only until its predicted load reaches the rest") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 1000}, {2, 1000}, {3, 1000}, {4, 0}});
  balancer bal(1);
  std::vector<std::int64_t> order;
  auto got = pick_many(bal, *snap, 1000, t0, &order);
  CHECK(got[4] == 1000);  // all of them: it was 1000 below
  // From here on every backend is at 1000: they share evenly, not the newcomer alone.
  got = pick_many(bal, *snap, 400, t0 + 10ms);
  for (std::int64_t id = 1; id <= 4; ++id) CHECK(got[id] == 100);
  CHECK(reg.get(4)->total() == 1100);
}

TEST_CASE("least_load: answers after a report count even when an earlier snapshot gave them") {
  counter_registry reg;
  // Snapshot 1: the newcomer's report of 0 connections was taken at t0 - 1 s.
  auto snap1 = make_snapshot(reg, 1, {{1, 1000}, {2, 0}});
  balancer bal(2);
  // Answers at t0 - 500 ms: before the report snapshot 2 will carry (t0), so in its count.
  auto early = pick_many(bal, *snap1, 200, t0 - 500ms);
  CHECK(early[2] == 200);
  // Answers at t0 + 200 ms .. : after that report was taken, before the poll that loads it.
  auto late = pick_many(bal, *snap1, 300, t0 + 200ms);
  CHECK(late[2] == 300);
  // Snapshot 2 (polled at t0 + 1 s) carries the report taken at t0: 200 connections (the early
  // answers became connections; the late ones are not in it yet).
  auto snap2 = make_snapshot(reg, 2, {{1, 1000}, {2, 200, t0}});
  std::vector<std::int64_t> order;
  pick_many(bal, *snap2, 1000, t0 + 1s, &order);
  // Predicted: 200 + 300 = 500, so 500 more answers bring it to 1000, not 800.
  const auto first_other = std::find(order.begin(), order.end(), 1) - order.begin();
  CHECK(first_other >= 500);  // 501 when the tie at 1000 goes its way
  CHECK(first_other <= 501);
  // Resetting on the snapshot (the bug this design avoids) would have given it 800.
}

TEST_CASE("least_load: without an agent report, load is the answers alone") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 0, std::nullopt}, {2, 0, std::nullopt}});
  balancer bal(3);
  auto got = pick_many(bal, *snap, 100, t0);
  CHECK(got[1] == 50);
  CHECK(got[2] == 50);
  // A later snapshot keeps counting from the counter's creation.
  reg.get(3)->add(t0 - 10s, 0);
  auto snap2 =
      make_snapshot(reg, 2, {{1, 0, std::nullopt}, {2, 0, std::nullopt}, {3, 0, std::nullopt}});
  got = pick_many(bal, *snap2, 200, t0 + 1s);
  CHECK(got[3] == 100);  // first 50 alone, then 50 each
  CHECK(got[1] == 50);
  CHECK(got[2] == 50);
}

TEST_CASE("least_load: capacity and weight set the shares") {
  counter_registry reg;
  SUBCASE("capacity") {
    auto snap = make_snapshot(reg, 1, {{1, 0, t0 - 1s, 100}, {2, 0, t0 - 1s, 300}});
    balancer bal(4);
    auto got = pick_many(bal, *snap, 400, t0);
    CHECK(std::abs(got[1] - 100) <= 1);  // a tie at the end may go either way
    CHECK(std::abs(got[2] - 300) <= 1);
  }
  SUBCASE("capacity with connections: the emptier share first") {
    auto snap = make_snapshot(reg, 1, {{1, 50, t0 - 1s, 100}, {2, 300, t0 - 1s, 1000}});
    balancer bal(5);
    std::vector<std::int64_t> order;
    pick_many(bal, *snap, 10, t0, &order);
    // 50/100 = 0.5 against 300/1000 = 0.3: backend 2 until it reaches half its capacity.
    CHECK(std::count(order.begin(), order.end(), 2) == 10);
  }
  SUBCASE("weight when capacity is NULL") {
    auto snap = make_snapshot(
        reg, 1, {{1, 0, t0 - 1s, std::nullopt, 1.0}, {2, 0, t0 - 1s, std::nullopt, 3.0}});
    balancer bal(6);
    auto got = pick_many(bal, *snap, 400, t0);
    CHECK(std::abs(got[1] - 100) <= 1);
    CHECK(std::abs(got[2] - 300) <= 1);
  }
  SUBCASE("a NULL capacity beside set ones is an equal share: their mean, times the weight") {
    // Mean capacity 2000: backend 3 is loaded like a 2000-connection backend, backend 4 (weight
    // 0.5) like a 1000 one. Before, they were compared in connections against connections per
    // capacity and got almost nothing.
    auto snap = make_snapshot(reg, 1,
                              {{1, 500, t0 - 1s, 1000},
                               {2, 1500, t0 - 1s, 3000},
                               {3, 1000, t0 - 1s, std::nullopt},
                               {4, 0, t0 - 1s, std::nullopt, 0.5}});
    balancer bal(7);
    auto got = pick_many(bal, *snap, 4000, t0);
    // Everyone ends at (500 + 1500 + 1000 + 0 + 4000) / (1000 + 3000 + 2000 + 1000) = 1.0 of
    // its share: 500, 1500, 1000 and 1000 more.
    CHECK(std::abs(got[1] - 500) <= 1);
    CHECK(std::abs(got[2] - 1500) <= 1);
    CHECK(std::abs(got[3] - 1000) <= 1);
    CHECK(std::abs(got[4] - 1000) <= 1);
  }
}

TEST_CASE("exclusion: only serving backends are chosen") {
  for (auto state : {backend_state::stale, backend_state::draining, backend_state::disabled,
                     backend_state::unhealthy, backend_state::full}) {
    for (auto pol :
         {policy::least_load, policy::least_connections, policy::round_robin, policy::random}) {
      CAPTURE(static_cast<int>(state));
      CAPTURE(static_cast<int>(pol));
      counter_registry reg;
      spec excluded{2, 0};
      excluded.state = state;
      excluded.enabled = state != backend_state::disabled;
      auto snap = make_snapshot(reg, 1, {{1, 5000}, excluded, {3, 9000}}, pol);
      balancer bal(7);
      auto got = pick_many(bal, *snap, 200, t0);
      CHECK(got.count(2) == 0);
      CHECK(got[1] + got[3] == 200);
      CHECK(snap->services[0].candidates[0].mode == family_mode::serving);
    }
  }
}

TEST_CASE("fail open: no serving backend left, every enabled one is used") {
  counter_registry reg;
  spec a{1, 10}, b{2, 0}, c{3, 0};
  a.state = backend_state::stale;
  b.state = backend_state::draining;
  c.state = backend_state::disabled;
  c.enabled = false;
  auto snap = make_snapshot(reg, 1, {a, b, c});
  REQUIRE(snap->services[0].candidates[0].mode == family_mode::fail_open);
  balancer bal(8);
  auto got = pick_many(bal, *snap, 20, t0);
  CHECK(got.count(3) == 0);  // disabled stays out even then
  CHECK(got[2] == 15);       // least_load still applies: 0 + 15 = 10 + 5
  CHECK(got[1] == 5);

  SUBCASE("nothing enabled at all: no answer") {
    spec d{4, 0};
    d.state = backend_state::disabled;
    d.enabled = false;
    auto none = make_snapshot(reg, 2, {d});
    const backend* out[1];
    CHECK(pick_counted(bal, *none, none->services[0], family::v4, out, t0) == 0);
  }
}

TEST_CASE("a family without backends gets no answer") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 0}});
  balancer bal(9);
  const backend* out[2];
  CHECK(pick_counted(bal, *snap, snap->services[0], family::v6, out, t0) == 0);
  CHECK(pick_counted(bal, *snap, snap->services[0], family::v4, std::span<const backend*>{}, t0) ==
        0);
}

TEST_CASE("pick() only chooses: what is not counted is chosen again, what is counted moves on") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 10}, {2, 12}, {3, 20}});
  balancer bal(11);
  std::array<const backend*, 2> out{};
  for (int i = 0; i < 5; ++i) {  // responses that did not fit: nothing counted
    REQUIRE(bal.pick(*snap, snap->services[0], family::v4, out, t0) == 2);
    CHECK(out[0]->id == 1);
    CHECK(out[1]->id == 2);
  }
  CHECK(reg.get(1)->total() == 0);
  CHECK(reg.get(2)->total() == 0);
  // Counted: it moves up.
  const backend* one[1];
  for (int i = 0; i < 2; ++i) {
    REQUIRE(bal.pick(*snap, snap->services[0], family::v4, one, t0) == 1);
    CHECK(one[0]->id == 1);  // at 10, then 11: below backend 2's 12
    balancer::count(*one[0], t0);
  }
  CHECK(reg.get(1)->total() == 2);  // 12 now, like 2
  std::map<std::int64_t, int> got;
  for (int i = 0; i < 16; ++i) {
    REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, one, t0) == 1);
    ++got[one[0]->id];
  }
  CHECK(got[1] == 8);  // 12 + 8 = 20 = 12 + 8: both reach backend 3's level
  CHECK(got[2] == 8);
  CHECK(got.count(3) == 0);
}

TEST_CASE("ties are broken at random") {
  std::map<std::int64_t, int> first;
  for (std::uint64_t seed = 0; seed < 600; ++seed) {
    counter_registry reg;  // fresh counters: every first pick sees three equal loads
    auto snap = make_snapshot(reg, 1, {{1, 100}, {2, 100}, {3, 100}});
    balancer bal(seed);
    const backend* out[1];
    REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, t0) == 1);
    ++first[out[0]->id];
  }
  for (std::int64_t id = 1; id <= 3; ++id) {
    CAPTURE(id);
    CHECK(first[id] > 150);  // 200 expected each
  }
  // Within one balancer, the order among equals is not fixed either: count how often the
  // first pick of a round of three repeats the previous round's first.
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 100}, {2, 100}, {3, 100}});
  balancer bal(42);
  std::vector<std::int64_t> order;
  pick_many(bal, *snap, 300, t0 + 1s, &order);
  int same = 0;
  for (std::size_t r = 3; r < order.size(); r += 3) same += order[r] == order[r - 3];
  CHECK(same < 60);  // 33 expected at random, 99 if the order were fixed
}

TEST_CASE("answers > 1: distinct backends, lowest load first") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 40}, {2, 10}, {3, 50}, {4, 20}, {5, 30}});
  balancer bal(10);
  std::array<const backend*, 3> out{};
  REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, t0) == 3);
  CHECK(out[0]->id == 2);
  CHECK(out[1]->id == 4);
  CHECK(out[2]->id == 5);
  // Each counted once: 11, 21, 31, 40, 50.
  REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, t0) == 3);
  CHECK(out[0]->id == 2);
  CHECK(out[1]->id == 4);
  CHECK(out[2]->id == 5);
  CHECK(reg.get(2)->total() == 2);
  // Asking for more than there are: each backend once.
  std::array<const backend*, 8> many{};
  REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, many, t0) == 5);
  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < 5; ++i) ids.insert(many[i]->id);
  CHECK(ids.size() == 5);
  CHECK(many[0]->id == 2);
  CHECK(many[4]->id == 3);
  for (auto pol : {policy::least_connections, policy::round_robin, policy::random}) {
    CAPTURE(static_cast<int>(pol));
    auto other = make_snapshot(reg, 2, {{1, 40}, {2, 10}, {3, 50}, {4, 20}, {5, 30}}, pol);
    for (int round = 0; round < 20; ++round) {
      std::array<const backend*, 4> four{};
      REQUIRE(pick_counted(bal, *other, other->services[0], family::v4, four, t0) == 4);
      std::set<const backend*> distinct(four.begin(), four.end());
      CHECK(distinct.size() == 4);
      if (pol == policy::least_connections) CHECK(four[0]->id == 2);
    }
  }
}

TEST_CASE("least_load agrees with a brute-force scan over random shares and answer counts") {
  // Mixed capacities and weights, uneven connections, 1 to 4 answers per response: before
  // every pick, compute each backend's predicted load by hand and check that the balancer
  // took the lowest ones, in order, within one key unit (one answer of the largest share).
  std::mt19937_64 rng(20240601);
  for (int round = 0; round < 20; ++round) {
    counter_registry reg;
    std::vector<spec> specs;
    const std::optional<std::int64_t> capacities[] = {std::nullopt, 100, 250, 1000, 4000};
    const double weights[] = {1.0, 0.5, 2.0, 3.0};
    const int n = 1 + static_cast<int>(rng() % 60);
    for (std::int64_t id = 1; id <= n; ++id) {
      spec sp{id, static_cast<std::int64_t>(rng() % 3000)};
      sp.capacity = capacities[rng() % 5];
      sp.weight = weights[rng() % 4];
      sp.reported_at = t0 - 10s;  // every answer below is after the report
      specs.push_back(sp);
    }
    auto snap = make_snapshot(reg, 1, specs);
    const auto& backends = snap->services[0].backends[0];
    // A NULL capacity is an equal share: the mean of the set ones, times the weight.
    double capacity_sum = 0;
    int with_capacity = 0;
    for (const auto& b : backends) {
      if (b.capacity) {
        capacity_sum += static_cast<double>(*b.capacity);
        ++with_capacity;
      }
    }
    const double equal = with_capacity ? capacity_sum / with_capacity : 1.0;
    auto share = [&](const backend& b) {
      return b.capacity ? static_cast<double>(*b.capacity) : equal * b.weight;
    };
    double largest = 0;
    for (const auto& b : backends) largest = std::max(largest, share(b));
    auto load = [&](const backend& b) {
      return (static_cast<double>(b.connections) + static_cast<double>(b.answer_count->total())) /
             share(b);
    };
    const double unit = 1.0 / largest + 1e-9;
    balancer bal(static_cast<std::uint64_t>(round));
    for (int i = 0; i < 3000; ++i) {
      std::vector<double> before;
      for (const auto& b : backends) before.push_back(load(b));
      std::array<const backend*, 4> out{};
      const std::size_t want = 1 + rng() % 4;
      const std::size_t got = pick_counted(bal, *snap, snap->services[0], family::v4,
                                           std::span(out).first(want), t0 + 1s);
      REQUIRE(got == std::min<std::size_t>(want, backends.size()));
      std::set<const backend*> distinct(out.begin(), out.begin() + static_cast<long>(got));
      REQUIRE(distinct.size() == got);
      // The chosen are the lowest: none of them is above any backend left out.
      double highest_chosen = 0;
      for (std::size_t j = 0; j < got; ++j) {
        const double l = before[static_cast<std::size_t>(out[j] - backends.data())];
        highest_chosen = std::max(highest_chosen, l);
        if (j > 0) {  // and in increasing order
          CHECK(before[static_cast<std::size_t>(out[j - 1] - backends.data())] <= l + unit);
        }
      }
      for (std::size_t b = 0; b < backends.size(); ++b) {
        if (!distinct.contains(&backends[b])) CHECK(highest_chosen <= before[b] + unit);
      }
    }
  }
}

TEST_CASE("least_connections ignores answers: the herd goes to one backend") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 1000}, {2, 1000}, {3, 0}}, policy::least_connections);
  balancer bal(11);
  auto got = pick_many(bal, *snap, 5000, t0);
  CHECK(got[3] == 5000);
}

TEST_CASE("round_robin and random spread evenly whatever the load") {
  counter_registry reg;
  auto rr = make_snapshot(reg, 1, {{1, 0}, {2, 5000}, {3, 90}}, policy::round_robin);
  balancer bal(12);
  std::vector<std::int64_t> order;
  auto got = pick_many(bal, *rr, 300, t0, &order);
  for (std::int64_t id = 1; id <= 3; ++id) CHECK(got[id] == 100);
  for (std::size_t i = 3; i < order.size(); ++i) CHECK(order[i] == order[i - 3]);

  auto rnd = make_snapshot(reg, 2, {{1, 0}, {2, 5000}, {3, 90}}, policy::random);
  got = pick_many(bal, *rnd, 3000, t0);
  for (std::int64_t id = 1; id <= 3; ++id) {
    CHECK(got[id] > 850);
    CHECK(got[id] < 1150);
  }
}

TEST_CASE("a new snapshot generation rebuilds the selection") {
  counter_registry reg;
  auto snap1 = make_snapshot(reg, 1, {{1, 0}, {2, 1000}});
  balancer bal(13);
  CHECK(pick_many(bal, *snap1, 10, t0)[1] == 10);
  auto snap2 = make_snapshot(reg, 2, {{1, 5000, t0}, {2, 1000, t0}});
  CHECK(pick_many(bal, *snap2, 10, t0 + 1s)[2] == 10);
}

TEST_CASE("least_load sees answers another thread's balancer gave before choosing") {
  counter_registry reg;
  // Balancer a sees backends 1 (1000), 2 and 3 (newcomers); b, another worker, sees 1 and 3
  // only, through the same counters.
  auto snap_a = make_snapshot(reg, 1, {{1, 1000}, {2, 0}, {3, 0}});
  auto snap_b = make_snapshot(reg, 1, {{1, 1000}, {3, 0}});
  balancer a(21), b(22);
  auto got = pick_many(a, *snap_a, 2, t0);
  CHECK(got[2] == 1);
  CHECK(got[3] == 1);
  got = pick_many(b, *snap_b, 999, t0);
  CHECK(got[3] == 999);  // backend 3 is now at 1000
  // a still remembers 3 at 1; it must re-read the counter and answer with 2.
  got = pick_many(a, *snap_a, 20, t0);
  CHECK(got[2] == 20);
}

TEST_CASE("two threads picking at once keep the total balanced") {
  counter_registry reg;
  std::vector<spec> specs;
  for (std::int64_t id = 1; id <= 8; ++id) specs.push_back({id, 1000});
  specs.push_back({9, 0});  // a newcomer both threads fill
  auto snap = make_snapshot(reg, 1, specs);
  constexpr int per_thread = 20'000;
  auto work = [&](std::uint64_t seed) {
    balancer bal(seed);
    const auto now = clock::now();  // one time: the report is older than every answer
    for (int i = 0; i < per_thread; ++i) {
      const backend* out[1];
      if (pick_counted(bal, *snap, snap->services[0], family::v4, out, now) != 1) return;
    }
  };
  // Reports taken before `now` on the real clock.
  for (auto& b : snap->services[0].backends[0]) b.reported_at = clock::now() - 1s;
  std::thread a(work, 100), b(work, 200);
  a.join();
  b.join();
  // 40,000 answers + 8,000 connections over 9 backends: each ends near 5,333 predicted
  // (the newcomer took 5,333 answers, the others 4,333 each), within a few of that.
  std::uint64_t total = 0;
  for (std::int64_t id = 1; id <= 9; ++id) {
    const auto n = reg.get(id)->total();
    total += n;
    const double load = static_cast<double>(n) + (id == 9 ? 0.0 : 1000.0);
    CAPTURE(id);
    CHECK(load == doctest::Approx(48'000.0 / 9).epsilon(0.002));
  }
  CHECK(total == 2 * per_thread);
}
