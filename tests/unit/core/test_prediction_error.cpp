#include "server/core/prediction_error.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "server/core/answer_counter.hpp"

using namespace std::chrono_literals;
using namespace loadns::core;

namespace {

const clock::time_point t0 = clock::time_point{} + 1000s;
constexpr clock::duration w = answer_counter::bucket_width;

struct report {
  std::int64_t id;
  std::int64_t connections;
  std::optional<clock::time_point> at;
  backend_state state = backend_state::serving;
};

std::unique_ptr<snapshot> make_snapshot(counter_registry& reg, const std::string& service_name,
                                        const std::vector<report>& reports) {
  auto snap = std::make_unique<snapshot>();
  service svc;
  svc.name = service_name;
  for (const auto& r : reports) {
    backend b;
    b.id = r.id;
    b.name = "b" + std::to_string(r.id);
    b.connections = r.connections;
    b.capacity = 100;
    b.reported_at = r.at;
    b.state = r.state;
    b.answer_count = reg.get(r.id);
    svc.backends[0].push_back(std::move(b));
  }
  snap->services.push_back(std::move(svc));
  return snap;
}

prediction_errors::histogram of(const prediction_errors& errors, const std::string& service) {
  for (const auto& [name, h] : errors.read()) {
    if (name == service) return h;
  }
  FAIL("no histogram for " << service);
  return {};
}

}  // namespace

TEST_CASE("prediction_errors: buckets by upper bound, sum and count") {
  prediction_errors e;
  e.add("s", 0);
  e.add("s", 3);
  e.add("s", -1);
  e.add("s", 5000);
  const auto h = of(e, "s");
  CHECK(h.count == 4);
  CHECK(h.sum == doctest::Approx(5002));
  CHECK(h.above == 1);
  const auto at = [](double bound) {
    for (std::size_t i = 0; i < prediction_errors::upper_bounds.size(); ++i)
      if (prediction_errors::upper_bounds[i] == bound) return i;
    FAIL("no bound " << bound);
    return std::size_t{0};
  };
  CHECK(h.buckets[at(0)] == 1);
  CHECK(h.buckets[at(5)] == 1);  // 3: above 2, at most 5
  CHECK(h.buckets[at(-1)] == 1);
}

TEST_CASE("prediction_errors: one observation per new report, predicted minus reported") {
  counter_registry reg;
  prediction_errors e;
  const auto first = make_snapshot(reg, "api.example.com", {{1, 10, t0}, {2, 20, t0}});
  e.observe(nullptr, *first, t0 + w);
  CHECK(of(e, "api.example.com").count == 0);  // present, empty: the series exist

  // 5 answers to b1 after its report; then b1 reports 12 (3 of them did not connect) and b2,
  // given nothing, reports 25 (5 came from elsewhere).
  reg.get(1)->add(t0 + 2 * w, 5);
  const auto second =
      make_snapshot(reg, "api.example.com", {{1, 12, t0 + 8 * w}, {2, 25, t0 + 8 * w}});
  e.observe(first.get(), *second, t0 + 9 * w);
  auto h = of(e, "api.example.com");
  CHECK(h.count == 2);
  CHECK(h.sum == doctest::Approx(3 - 5));

  // The same reports again (a poll with no new report; their times jitter a little): nothing.
  const auto again =
      make_snapshot(reg, "api.example.com", {{1, 12, t0 + 8 * w + 2ms}, {2, 25, t0 + 8 * w}});
  e.observe(second.get(), *again, t0 + 10 * w);
  CHECK(of(e, "api.example.com").count == 2);

  // A backend that was not serving made no prediction.
  const auto draining = make_snapshot(
      reg, "api.example.com", {{1, 12, t0 + 8 * w, backend_state::draining}, {2, 25, t0 + 8 * w}});
  const auto later =
      make_snapshot(reg, "api.example.com", {{1, 4, t0 + 16 * w}, {2, 25, t0 + 8 * w}});
  e.observe(draining.get(), *later, t0 + 17 * w);
  CHECK(of(e, "api.example.com").count == 2);
}

TEST_CASE("prediction_errors: a service that goes away is forgotten, a new one starts empty") {
  counter_registry reg;
  prediction_errors e;
  const auto a = make_snapshot(reg, "a.example.com", {{1, 1, t0}});
  e.observe(nullptr, *a, t0);
  e.add("a.example.com", 1);
  const auto b = make_snapshot(reg, "b.example.com", {{1, 1, t0 + 8 * w}});
  e.observe(a.get(), *b, t0 + 8 * w);
  const auto all = e.read();
  REQUIRE(all.size() == 1);
  CHECK(all[0].first == "b.example.com");
  CHECK(all[0].second.count == 0);
}
