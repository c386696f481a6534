// Micro-benchmark of balancer::pick() (least_load), each chosen backend then counted as answer()
// does (balancer::count()): CPU nanoseconds per pick, one thread, for
// services of 3, 100 and 10,000 backends, and the ratio 10,000 vs 3. The claim it checks:
// picking does not scan the backends, so a huge service costs about what a small one does.
//
//   bench_balancer [--picks N] [--answers K] [--threads T] [--rounds R]
//                  [--policy least_load|least_connections|round_robin|random]

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/backends.hpp"
#include "server/core/balancer.hpp"
#include "server/core/snapshot.hpp"

namespace {

using namespace loadns::core;

std::unique_ptr<snapshot> make_snapshot(counter_registry& reg, std::size_t n, policy pol,
                                        std::uint16_t answers) {
  auto snap = std::make_unique<snapshot>();
  snap->generation = 1;
  snap->built_at = clock::now();
  service svc;
  svc.name = "api.example.com";
  svc.pol = pol;
  svc.records_per_response = answers;
  std::mt19937_64 rng(n);
  std::uniform_int_distribution<std::int64_t> conns(900, 1100);
  for (std::size_t i = 0; i < n; ++i) {
    backend b;
    b.id = static_cast<std::int64_t>(i + 1);
    b.name = fmt::format("b{}", i);
    b.fam = family::v4;
    b.address = {192, 0, 2, static_cast<std::uint8_t>(i)};
    b.connections = conns(rng);
    b.capacity = 5000;
    b.reported_at = clock::now() - std::chrono::milliseconds(500);
    b.answer_count = reg.get(b.id);
    svc.backends[0].push_back(std::move(b));
  }
  decide_candidates(svc);
  snap->services.push_back(std::move(svc));
  return snap;
}

/// CPU time of the calling thread: on a shared machine, wall time would count the time the
/// thread waited for a core.
std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// CPU nanoseconds per pick over `picks` picks per thread, after a warm-up that builds the
/// selectors and brings the loads level (the steady state). With threads > 1, each thread has
/// its own balancer over the same snapshot and counters, as the server's workers do.
double measure(std::size_t backends, std::uint64_t picks, policy pol, std::uint16_t answers,
               int threads) {
  counter_registry reg;
  auto snap = make_snapshot(reg, backends, pol, answers);
  const auto& svc = snap->services[0];
  auto run = [&](std::uint64_t seed, double* ns) {
    balancer bal(seed);
    std::vector<const backend*> out(answers);
    std::uint64_t sink = 0;
    auto pick = [&] {
      const auto now = clock::now();
      const std::size_t n = bal.pick(*snap, svc, family::v4, out, now);
      for (std::size_t j = 0; j < n; ++j) balancer::count(*out[j], now);
      return n;
    };
    const std::uint64_t warmup = std::max<std::uint64_t>(picks / 4, 200 * backends);
    for (std::uint64_t i = 0; i < warmup; ++i) sink += pick();
    const auto start = thread_cpu_ns();
    for (std::uint64_t i = 0; i < picks; ++i) sink += pick();
    const auto elapsed = thread_cpu_ns() - start;
    if (sink == 0) fmt::print("no answers\n");
    *ns = static_cast<double>(elapsed) / static_cast<double>(picks);
  };
  std::vector<double> ns(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    workers.emplace_back(run, 7 + static_cast<std::uint64_t>(t), &ns[static_cast<std::size_t>(t)]);
  }
  run(7, &ns[0]);
  for (auto& w : workers) w.join();
  double sum = 0;
  for (double v : ns) sum += v;
  return sum / threads;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loadns balancer micro-benchmark: ns per pick by service size"};
  std::uint64_t picks = 5'000'000;
  std::uint16_t answers = 1;
  std::string pol_name = "least_load";
  int rounds = 3;
  int threads = 1;
  app.add_option("--picks", picks, "picks per measurement")->check(CLI::PositiveNumber);
  app.add_option("--answers", answers, "backends per response")->check(CLI::Range(1, 16));
  app.add_option("--policy", pol_name, "least_load, least_connections, round_robin or random")
      ->check(CLI::IsMember({"least_load", "least_connections", "round_robin", "random"}));
  app.add_option("--rounds", rounds, "measurements per size; the best is reported")
      ->check(CLI::Range(1, 100));
  app.add_option("--threads", threads, "threads picking at once, each with its own balancer")
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  const policy pol = pol_name == "least_connections" ? policy::least_connections
                     : pol_name == "round_robin"     ? policy::round_robin
                     : pol_name == "random"          ? policy::random
                                                     : policy::least_load;

  fmt::print("policy {}, {} answer(s) per pick, {} thread(s) x {} picks, best of {}\n", pol_name,
             answers, threads, picks, rounds);
  double first = 0;
  double last = 0;
  for (std::size_t n : {std::size_t{3}, std::size_t{100}, std::size_t{10'000}}) {
    double best = 1e300;
    for (int r = 0; r < rounds; ++r)
      best = std::min(best, measure(n, picks, pol, answers, threads));
    fmt::print("{:>6} backends: {:7.1f} ns/pick (thread CPU time)\n", n, best);
    if (n == 3) first = best;
    last = best;
  }
  fmt::print("ratio 10000 vs 3: {:.3f}\n", last / first);
  return 0;
}
