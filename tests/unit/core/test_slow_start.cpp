// Slow start (server/core/slow_start.cpp and its use by the balancer): the ramp max(0.1,
// t / window) until the window ends; a backend that entered service t ago is loaded up to
// ramp(t) times the others' level; shares count relative to each other, so when every backend
// is new they share evenly; off by default; a backend back from drain, stale or unhealthy
// (serving_since reset) ramps again. All in virtual time: no sleeps, no wall clock.

#include "server/core/slow_start.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "server/core/backends.hpp"
#include "server/core/balancer.hpp"
#include "server/core/snapshot_builder.hpp"
#include "tests/unit/core/counted_pick.hpp"

using namespace std::chrono_literals;
using namespace loadns::core;
using loadns::core::testing::pick_counted;

namespace {

const clock::time_point t0 = clock::time_point{} + 100'000s;

/// One backend as a test describes it: reported `connections` at t0 - 1 s, entered service
/// `in_service` before t0 (empty: serving_since NULL).
struct spec {
  std::int64_t id;
  std::int64_t connections = 0;
  std::optional<clock::duration> in_service = 1h;
  std::optional<std::int64_t> capacity = std::nullopt;
};

/// A snapshot with one service "api.example.com" (slow_start `window`) of IPv4 backends.
std::unique_ptr<snapshot> make_snapshot(counter_registry& reg, std::uint64_t generation,
                                        const std::vector<spec>& specs, clock::duration window) {
  auto snap = std::make_unique<snapshot>();
  snap->generation = generation;
  snap->built_at = t0;
  service svc;
  svc.name = "api.example.com";
  svc.slow_start = std::chrono::duration_cast<std::chrono::milliseconds>(window);
  for (const auto& s : specs) {
    backend b;
    b.id = s.id;
    b.name = "b" + std::to_string(s.id);
    b.address = {192, 0, 2, static_cast<std::uint8_t>(s.id)};
    b.connections = s.connections;
    b.reported_at = t0 - 1s;
    b.capacity = s.capacity;
    if (s.in_service) b.serving_since = t0 - *s.in_service;
    b.answer_count = reg.get(s.id);
    svc.backends[0].push_back(std::move(b));
  }
  decide_candidates(svc);
  snap->services.push_back(std::move(svc));
  return snap;
}

/// `count` single-answer picks at `now`: answers per backend id.
std::map<std::int64_t, int> pick_many(balancer& bal, const snapshot& snap, int count,
                                      clock::time_point now) {
  std::map<std::int64_t, int> got;
  for (int i = 0; i < count; ++i) {
    const backend* out[1];
    REQUIRE(pick_counted(bal, snap, snap.services[0], family::v4, out, now) == 1);
    ++got[out[0]->id];
  }
  return got;
}

/// Picks until backend `id` is not chosen; how many it got before that.
int first_run_of(balancer& bal, const snapshot& snap, std::int64_t id, clock::time_point now) {
  for (int run = 0; run < 100'000; ++run) {
    const backend* out[1];
    REQUIRE(pick_counted(bal, snap, snap.services[0], family::v4, out, now) == 1);
    if (out[0]->id != id) return run;
  }
  FAIL("backend " << id << " got every answer");
  return -1;
}

/// Four backends of 1,000 connections and a newcomer (id 5) that entered service
/// `in_service` before t0.
std::vector<spec> four_and_a_newcomer(clock::duration in_service) {
  return {{1, 1000}, {2, 1000}, {3, 1000}, {4, 1000}, {5, 0, in_service}};
}

}  // namespace

TEST_CASE("slow_start_ramp: off (a window of 0) counts every backend in full at once") {
  CHECK(slow_start_ramp(0s, 0s) == 1.0);
  CHECK(slow_start_ramp(-5s, 0s) == 1.0);
  CHECK(slow_start_ramp(100s, 0s) == 1.0);
}

