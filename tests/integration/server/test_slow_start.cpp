// Slow start end to end (docs/balancing.md "Slow start"): the server reads services.slow_start
// and backends.serving_since and loads a backend that entered service up to ramp(t) times the
// others' level. Every service here has a window of one hour, so for the test's few seconds
// the ramp stays at its floor of 10% whatever the machine's load: the figures below do not
// depend on timing. Four old backends report 1,000 connections (in service for two hours), a
// fifth 0: with slow start it takes 10% of their level, 100 answers, then a tenth of what each
// of them gets; without it, every answer until it reaches 1,000. One private cluster and
// server; each case has its own service.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/integration/server/environment.hpp"
#include "tests/support/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::eventually;
using loadns::test::e2e::environment;

// ramp: slow start on; off: the default; fresh: every backend new; back_*: the fifth backend
// comes back from drain, from stale and from unhealthy (the test brings it back).
const char* const seed = R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', ARRAY['ns1.example.com']);
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
INSERT INTO loadns.services (name, slow_start, stale_after) VALUES
  ('ramp.example.com', '1 hour', '1 hour'), ('off.example.com', '0', '1 hour'),
  ('fresh.example.com', '1 hour', '1 hour'), ('back-drain.example.com', '1 hour', '1 hour'),
  ('back-stale.example.com', '1 hour', '10 minutes'),
  ('back-unhealthy.example.com', '1 hour', '1 hour');
SELECT loadns.report(s, 'o' || i, ('192.0.2.' || (10 * n + i))::inet, 1000)
  FROM unnest(ARRAY['ramp', 'off', 'back-drain', 'back-stale', 'back-unhealthy'])
       WITH ORDINALITY AS t(s0, n),
       LATERAL (SELECT s0 || '.example.com' AS s) AS named,
       generate_series(1, 4) AS i;
UPDATE loadns.backends SET serving_since = now() - interval '2 hours';
SELECT loadns.report(s || '.example.com', 'new', ('192.0.2.' || (10 * n + 5))::inet, 0)
  FROM unnest(ARRAY['ramp', 'off']) WITH ORDINALITY AS t(s, n);
-- Out of service before the test brings them back (in service for long before that).
SELECT loadns.report('back-drain.example.com', 'new', '192.0.2.35', 0, NULL, true);
SELECT loadns.report('back-stale.example.com', 'new', '192.0.2.45', 0);
UPDATE loadns.backends SET reported_at = now() - interval '1 hour'
 WHERE service = 'back-stale.example.com' AND name = 'new';
SELECT loadns.report('back-unhealthy.example.com', 'new', '192.0.2.55', 0, NULL, false, false,
                     'listen: nothing listens');
UPDATE loadns.backends SET serving_since = now() - interval '2 hours'
 WHERE service LIKE 'back-%';
-- Four new backends with a capacity of 10 and 5 connections each: at 10% of 10 they would
-- be full if the ramp scaled the capacity; it scales the share.
SELECT loadns.report('fresh.example.com', 'f' || i, ('192.0.2.' || (100 + i))::inet, 5, 10)
  FROM generate_series(1, 4) AS i;
)sql";

environment& shared() {
  static environment w(seed);
  return w;
}

/// The address of the single A answer for a fresh nonce name of `service`, or nothing after
/// three tries (queries carry no EDNS, so its four rdata octets end the message).
std::optional<std::string> ask(const std::string& service) {
  static std::atomic<std::uint16_t> id{1};
  for (int attempt = 0; attempt < 3; ++attempt) {
    loadns::test::query_spec q;
    q.id = id.fetch_add(1);
    q.name = "s" + std::to_string(q.id) + "-" + service;
    const auto bytes =
        loadns::test::udp_exchange(shared().server->port(), loadns::test::make_query(q), 2s);
    if (!bytes) continue;
    const auto h = loadns::test::parse_header(*bytes);
    if (!h || h->ancount != 1 || bytes->size() < 16) return std::nullopt;
    const auto* a = bytes->data() + bytes->size() - 4;
    return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
           std::to_string(a[3]);
  }
  return std::nullopt;
}

/// Answers per address for `count` queries.
std::map<std::string, int> ask_many(const std::string& service, int count) {
  std::map<std::string, int> got;
  for (int i = 0; i < count; ++i) {
    const auto address = ask(service);
    REQUIRE_MESSAGE(address, "no answer for " << service);
    ++got[*address];
  }
  return got;
}

/// Brings the fifth backend of `service` back with `sql`, waits until the server answers
/// with it, then asks 300 more: how many of all those answers went to it, and how many the
/// others got in all.
std::pair<int, int> come_back(const std::string& service, const std::string& address,
                              const std::string& sql) {
  shared().pg.psql(sql);
  int newcomer = 0, others = 0;
  REQUIRE(eventually(20s, [&] {
    const auto a = ask(service);
    REQUIRE(a);
    if (*a == address) {
      ++newcomer;
      return true;
    }
    ++others;
    return false;
  }));
  auto got = ask_many(service, 300);
  for (const auto& [a, n] : got) (a == address ? newcomer : others) += n;
  return {newcomer, others};
}

}  // namespace

TEST_CASE("slow start: a newcomer takes 10% of the others' level, then a tenth of their part") {
  auto got = ask_many("ramp.example.com", 300);
  // 100 to reach 10% of 1,000, then 0.1 for every 1 each old one gets: 100 + 200 / 41 x 1.
  CAPTURE(got["192.0.2.15"]);
  CHECK(got["192.0.2.15"] >= 100);
  CHECK(got["192.0.2.15"] <= 110);
  for (int i = 1; i <= 4; ++i) CHECK(got["192.0.2.1" + std::to_string(i)] >= 45);
}

TEST_CASE("slow start off (the default): the newcomer takes every answer until level") {
  auto got = ask_many("off.example.com", 300);
  CHECK(got["192.0.2.25"] == 300);
}

TEST_CASE("slow start when every backend is new: all answer, evenly, none counts as full") {
  auto got = ask_many("fresh.example.com", 400);
  for (int i = 1; i <= 4; ++i) {
    CAPTURE(i);
    CHECK(got["192.0.2.10" + std::to_string(i)] >= 98);
    CHECK(got["192.0.2.10" + std::to_string(i)] <= 102);
  }
}

TEST_CASE("slow start again after a drain ends") {
  const auto [newcomer, others] =
      come_back("back-drain.example.com", "192.0.2.35",
                "SELECT loadns.report('back-drain.example.com', 'new', '192.0.2.35', 0)");
  CAPTURE(others);
  CHECK(newcomer >= 100);
  CHECK(newcomer <= 100 + (others + 40) / 40);  // plus a tenth of each old one's answers
}

TEST_CASE("slow start again after stale") {
  const auto [newcomer, others] =
      come_back("back-stale.example.com", "192.0.2.45",
                "SELECT loadns.report('back-stale.example.com', 'new', '192.0.2.45', 0)");
  CAPTURE(others);
  CHECK(newcomer >= 100);
  CHECK(newcomer <= 100 + (others + 40) / 40);
}

TEST_CASE("slow start again after unhealthy") {
  const auto [newcomer, others] = come_back(
      "back-unhealthy.example.com", "192.0.2.55",
      "SELECT loadns.report('back-unhealthy.example.com', 'new', '192.0.2.55', 0, NULL, false, "
      "true)");
  CAPTURE(others);
  CHECK(newcomer >= 100);
  CHECK(newcomer <= 100 + (others + 40) / 40);
}
