// core::share_ledger and the balancer's use of shared counts, without a database.

#include "server/core/share_ledger.hpp"

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <memory>

#include "server/core/backends.hpp"
#include "server/core/balancer.hpp"
#include "tests/unit/core/counted_pick.hpp"

using namespace std::chrono_literals;
using namespace loadns::core;
using loadns::core::testing::pick_counted;

namespace {

const clock::time_point t0 = clock::time_point{} + 1000s;

/// One service with `n` v4 backends (ids 1..n), their counters from `reg`.
std::shared_ptr<snapshot> make_snapshot(counter_registry& reg, int n) {
  auto snap = std::make_shared<snapshot>();
  snap->generation = 1;
  snap->services.emplace_back();
  service& svc = snap->services.back();
  svc.name = "api.example.com";
  for (int i = 1; i <= n; ++i) {
    backend b;
    b.id = i;
    b.name = "b" + std::to_string(i);
    b.address = {192, 0, 2, static_cast<std::uint8_t>(i)};
    b.answer_count = reg.get(i);
    b.shared = reg.get_shared(i);
    svc.backends[0].push_back(std::move(b));
  }
  decide_candidates(svc);
  return snap;
}

std::int64_t db_ms(clock::time_point t) {
  // A database clock 12 hours ahead of ours, in milliseconds.
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() +
         43'200'000;
}

}  // namespace

TEST_CASE("share_ledger: own answers are offered until a flush commits them") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 3);
  share_ledger ledger(250ms);
  own_answers out;
  ledger.collect(*snap, out);
  CHECK(out.backends.empty());
  reg.get(1)->add(t0, 3);
  reg.get(3)->add(t0, 1);
  ledger.collect(*snap, out);
  REQUIRE(out.backends.size() == 2);
  CHECK(out.backends[0] == 1);
  CHECK(out.answers[0] == 3);
  CHECK(out.backends[1] == 3);
  // Not committed (the write failed): offered again, with what came since.
  reg.get(1)->add(t0, 2);
  ledger.collect(*snap, out);
  REQUIRE(out.backends.size() == 2);
  CHECK(out.answers[0] == 5);
  ledger.commit();
  ledger.collect(*snap, out);
  CHECK(out.backends.empty());
  reg.get(2)->add(t0);
  ledger.collect(*snap, out);
  REQUIRE(out.backends.size() == 1);
  CHECK(out.backends[0] == 2);
  CHECK(out.answers[0] == 1);
}

TEST_CASE("share_ledger: other servers' rows land at their time on our clock, once") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 2);
  share_ledger ledger(250ms);
  const auto now = t0 + 10s;
  // Server x flushed 4 answers for backend 1 two seconds ago (period centre 2.125 s ago) and
  // 2 for backend 2 just now; backend 9 is not ours.
  std::vector<shared_row> rows{
      {"x", 1, 1, 4, db_ms(now - 2s)}, {"x", 2, 2, 2, db_ms(now)}, {"x", 2, 9, 5, db_ms(now)}};
  CHECK(ledger.apply(*snap, rows, db_ms(now), now) == 6);
  CHECK(reg.get_shared(1)->total() == 4);
  CHECK(reg.get_shared(1)->before(now - 2s, now) == 4);  // given before (now - 2 s)
  CHECK(reg.get_shared(1)->since(now - 3s, now) == 4);
  CHECK(reg.get_shared(2)->total() == 2);
  CHECK(ledger.servers() == 1);
  REQUIRE(ledger.known_servers() == std::vector<std::string>{"x"});
  CHECK(ledger.known_flushes() == std::vector<std::int64_t>{2});
  // The same flushes read again are not added twice.
  CHECK(ledger.apply(*snap, rows, db_ms(now), now) == 0);
  CHECK(reg.get_shared(1)->total() == 4);
  // Nothing of ours is added: our own answers stay in the other counter.
  CHECK(reg.get(1)->total() == 0);
  // Silent for longer than the history: forgotten.
  ledger.expire(now + answer_counter::history + 1s);
  CHECK(ledger.servers() == 0);
}

TEST_CASE("balancer: other servers' answers after the report count, earlier ones do not") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 2);
  auto& list = snap->services[0].backends[0];
  const auto now = t0 + 10s;
  // Both reported 100 connections 2 s ago. Another server gave backend 1 three answers after
  // the report and backend 2 five answers before it (already in its 100).
  for (auto& b : list) {
    b.connections = 100;
    b.reported_at = now - 2s;
  }
  reg.get_shared(1)->add(now - 1s, 3);
  reg.get_shared(2)->add(now - 4s, 5);
  balancer bal(42);
  std::array<const backend*, 1> out{};
  // Backend 1 is at 103, backend 2 at 100: the next three answers go to backend 2.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, now) == 1);
    CHECK(out[0]->id == 2);
  }
}

TEST_CASE("balancer: without a report every server's answers count (no agent)") {
  counter_registry reg;
  auto snap = make_snapshot(reg, 3);
  reg.get_shared(1)->add(t0, 1);
  reg.get_shared(2)->add(t0, 1);
  balancer bal(7);
  std::array<const backend*, 1> out{};
  REQUIRE(pick_counted(bal, *snap, snap->services[0], family::v4, out, t0 + 1s) == 1);
  CHECK(out[0]->id == 3);
}