TEST_CASE("slow_start_ramp: 10% for the first tenth of the window, then linear, then 1") {
  CHECK(slow_start_ramp(0s, 30s) == doctest::Approx(0.1));
  CHECK(slow_start_ramp(1s, 30s) == doctest::Approx(0.1));
  CHECK(slow_start_ramp(3s, 30s) == doctest::Approx(0.1));
  // serving_since ahead of the clock is t = 0, not below.
  CHECK(slow_start_ramp(-2s, 30s) == doctest::Approx(0.1));
  CHECK(slow_start_ramp(6s, 30s) == doctest::Approx(0.2));
  CHECK(slow_start_ramp(15s, 30s) == doctest::Approx(0.5));
  CHECK(slow_start_ramp(29'999ms, 30s) == doctest::Approx(0.99997).epsilon(1e-4));
  CHECK(slow_start_ramp(30s, 30s) == 1.0);
  CHECK(slow_start_ramp(1h, 30s) == 1.0);
  double last = 0;
  for (auto t = 0ms; t <= 31s; t += 250ms) {
    const double r = slow_start_ramp(t, 30s);
    CHECK(r >= last);
    CHECK(r >= 0.1);
    CHECK(r <= 1.0);
    last = r;
  }
}

TEST_CASE("slow_start_step: a thousandth of the window, between 10 ms and 1 s") {
  CHECK(slow_start_step(30s) == 30ms);
  CHECK(slow_start_step(1s) == 10ms);
  CHECK(slow_start_step(1h) == 1s);
}

TEST_CASE("slow start: a newcomer is loaded up to ramp(t) times the others' level") {
  struct point {
    clock::duration in_service;
    int first_run;  ///< answers it takes before another backend gets one
  };
  for (const point p : {point{0s, 100}, point{2s, 100}, point{15s, 500}, point{24s, 800},
                        point{30s, 1000}, point{1h, 1000}}) {
    CAPTURE(std::chrono::duration<double>(p.in_service).count());
    counter_registry reg;
    auto snap = make_snapshot(reg, 1, four_and_a_newcomer(p.in_service), 30s);
    balancer bal(7);
    const int run = first_run_of(bal, *snap, 5, t0);
    // At its level it ties with the others: the answer that ties may go either way.
    CHECK(run >= p.first_run);
    CHECK(run <= p.first_run + 1);
  }
}

TEST_CASE("slow start: from its level on, the newcomer takes ramp(t) of what each other gets") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, four_and_a_newcomer(15s), 30s);  // ramp 0.5
  balancer bal(8);
  auto got = pick_many(bal, *snap, 500, t0);
  CHECK(got[5] == 500);
  // 900 more: the old ones 200 each, the newcomer 100 (half as much); ties give +-1.
  got = pick_many(bal, *snap, 900, t0);
  for (std::int64_t id = 1; id <= 4; ++id) CHECK(std::abs(got[id] - 200) <= 1);
  CHECK(std::abs(got[5] - 100) <= 2);
}

TEST_CASE("slow start: the ramp moves on between snapshots (within one snapshot's life)") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, four_and_a_newcomer(0s), 30s);
  balancer bal(9);
  // t = 0: 10% of 1,000.
  CHECK(first_run_of(bal, *snap, 5, t0) == doctest::Approx(100).epsilon(0.02));
  // t = 15 s, same snapshot: half of 1,000 (the others got about one answer each above).
  const int more = first_run_of(bal, *snap, 5, t0 + 15s);
  CHECK(reg.get(5)->total() >= 499);
  CHECK(reg.get(5)->total() <= 503);
  CHECK(more >= 390);
  // t = 30 s: in full.
  first_run_of(bal, *snap, 5, t0 + 30s);
  CHECK(reg.get(5)->total() >= 999);
  CHECK(reg.get(5)->total() <= 1003);
}

TEST_CASE("slow start is off by default: a newcomer is loaded up to the others at once") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, four_and_a_newcomer(0s), 0s);
  balancer bal(10);
  const int run = first_run_of(bal, *snap, 5, t0);
  CHECK(run >= 1000);
  CHECK(run <= 1001);
  // And a service built from rows without slow_start has it off.
  CHECK(service{}.slow_start == 0ms);
  CHECK(service_row{}.slow_start == 0ms);
}

TEST_CASE("slow start: without serving_since (NULL) a backend counts in full") {
  counter_registry reg;
  auto snap = make_snapshot(
      reg, 1, {{1, 1000}, {2, 1000}, {3, 1000}, {4, 1000}, {5, 0, std::nullopt}}, 30s);
  balancer bal(11);
  CHECK(first_run_of(bal, *snap, 5, t0) >= 1000);
}

