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
  CHECK_FALSE(svc.candidates[0].fail_open);
  CHECK(svc.candidates[1].indices == std::vector<std::uint32_t>{0, 2});
  CHECK(svc.candidates[1].fail_open);

  svc.backends[1] = {with_state(backend_state::disabled, false)};
  decide_candidates(svc);
  CHECK(svc.candidates[1].indices.empty());
  CHECK_FALSE(svc.candidates[1].fail_open);  // nothing to fail open to: NODATA
}
