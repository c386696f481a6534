// The crash scenario of issue #13, as an operator would try it: three backends (a listener
// process and a real loadns-agent each, --interval 1s), loadns-server polling every second,
// and one backend's listener SIGKILLed; then 60 clients arrive over 3 s with fresh nonce
// names. Prints how many were sent to the dead backend, once with agents that do not judge
// health (--check none: the agent before health checks) and once with the default listen
// check every 250 ms.
//
//   bench_crash [--rounds N]      (each round runs both cases; a PostgreSQL cluster each)

#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/health_world.hpp"
#include "tests/support/eventually.hpp"

using namespace std::chrono_literals;
using namespace loadns::test::agent;
using loadns::test::eventually;

namespace {

struct outcome {
  int to_dead = 0;
  int clients = 0;
  int unanswered = 0;
};

outcome crash(const std::string& check) {
  world w;
  const std::vector<std::string> ips = {"127.0.0.31", "127.0.0.32", "127.0.0.33"};
  std::vector<std::unique_ptr<listener_process>> services;
  std::vector<std::unique_ptr<agent_process>> agents;
  for (std::size_t i = 0; i < ips.size(); ++i) {
    services.push_back(std::make_unique<listener_process>(ips[i]));
    agents.push_back(std::make_unique<agent_process>(
        w.agent("b" + std::to_string(i + 1), ips[i], services[i]->port(),
                {"--local-address", ips[i], "--interval", "1s", "--check", check})));
  }
  outcome o;
  {
    // Warm-up: answers name all three before the crash.
    arrivals warm(w.server->port(), 20);
    REQUIRE(eventually(20s, [&] { return w.serving_all(warm, ips); }));
  }
  services[0]->kill();
  const auto killed = steady::now();
  {
    arrivals clients(w.server->port(), 20);
    std::this_thread::sleep_until(killed + 3s);
    for (const auto& a : clients.since(killed)) {
      ++o.clients;
      o.to_dead += a.address == ips[0] ? 1 : 0;
      o.unanswered += a.address.empty() ? 1 : 0;
    }
  }
  return o;
}

}  // namespace

TEST_CASE("crash scenario: clients sent to a backend whose listener was SIGKILLed") {
  int rounds = 1;
  if (const char* r = std::getenv("BENCH_CRASH_ROUNDS")) rounds = std::max(1, std::atoi(r));
  for (int round = 1; round <= rounds; ++round) {
    for (const char* check : {"none", "listen"}) {
      const outcome o = crash(check);
      std::printf(
          "round %d, --check %-6s: %2d of %2d clients over 3 s sent to the dead backend "
          "(%d unanswered)\n",
          round, check, o.to_dead, o.clients, o.unanswered);
      std::fflush(stdout);
    }
  }
}
