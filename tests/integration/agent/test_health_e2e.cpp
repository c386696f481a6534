// Health end to end: real listener processes, real loadns-agents at --interval 2s, a real
// loadns-server, and clients arriving at 20 per second with fresh nonce names. When one
// backend's listener is SIGKILLed, no answer names it from 500 ms after the kill (the measured
// time is printed), and it is served again once a listener is back; the same with an HTTP
// check that answers 503 and then 200 again.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/health_world.hpp"
#include "tests/integration/agent/http_toggle.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/server_process.hpp"

using namespace std::chrono_literals;
using namespace loadns::test::agent;
using loadns::test::eventually;
using loadns::test::server_options;
using loadns::test::server_process;

TEST_CASE("a SIGKILLed listener: no answer names its backend from 500 ms after the kill") {
  world w;
  const std::vector<std::string> ips = {"127.0.0.11", "127.0.0.12", "127.0.0.13"};
  std::vector<std::unique_ptr<listener_process>> services;
  std::vector<std::unique_ptr<agent_process>> agents;
  for (std::size_t i = 0; i < ips.size(); ++i) {
    services.push_back(std::make_unique<listener_process>(ips[i]));
    agents.push_back(std::make_unique<agent_process>(w.agent(
        "b" + std::to_string(i + 1), ips[i], services[i]->port(), {"--local-address", ips[i]})));
  }
  arrivals clients(w.server->port(), 20);
  REQUIRE_MESSAGE(eventually(20s, [&] { return w.serving_all(clients, ips); }),
                  agents[0]->log() << w.server->log_tail());

  const std::uint16_t port = services[0]->port();
  const auto killed = steady::now();
  services[0]->kill();
  std::this_thread::sleep_for(3s);
  const auto after = clients.since(killed);
  MESSAGE("listener SIGKILLed, in the next 3 s: " << sent_to(after, ips[0], killed, "the kill"));
  CHECK_MESSAGE(clients.since(killed + 500ms).size() >= 40, "too few clients ran");
  int late = 0;
  int unanswered = 0;
  for (const auto& a : clients.since(killed + 500ms)) late += a.address == ips[0] ? 1 : 0;
  for (const auto& a : after) unanswered += a.address.empty() ? 1 : 0;
  CHECK_MESSAGE(late == 0, "sent to the dead backend at: " << names_of(after, ips[0], killed));
  CHECK(unanswered == 0);  // the others answered throughout

  const auto back = steady::now();
  services[0] = std::make_unique<listener_process>(ips[0], port);
  CHECK_MESSAGE(eventually(10s,
                           [&] {
                             for (const auto& a : clients.since(back)) {
                               if (a.address == ips[0]) return true;
                             }
                             return false;
                           }),
                agents[0]->log());
  MESSAGE("listener back: served again after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - back).count()
          << " ms");
}

TEST_CASE("an HTTP check answering 503: no answer names the backend from 500 ms after --fall") {
  world w;
  const std::vector<std::string> ips = {"127.0.0.21", "127.0.0.22", "127.0.0.23"};
  std::vector<std::unique_ptr<http_toggle>> services;
  std::vector<std::unique_ptr<agent_process>> agents;
  for (std::size_t i = 0; i < ips.size(); ++i) {
    services.push_back(std::make_unique<http_toggle>());
    const std::string url = "http://127.0.0.1:" + std::to_string(services[i]->port()) + "/healthz";
    agents.push_back(std::make_unique<agent_process>(
        w.agent("h" + std::to_string(i + 1), ips[i], services[i]->port(), {"--check", url})));
  }
  arrivals clients(w.server->port(), 20);
  REQUIRE_MESSAGE(eventually(20s, [&] { return w.serving_all(clients, ips); }),
                  agents[0]->log() << w.server->log_tail());

  const auto failed = steady::now();
  services[0]->set_status(503);
  std::this_thread::sleep_for(3s);
  const auto after = clients.since(failed);
  MESSAGE("HTTP check answering 503 (--fall 2 at 250 ms), in the next 3 s: " << sent_to(
              after, ips[0], failed, "the switch"));
  // --fall 2 checks 250 ms apart: the second failure comes at most 500 ms after the switch.
  int late = 0;
  for (const auto& a : clients.since(failed + 1000ms)) late += a.address == ips[0] ? 1 : 0;
  CHECK_MESSAGE(late == 0, "sent to the failing backend at: " << names_of(after, ips[0], failed));

  const auto back = steady::now();
  services[0]->set_status(200);
  CHECK(eventually(10s, [&] {
    for (const auto& a : clients.since(back)) {
      if (a.address == ips[0]) return true;
    }
    return false;
  }));
  MESSAGE("HTTP 200 again: served after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - back).count()
          << " ms");
}
