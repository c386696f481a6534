#include "server/core/load.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>

#include "server/core/answer_counter.hpp"
#include "server/core/balancer.hpp"

using namespace std::chrono_literals;
using namespace loadns::core;

namespace {

const clock::time_point t0 = clock::time_point{} + 1000s;
constexpr clock::duration w = answer_counter::bucket_width;

backend make_backend(counter_registry& reg, std::int64_t id, std::int64_t connections,
                     std::optional<std::int64_t> capacity,
                     backend_state state = backend_state::serving) {
  backend b;
  b.id = id;
  b.name = "b" + std::to_string(id);
  b.connections = connections;
  b.capacity = capacity;
  b.reported_at = t0;
  b.state = state;
  b.answer_count = reg.get(id);
  return b;
}

}  // namespace

TEST_CASE("load: a backend without a capacity counts as an equal share (the mean capacity)") {
  counter_registry reg;
  std::vector<backend> all = {make_backend(reg, 1, 0, 100), make_backend(reg, 2, 0, 300),
                              make_backend(reg, 3, 0, std::nullopt)};
  const double equal = equal_share_of(all);
  CHECK(equal == doctest::Approx(200));
  CHECK(share_of(all[0], equal) == doctest::Approx(100));
  CHECK(share_of(all[2], equal) == doctest::Approx(200));
  all[2].weight = 2;
  CHECK(share_of(all[2], equal) == doctest::Approx(400));
  CHECK(equal_share_of({make_backend(reg, 4, 0, std::nullopt)}) == doctest::Approx(1));
}

TEST_CASE("load: predicted connections are the report plus the answers given since it") {
  counter_registry reg;
  backend b = make_backend(reg, 1, 10, 100);
  b.answer_count->add(t0 - 5 * w, 7);  // before the report (and its connect allowance): in it
  b.answer_count->add(t0 + w, 3);
  b.answer_count->add(t0 + 4 * w, 2);
  CHECK(predicted_connections(b, t0 + 10 * w, t0 + 10 * w) == doctest::Approx(15));
  // As of a moment between the answers: only those before it.
  CHECK(predicted_connections(b, t0 + 3 * w, t0 + 10 * w) == doctest::Approx(13));
  // Answers within the connect allowance before the report count as after it.
  backend late = make_backend(reg, 2, 10, 100);
  late.answer_count->add(t0 - balancer::connect_allowance / 2, 4);
  CHECK(predicted_connections(late, t0 + 10 * w, t0 + 10 * w) == doctest::Approx(14));
  // No report: every answer counts.
  backend fresh = make_backend(reg, 3, 0, 100);
  fresh.reported_at.reset();
  fresh.answer_count->add(t0 - 5 * w, 6);
  CHECK(predicted_connections(fresh, t0, t0) == doctest::Approx(6));
}

TEST_CASE("load: imbalance is max over mean utilisation of the serving backends") {
  counter_registry reg;
  service svc;
  svc.name = "api.example.com";
  auto& v4 = svc.backends[0];
  v4 = {make_backend(reg, 1, 50, 100), make_backend(reg, 2, 50, 100)};
  CHECK(imbalance(svc, t0 + w).value() == doctest::Approx(1.0));

  v4[0].connections = 90;  // 0.9 and 0.1: mean 0.5
  v4[1].connections = 10;
  CHECK(imbalance(svc, t0 + w).value() == doctest::Approx(1.8));

  // Answers given since the reports move it like the balancer sees them.
  v4[1].answer_count->add(t0 + w, 80);
  CHECK(imbalance(svc, t0 + 2 * w).value() == doctest::Approx(1.0));

  // Utilisation is against capacity: 40/50 and 80/100 are even.
  service cap;
  cap.backends[0] = {make_backend(reg, 11, 40, 50), make_backend(reg, 12, 80, 100)};
  CHECK(imbalance(cap, t0 + w).value() == doctest::Approx(1.0));

  // Only serving backends count; none serving: no value. All empty: even.
  cap.backends[0][0].state = backend_state::draining;
  CHECK(imbalance(cap, t0 + w).value() == doctest::Approx(1.0));
  cap.backends[0][1].state = backend_state::stale;
  CHECK_FALSE(imbalance(cap, t0 + w).has_value());
  service empty;
  empty.backends[1] = {make_backend(reg, 21, 0, 10), make_backend(reg, 22, 0, 10)};
  CHECK(imbalance(empty, t0 + w).value() == doctest::Approx(1.0));
}
