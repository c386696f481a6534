#include "server/core/backends.hpp"

#include <doctest/doctest.h>

using namespace loadns::core;

namespace {

backend with_state(backend_state s, bool enabled = true) {
  backend b;
  b.state = s;
  b.enabled = enabled;
  return b;
}

}  // namespace

TEST_CASE("classify: the first reason that applies, most deliberate first") {
  service svc;
  svc.stale_after = std::chrono::seconds(10);
  backend b;
  b.capacity = 10;
  b.connections = 10;
  const auto old = std::optional<clock::duration>(std::chrono::seconds(11));
  CHECK(classify(b, old, svc) == backend_state::stale);
  CHECK(classify(b, std::nullopt, svc) == backend_state::full);
  // The agent's health check outranks load, and is outranked by silence: a stale report's
  // health is as old as the report.
  b.healthy = false;
  CHECK(classify(b, std::nullopt, svc) == backend_state::unhealthy);
  CHECK(classify(b, old, svc) == backend_state::stale);
  b.draining = true;
  CHECK(classify(b, old, svc) == backend_state::draining);
  b.enabled = false;
  CHECK(classify(b, old, svc) == backend_state::disabled);
  backend fresh;
  CHECK(classify(fresh, std::chrono::seconds(1), svc) == backend_state::serving);
}

TEST_CASE("decide_candidates: serving ones; else every enabled one, failing open; else none") {
  service svc;
  svc.backends[0] = {with_state(backend_state::full), with_state(backend_state::serving),
                     with_state(backend_state::disabled, false)};
  svc.backends[1] = {with_state(backend_state::stale), with_state(backend_state::disabled, false),
                     with_state(backend_state::draining)};
  decide_candidates(svc);
  CHECK(svc.candidates[0].indices == std::vector<std::uint32_t>{1});
  CHECK(svc.candidates[0].mode == family_mode::serving);
  CHECK(svc.candidates[0].serving == 1);
  CHECK(svc.candidates[1].indices == std::vector<std::uint32_t>{0, 2});
  CHECK(svc.candidates[1].mode == family_mode::fail_open);
  CHECK(svc.candidates[1].serving == 0);

  svc.backends[1] = {with_state(backend_state::disabled, false)};
  decide_candidates(svc);
  CHECK(svc.candidates[1].indices.empty());
  CHECK(svc.candidates[1].mode == family_mode::nodata);  // nothing to fail open to
}

namespace {

/// A family of five: two serving, one unhealthy, one draining, one disabled.
service five(std::uint32_t min_serving, on_empty_action action) {
  service svc;
  svc.min_serving = min_serving;
  svc.on_empty = action;
  svc.backends[0] = {with_state(backend_state::serving), with_state(backend_state::unhealthy),
                     with_state(backend_state::serving), with_state(backend_state::draining),
                     with_state(backend_state::disabled, false)};
  decide_candidates(svc);
  return svc;
}

}  // namespace

TEST_CASE("min_serving: at or above it the serving backends answer, whatever on_empty says") {
  for (auto action :
       {on_empty_action::fail_open, on_empty_action::nodata, on_empty_action::servfail}) {
    CAPTURE(static_cast<int>(action));
    for (std::uint32_t min : {0U, 1U, 2U}) {
      CAPTURE(min);
      const auto svc = five(min, action);
      CHECK(svc.candidates[0].mode == family_mode::serving);
      CHECK(svc.candidates[0].indices == std::vector<std::uint32_t>{0, 2});
      CHECK(svc.candidates[0].serving == 2);
    }
  }
}

TEST_CASE("on_empty below min_serving: fail_open spreads over every enabled backend") {
  const auto svc = five(3, on_empty_action::fail_open);
  CHECK(svc.candidates[0].mode == family_mode::fail_open);
  // Serving, unhealthy and draining alike; the disabled one stays out.
  CHECK(svc.candidates[0].indices == std::vector<std::uint32_t>{0, 1, 2, 3});
  CHECK(svc.candidates[0].serving == 2);
}

TEST_CASE("on_empty below min_serving: nodata and servfail leave no candidate") {
  const auto nodata = five(3, on_empty_action::nodata);
  CHECK(nodata.candidates[0].mode == family_mode::nodata);
  CHECK(nodata.candidates[0].indices.empty());
  const auto servfail = five(5, on_empty_action::servfail);
  CHECK(servfail.candidates[0].mode == family_mode::servfail);
  CHECK(servfail.candidates[0].indices.empty());
  CHECK(servfail.candidates[0].serving == 2);
}

TEST_CASE("on_empty is per family, and a family without backends lacks nothing") {
  service svc;
  svc.min_serving = 1;
  svc.on_empty = on_empty_action::servfail;
  svc.backends[0] = {with_state(backend_state::serving)};
  svc.backends[1] = {};  // an IPv4-only service asked for AAAA
  decide_candidates(svc);
  CHECK(svc.candidates[0].mode == family_mode::serving);
  CHECK(svc.candidates[1].mode == family_mode::serving);
  CHECK(svc.candidates[1].indices.empty());  // NODATA, not SERVFAIL

  svc.backends[1] = {with_state(backend_state::stale)};
  decide_candidates(svc);
  CHECK(svc.candidates[0].mode == family_mode::serving);
  CHECK(svc.candidates[1].mode == family_mode::servfail);
}

TEST_CASE("min_serving 0: on_empty never applies; none serving leaves no candidate") {
  service svc;
  svc.min_serving = 0;
  svc.on_empty = on_empty_action::servfail;
  svc.backends[0] = {with_state(backend_state::draining), with_state(backend_state::stale)};
  decide_candidates(svc);
  CHECK(svc.candidates[0].mode == family_mode::serving);
  CHECK(svc.candidates[0].indices.empty());
}

TEST_CASE("decide_candidates decides again from scratch (a snapshot is decided once)") {
  auto svc = five(3, on_empty_action::fail_open);
  svc.min_serving = 1;
  decide_candidates(svc);
  CHECK(svc.candidates[0].mode == family_mode::serving);
  CHECK(svc.candidates[0].indices == std::vector<std::uint32_t>{0, 2});
}

TEST_CASE("action_of: the on_empty action behind each mode that is not serving") {
  CHECK(action_of(family_mode::fail_open) == on_empty_action::fail_open);
  CHECK(action_of(family_mode::nodata) == on_empty_action::nodata);
  CHECK(action_of(family_mode::servfail) == on_empty_action::servfail);
  CHECK(on_empty_action_names[static_cast<std::size_t>(on_empty_action::nodata)] == "nodata");
  CHECK(backend_state_names[static_cast<std::size_t>(backend_state::unhealthy)] == "unhealthy");
}
