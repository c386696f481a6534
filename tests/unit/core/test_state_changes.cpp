// describe_changes(): one log line per backend that changed state or family that on_empty took
// over, none when nothing changed.
#include "server/core/state_changes.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/core/backends.hpp"

using namespace loadns::core;

namespace {

snapshot one_service(std::vector<backend_state> states, std::uint32_t min_serving = 1,
                     on_empty_action action = on_empty_action::fail_open) {
  snapshot snap;
  service svc;
  svc.name = "api.example.com";
  svc.min_serving = min_serving;
  svc.on_empty = action;
  std::int64_t id = 0;
  for (auto st : states) {
    backend b;
    b.id = ++id;
    b.name = "web" + std::to_string(id);
    b.address_text = "192.0.2." + std::to_string(id);
    b.state = st;
    b.enabled = st != backend_state::disabled;
    b.healthy = st != backend_state::unhealthy;
    if (!b.healthy) b.check = "listen: nothing listens on port 7000";
    svc.backends[0].push_back(b);
  }
  decide_candidates(svc);
  snap.services.push_back(std::move(svc));
  return snap;
}

}  // namespace

TEST_CASE("nothing changed: no line") {
  const auto a = one_service({backend_state::serving, backend_state::serving});
  const auto b = one_service({backend_state::serving, backend_state::serving});
  CHECK(describe_changes(&a, b).empty());
}

TEST_CASE("a backend turning unhealthy: one line with the agent's words, and one back") {
  const auto a = one_service({backend_state::serving, backend_state::serving});
  const auto b = one_service({backend_state::serving, backend_state::unhealthy});
  CHECK(describe_changes(&a, b) ==
        std::vector<std::string>{"backend api.example.com/web2 (192.0.2.2): serving -> "
                                 "unhealthy: listen: nothing listens on port 7000"});
  CHECK(describe_changes(&b, a) ==
        std::vector<std::string>{"backend api.example.com/web2 (192.0.2.2): unhealthy -> serving"});
}

TEST_CASE("a family that on_empty takes over, and gives back") {
  const auto a =
      one_service({backend_state::serving, backend_state::serving}, 2, on_empty_action::nodata);
  const auto b =
      one_service({backend_state::serving, backend_state::draining}, 2, on_empty_action::nodata);
  CHECK(describe_changes(&a, b) ==
        std::vector<std::string>{
            "backend api.example.com/web2 (192.0.2.2): serving -> draining",
            "service api.example.com IPv4: 1 of 2 backends serving, fewer than min_serving 2: "
            "on_empty nodata"});
  CHECK(describe_changes(&b, a).back() ==
        "service api.example.com IPv4: 2 of 2 backends serving, answering from them again");
  const auto panic = one_service({backend_state::stale, backend_state::draining});
  CHECK(describe_changes(&a, panic).back() ==
        "service api.example.com IPv4: 0 of 2 backends serving, fewer than min_serving 1: "
        "on_empty fail_open (answering from all 2 enabled)");
}

TEST_CASE("the first snapshot: only what is not serving; new serving backends are quiet") {
  const auto first = one_service({backend_state::serving, backend_state::stale});
  CHECK(describe_changes(nullptr, first) ==
        std::vector<std::string>{"backend api.example.com/web2 (192.0.2.2): new -> stale"});
}

TEST_CASE("many changes at once: at most `limit` lines, the last counting the rest") {
  const auto a = one_service(std::vector<backend_state>(50, backend_state::serving));
  const auto b = one_service(std::vector<backend_state>(50, backend_state::unhealthy));
  const auto lines = describe_changes(&a, b, 5);
  REQUIRE(lines.size() == 6);
  CHECK(lines.back() == "... and 46 more changes");  // 50 backends and the family's mode
}