TEST_CASE("slow start when every backend is new: nobody is refused, answers spread evenly") {
  counter_registry reg;
  // Five new backends with a capacity of 100: a ramp scales the share, not the capacity, so
  // none is full (at 10% that would be 10 connections) and all of them keep serving.
  std::vector<spec> specs;
  for (std::int64_t id = 1; id <= 5; ++id) specs.push_back({id, 20, 0s, 100});
  auto snap = make_snapshot(reg, 1, specs, 30s);
  for (const auto& b : snap->services[0].backends[0]) CHECK(b.state == backend_state::serving);
  CHECK(snap->services[0].candidates[0].indices.size() == 5);
  balancer bal(12);
  for (auto t : {0s, 5s, 10s, 20s, 40s}) {
    auto got = pick_many(bal, *snap, 1000, t0 + t);
    for (std::int64_t id = 1; id <= 5; ++id) CHECK(got[id] == 200);
  }
  // Entered at different times: loaded relative to each other (ramps 0.5 and 0.25 at t0).
  counter_registry reg2;
  auto snap2 = make_snapshot(reg2, 1, {{1, 0, 15s}, {2, 0, 7500ms}}, 30s);
  balancer bal2(13);
  auto got = pick_many(bal2, *snap2, 3000, t0);
  CHECK(got[1] == doctest::Approx(2000).epsilon(0.01));
  CHECK(got[2] == doctest::Approx(1000).epsilon(0.01));
}

TEST_CASE("slow start: least_connections scales by the ramp too, round_robin ignores it") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 1, {{1, 1000}, {2, 200, 15s}}, 30s);  // 200 / 0.5 = 400
  snap->services[0].pol = policy::least_connections;
  balancer bal(14);
  CHECK(pick_many(bal, *snap, 10, t0)[2] == 10);
  snap->services[0].pol = policy::round_robin;
  snap->generation = 2;
  CHECK(pick_many(bal, *snap, 10, t0)[2] == 5);
}

namespace {

/// A source with one service (slow_start `window`) and one backend, as a poll reads them.
source one_backend(std::chrono::milliseconds window, backend_row b) {
  source src;
  zone_row z;
  z.name = "example.com";
  z.mname = "ns1.example.com";
  z.rname = "hostmaster.example.com";
  z.nameservers = {"ns1.example.com"};
  src.zones.push_back(z);
  service_row s;
  s.name = "api.example.com";
  s.zone = "example.com";
  s.slow_start = window;
  src.services.push_back(s);
  b.service = "api.example.com";
  src.backends.push_back(std::move(b));
  return src;
}

backend_row row(std::int64_t id, const char* address, std::int64_t connections) {
  backend_row b;
  b.id = id;
  b.name = "b" + std::to_string(id);
  b.address = address;
  b.connections = connections;
  b.report_age = 0ms;
  b.in_service = 1h;
  return b;
}

}  // namespace

