// Simulates a newcomer joining a loaded service, in virtual time, with the real balancer and
// answer counters, to reproduce the claim of docs/balancing.md: counting answers from the moment
// a snapshot loads ("resetting") forgets the ones given between the agent's report and the
// poll that reads it, and the newcomer overshoots its share; counting them from the report's
// own time (the answer_counter buckets) does not.
//
// The world: old backends hold `old_connections` each, a newcomer starts empty. Clients open
// `rate` connections per second, each to the first address of a fresh DNS answer, `connect`
// after the answer; connections live for the whole run. Each agent reports its exact count
// every `report_every` (phases spread), the server polls every `poll_every`. Overshoot = how
// far the newcomer's real connections got above the old backends' average, at the worst moment.

#include "server/core/backends.hpp"
#include "server/core/balancer.hpp"
#include "tests/unit/core/counted_pick.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using namespace loadns::core;
using loadns::core::testing::pick_counted;

namespace {

struct world {
  int old_backends = 4;
  std::int64_t old_connections = 2000;
  double rate = 400;  ///< new connections per second
  clock::duration connect = 20ms;
  clock::duration report_every = 2s;
  clock::duration poll_every = 1s;
  clock::duration run = 40s;
};

enum class counting { from_report, from_snapshot };

/// Returns the newcomer's worst overshoot, as a fraction of the old backends' average.
double simulate(const world& w, counting mode) {
  const auto start = clock::time_point{} + 10'000s;
  const int n = w.old_backends + 1;
  const int newcomer = w.old_backends;  // index
  std::vector<std::int64_t> connections(static_cast<std::size_t>(n), w.old_connections);
  connections[static_cast<std::size_t>(newcomer)] = 0;
  struct report {
    std::int64_t connections;
    clock::time_point taken;
  };
  std::vector<report> reports(static_cast<std::size_t>(n));
  std::vector<clock::time_point> next_report(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    reports[static_cast<std::size_t>(i)] = {connections[static_cast<std::size_t>(i)], start};
    // Agents are not in step: spread their phases over the report interval.
    next_report[static_cast<std::size_t>(i)] = start + w.report_every * (i + 1) / n;
  }
  counter_registry reg;
  balancer bal(99);
  std::unique_ptr<snapshot> snap;
  std::uint64_t generation = 0;
  auto poll = [&](clock::time_point now) {
    auto next = std::make_unique<snapshot>();
    next->generation = ++generation;
    next->built_at = now;
    service svc;
    svc.name = "api.example.com";
    for (int i = 0; i < n; ++i) {
      backend b;
      b.id = i + 1;
      b.fam = family::v4;
      b.connections = reports[static_cast<std::size_t>(i)].connections;
      // The bug being measured: the answers counted from the snapshot's load, as if the
      // report had been taken when it was read.
      b.reported_at =
          mode == counting::from_report ? reports[static_cast<std::size_t>(i)].taken : now;
      b.answer_count = reg.get(b.id);
      svc.backends[0].push_back(std::move(b));
    }
    decide_candidates(svc);
    next->services.push_back(std::move(svc));
    snap = std::move(next);
  };

  std::deque<std::pair<clock::time_point, int>> connecting;  // (when, backend index)
  const auto step =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / w.rate));
  auto next_poll = start;
  double worst = -1;
  for (auto now = start; now < start + w.run; now += step) {
    while (!connecting.empty() && connecting.front().first <= now) {
      ++connections[static_cast<std::size_t>(connecting.front().second)];
      connecting.pop_front();
    }
    for (int i = 0; i < n; ++i) {
      if (next_report[static_cast<std::size_t>(i)] <= now) {
        reports[static_cast<std::size_t>(i)] = {connections[static_cast<std::size_t>(i)], now};
        next_report[static_cast<std::size_t>(i)] += w.report_every;
      }
    }
    if (next_poll <= now) {
      poll(now);
      next_poll += w.poll_every;
    }
    const backend* out[1];
    REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, now) == 1);
    connecting.emplace_back(now + w.connect, static_cast<int>(out[0]->id - 1));

    double old_sum = 0;
    for (int i = 0; i < w.old_backends; ++i)
      old_sum += static_cast<double>(connections[static_cast<std::size_t>(i)]);
    const double old_avg = old_sum / w.old_backends;
    worst = std::max(
        worst,
        static_cast<double>(connections[static_cast<std::size_t>(newcomer)]) / old_avg - 1.0);
  }
  return worst;
}

}  // namespace

TEST_CASE(
    "simulation: a newcomer overshoots when answers are counted from the snapshot, not "
    "from the report") {
  const world w;
  const double resetting = simulate(w, counting::from_snapshot);
  const double aligned = simulate(w, counting::from_report);
  std::printf(
      "newcomer overshoot, %d backends x %lld connections + 1 empty, %.0f connections/s, "
      "reports every %llds, polls every %llds:\n"
      "  answers counted from the snapshot's load: %5.1f%%\n"
      "  answers counted from the report's time:   %5.1f%%\n",
      w.old_backends, static_cast<long long>(w.old_connections), w.rate,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::seconds>(w.report_every).count()),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::seconds>(w.poll_every).count()),
      resetting * 100, aligned * 100);
  CHECK(resetting > 0.05);
  CHECK(aligned < 0.01);
}