TEST_CASE("snapshot: slow_start and serving_since come from the rows, on the server's clock") {
  counter_registry reg;
  auto b = row(1, "192.0.2.1", 0);
  b.in_service = 5000ms;
  auto built = build_snapshot(one_backend(30'000ms, b), t0, 1, reg);
  REQUIRE(built.snap);
  const auto& svc = built.snap->services[0];
  CHECK(svc.slow_start == 30s);
  REQUIRE(svc.backends[0][0].serving_since);
  CHECK(*svc.backends[0][0].serving_since == t0 - 5s);
  CHECK(slow_start_ramp(svc.backends[0][0], svc, t0 + 10s) == doctest::Approx(0.5));

  b.in_service.reset();  // NULL
  built = build_snapshot(one_backend(30'000ms, b), t0, 2, reg);
  REQUIRE(built.snap);
  CHECK_FALSE(built.snap->services[0].backends[0][0].serving_since);
  CHECK(slow_start_ramp(built.snap->services[0].backends[0][0], built.snap->services[0], t0) ==
        1.0);

  // serving_since in year 1 (about 2,000 years ago) or far ahead, and a window of a thousand
  // years: clamped, no overflow of the clock's nanoseconds.
  for (auto far : {std::chrono::milliseconds(-63'000'000'000'000), 63'000'000'000'000ms}) {
    b.in_service = far;
    built = build_snapshot(one_backend(31'536'000'000'000ms, b), t0, 3, reg);
    REQUIRE(built.snap);
    const auto& s = built.snap->services[0];
    CHECK(s.slow_start == slow_start_horizon);
    const double r = slow_start_ramp(s.backends[0][0], s, t0);
    CHECK(r >= 0.1);
    CHECK(r <= 1.0);
  }

  auto bad = one_backend(-1ms, b);
  auto refused = build_snapshot(bad, t0, 4, reg);
  REQUIRE(refused.snap);
  CHECK(refused.snap->services.empty());
  REQUIRE(refused.skipped.size() == 2);  // the service, then its backend
  CHECK(refused.skipped[0].reason.find("slow_start") != std::string::npos);
}

TEST_CASE("slow start again after drain, stale or unhealthy: serving_since reset ramps anew") {
  // What puts the backend out in the first poll; in the second it is back, and the database
  // has set serving_since to the moment it came back (migrations/0005: report() for a
  // first report or one after stale, a trigger for enabled, undrained, healthy again).
  struct out {
    const char* why;
    void (*apply)(backend_row&);
    backend_state state;
  };
  const out cases[] = {
      {"draining", [](backend_row& b) { b.draining = true; }, backend_state::draining},
      {"stale", [](backend_row& b) { b.report_age = 60'000ms; }, backend_state::stale},
      {"unhealthy", [](backend_row& b) { b.agent_healthy = false; }, backend_state::unhealthy},
      {"disabled", [](backend_row& b) { b.enabled = false; }, backend_state::disabled},
  };
  for (const auto& c : cases) {
    CAPTURE(c.why);
    counter_registry reg;
    auto make = [](const backend_row& fifth) {
      auto src = one_backend(30'000ms, row(1, "192.0.2.1", 1000));
      for (std::int64_t id = 2; id <= 4; ++id) {
        src.backends.push_back(row(id, ("192.0.2." + std::to_string(id)).c_str(), 1000));
        src.backends.back().service = "api.example.com";
      }
      src.backends.push_back(fifth);
      src.backends.back().service = "api.example.com";
      return src;
    };
    auto fifth = row(5, "192.0.2.5", 0);
    c.apply(fifth);
    auto first = build_snapshot(make(fifth), t0 - 2s, 1, reg);
    REQUIRE(first.snap);
    CHECK(first.snap->services[0].backends[0][4].state == c.state);
    CHECK(first.snap->services[0].candidates[0].indices.size() == 4);

    auto back = row(5, "192.0.2.5", 0);
    back.in_service = 0ms;  // came back at the second poll's now()
    auto second = build_snapshot(make(back), t0, 2, reg);
    REQUIRE(second.snap);
    CHECK(second.snap->services[0].backends[0][4].state == backend_state::serving);
    balancer bal(15);
    const int run = first_run_of(bal, *second.snap, 5, t0);
    CHECK(run >= 100);  // 10% of the others' 1,000, not all 1,000 at once
    CHECK(run <= 101);
  }
}

namespace {

/// The scenario of bench/balance/slow_start in virtual time: four backends of 1,000 connections, a
/// newcomer entering service at `start`, 200 new connections per second connecting 20 ms after
/// their answer; agents report their exact counts every second (phases spread), the server polls
/// every second.
struct trace {
  double worst_over_ramp = -1;  ///< max over time of newcomer / (ramp x others' mean) - 1
  /// Per second, the newcomer's new connections against the ramp's allowance for that second
  /// (what brings it to ramp x others' mean at the second's end): the worst excess in
  /// connections, and as a part of the allowance where that is at least 20 (in the first
  /// tenth of the window it is 4 or 5 a second, and one connection is 20% of it).
  double worst_excess = -1e9;
  double worst_second = -1;
  bool every_second_within = true;  ///< new <= 1.05 x allowance + 1 every second
  double off_mean_at_end = 1;       ///< |newcomer - mean| / mean at window + 10 s
  int most_in_a_second = 0;         ///< the newcomer's most new connections in one second
};

trace simulate_newcomer(clock::duration window) {
  const auto start = clock::time_point{} + 10'000s;
  constexpr std::size_t n = 5;
  constexpr std::size_t newcomer = 4;
  constexpr double rate = 200;
  std::array<std::int64_t, n> connections{1000, 1000, 1000, 1000, 0};
  std::array<std::int64_t, n> reported = connections;
  std::array<clock::time_point, n> reported_at{};
  std::array<clock::time_point, n> next_report{};
  for (std::size_t i = 0; i < n; ++i) {
    reported_at[i] = start - 1s;
    next_report[i] = start + 1s * static_cast<int>(i + 1) / static_cast<int>(n);
  }
  counter_registry reg;
  balancer bal(16);
  std::unique_ptr<snapshot> snap;
  std::uint64_t generation = 0;
  auto poll = [&](clock::time_point now) {
    auto next = std::make_unique<snapshot>();
    next->generation = ++generation;
    service svc;
    svc.name = "api.example.com";
    svc.slow_start = std::chrono::duration_cast<std::chrono::milliseconds>(window);
    for (std::size_t i = 0; i < n; ++i) {
      backend b;
      b.id = static_cast<std::int64_t>(i + 1);
      b.connections = reported[i];
      b.reported_at = reported_at[i];
      b.serving_since = i == newcomer ? start : start - 1h;
      b.answer_count = reg.get(b.id);
      svc.backends[0].push_back(std::move(b));
    }
    decide_candidates(svc);
    next->services.push_back(std::move(svc));
    next->built_at = now;
    snap = std::move(next);
  };

  trace out;
  std::vector<std::pair<clock::time_point, std::size_t>> connecting;  // in time order
  std::size_t connected = 0;
  const auto step =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto next_poll = start;
  const auto end = start + std::max<clock::duration>(window, 0s) + 10s;
  std::int64_t at_second_start = 0;
  auto second = start + 1s;
  auto allowed = [&](clock::time_point t) {
    double others = 0;
    for (std::size_t i = 0; i < newcomer; ++i) others += static_cast<double>(connections[i]);
    return slow_start_ramp(t - start, window) * others / newcomer;
  };
  for (auto now = start; now <= end; now += step) {
    while (connected < connecting.size() && connecting[connected].first <= now) {
      ++connections[connecting[connected++].second];
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (next_report[i] <= now) {
        reported[i] = connections[i];
        reported_at[i] = now;
        next_report[i] += 1s;
      }
    }
    if (next_poll <= now) {
      poll(now);
      next_poll += 1s;
    }
    const backend* chosen[1];
    REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, chosen, now) == 1);
    connecting.emplace_back(now + 20ms, static_cast<std::size_t>(chosen[0]->id - 1));

    const auto c = static_cast<double>(connections[newcomer]);
    out.worst_over_ramp = std::max(out.worst_over_ramp, c / allowed(now) - 1);
    if (now >= second) {
      // What the ramp allows this second: up to ramp x others' mean at its end.
      const double allowance = allowed(now) - static_cast<double>(at_second_start);
      const auto got = connections[newcomer] - at_second_start;
      out.most_in_a_second = std::max<int>(out.most_in_a_second, static_cast<int>(got));
      const auto g = static_cast<double>(got);
      out.worst_excess = std::max(out.worst_excess, g - allowance);
      if (allowance >= 20) out.worst_second = std::max(out.worst_second, g / allowance - 1);
      if (g > 1.05 * allowance + 1) out.every_second_within = false;
      at_second_start = connections[newcomer];
      second += 1s;
    }
  }
  double sum = 0;
  for (auto c : connections) sum += static_cast<double>(c);
  const double mean = sum / n;
  out.off_mean_at_end = std::abs(static_cast<double>(connections[newcomer]) - mean) / mean;
  return out;
}

}  // namespace

TEST_CASE("simulation: 30 s of slow start at 200 connections/s follows the ramp") {
  const trace on = simulate_newcomer(30s);
  const trace off = simulate_newcomer(0s);
  std::printf(
      "slow start 30 s, 4 x 1,000 connections + 1 new, 200 new connections/s (virtual time):\n"
      "  newcomer above ramp x others' mean, worst: %+.1f%% (off: %+.1f%%)\n"
      "  new connections in a second above the ramp's allowance, worst: %+.1f connections, "
      "%+.1f%%\n"
      "  most new connections in one second: %d (off: %d)\n"
      "  off the mean at window + 10 s: %.2f%%\n",
      100 * on.worst_over_ramp, 100 * off.worst_over_ramp, on.worst_excess, 100 * on.worst_second,
      on.most_in_a_second, off.most_in_a_second, 100 * on.off_mean_at_end);
  CHECK(on.worst_over_ramp <= 0.05);
  CHECK(on.worst_second <= 0.05);
  CHECK(on.every_second_within);
  CHECK(on.off_mean_at_end <= 0.02);
  // Without it the newcomer takes every new client until it reaches the mean.
  CHECK(off.most_in_a_second >= 190);
  CHECK(on.most_in_a_second < 120);
}
