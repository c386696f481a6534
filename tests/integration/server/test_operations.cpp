// Operator steering and observability end to end (docs/balancing.md, the README's metrics):
// drain and disable take effect at once (the delay is printed), a backend whose
// agent stops reporting is left out after stale_after, no serving backend fails open and is
// counted, and /metrics counts exactly the queries sent to a fresh server. One private cluster and
// server.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/server/environment.hpp"
#include "tests/support/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::dig;
using loadns::test::eventually;
using loadns::test::transport;
using loadns::test::e2e::environment;
using loadns::test::e2e::metrics_page;
using steady = std::chrono::steady_clock;

const char* const seed = R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.org', 'ns1.example.org', 'hostmaster.example.org', ARRAY['ns1.example.org']);
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.org', 'A', '192.0.2.53');
INSERT INTO loadns.services (name, stale_after) VALUES ('ops.example.org', '1 second');
INSERT INTO loadns.backends (service, name, address)
VALUES ('ops.example.org', 'o1', '192.0.2.61'), ('ops.example.org', 'o2', '192.0.2.62'),
       ('ops.example.org', 'o3', '192.0.2.63');
)sql";

environment& shared() {
  static environment w(seed);
  return w;
}

/// How many of `n` fresh nonce names were answered with each address.
std::map<std::string, int> spread(std::uint16_t port, int n, transport t = transport::udp) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) {
    const auto r = dig(port, t, std::to_string(1000 + i) + "-ops.example.org").response();
    for (const auto& a : r.answer_data("A")) ++seen[a];
  }
  return seen;
}

/// The address of the single A answer to a fresh nonce name over raw UDP (no EDNS, so the
/// answer's four rdata octets end the message), or "" when there is none. Fast enough to
/// measure a change to within a few milliseconds, unlike a dig process per query.
std::string ask_address(std::uint16_t port) {
  static std::uint16_t id = 1;
  loadns::test::query_spec q;
  q.id = id++;
  q.name = std::to_string(50'000 + q.id) + "-ops.example.org";
  const auto reply = loadns::test::udp_exchange(port, loadns::test::make_query(q), 500ms);
  if (!reply || reply->size() < 16) return {};
  const auto* a = reply->data() + reply->size() - 4;
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

/// Polls until 30 answers in a row do not name `address`; the delay from `since` to the first
/// of them.
std::optional<std::chrono::milliseconds> wait_until_unserved(std::uint16_t port,
                                                             const std::string& address,
                                                             steady::time_point since) {
  int run = 0;
  steady::time_point run_start{};
  while (steady::now() - since < 5s) {
    const auto asked = steady::now();
    if (ask_address(port) == address) {
      run = 0;
      continue;
    }
    if (run++ == 0) run_start = asked;
    if (run == 30) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(run_start - since);
    }
  }
  return std::nullopt;
}

/// A series of a /metrics `page` as sample() finds it, 0 while it is absent (a counter not
/// counted yet).
double value_of(const std::string& page, const std::string& metric, const std::string& match = "") {
  return loadns::test::e2e::sample(page, metric, match).value_or(0);
}

}  // namespace

TEST_CASE("all three backends are answered while they serve") {
  auto& w = shared();
  const auto seen = spread(w.port(), 60);
  CHECK(seen.size() == 3);
  for (const auto& [address, count] : seen) {
    CAPTURE(address);
    // No agent has reported: load is counted from answers alone, so the spread is even.
    CHECK(count == 20);
  }
}

TEST_CASE("UPDATE ... SET draining = true stops answers at once; undone, they resume") {
  auto& w = shared();
  w.pg.psql("UPDATE loadns.backends SET draining = true WHERE name = 'o1'");
  const auto t0 = steady::now();
  const auto delay = wait_until_unserved(w.port(), "192.0.2.61", t0);
  REQUIRE_MESSAGE(delay.has_value(), "a drained backend was still answered after 5 s");
  MESSAGE("drain took effect ", delay->count(), " ms after the UPDATE committed");
  CHECK(delay->count() < 1000);  // NOTIFY, not the 1 s poll (NOTIFY loadns_changed: at once)
  w.pg.psql("UPDATE loadns.backends SET draining = false WHERE name = 'o1'");
  CHECK(eventually(5s, [&] { return spread(w.port(), 20).count("192.0.2.61") > 0; }));
}

TEST_CASE("UPDATE ... SET enabled = false stops answers at once, over UDP and TCP") {
  auto& w = shared();
  w.pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'o2'");
  const auto t0 = steady::now();
  const auto delay = wait_until_unserved(w.port(), "192.0.2.62", t0);
  REQUIRE_MESSAGE(delay.has_value(), "a disabled backend was still answered after 5 s");
  MESSAGE("disable took effect ", delay->count(), " ms after the UPDATE committed");
  CHECK(delay->count() < 1000);
  CHECK(spread(w.port(), 10, transport::tcp).count("192.0.2.62") == 0);
  w.pg.psql("UPDATE loadns.backends SET enabled = true WHERE name = 'o2'");
}

TEST_CASE("a backend whose agent stops reporting is left out after stale_after") {
  auto& w = shared();
  // o3 reports once, then falls silent; o1 and o2 keep reporting (as agents would, each
  // second) until o3 is left out.
  const auto report = [&](const char* name, const char* address) {
    w.pg.psql(std::string("SELECT loadns.report('ops.example.org', '") + name + "', '" + address +
              "', 0, NULL, false)");
  };
  report("o3", "192.0.2.63");
  const auto t0 = steady::now();
  // Wait for the server to call o3 stale (the other two keep reporting): answers alone cannot
  // tell, since least_load may skip o3 for a while anyway as its answers pile up.
  std::optional<std::chrono::milliseconds> stale_after;
  while (!stale_after && steady::now() - t0 < 8s) {
    report("o1", "192.0.2.61");
    report("o2", "192.0.2.62");
    const auto page = metrics_page(*w.server);
    if (value_of(page, "loadns_backend_connections", "backend=\"o3\"") == 0 &&
        page.find("backend=\"o3\",address=\"192.0.2.63\",state=\"stale\"") != std::string::npos) {
      stale_after = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
    }
  }
  REQUIRE_MESSAGE(stale_after.has_value(), "a silent backend was not stale 8 s after its report");
  MESSAGE("silent backend stale ", stale_after->count(), " ms after its last report");
  CHECK(stale_after->count() >= 900);  // not before stale_after (1 s)
  CHECK(value_of(metrics_page(*w.server), "loadns_backends", "state=\"stale\"") >= 1);
  for (int i = 0; i < 30; ++i) CHECK(ask_address(w.port()) != "192.0.2.63");
  // Reporting again brings it back.
  report("o3", "192.0.2.63");
  CHECK(eventually(5s, [&] { return spread(w.port(), 20).count("192.0.2.63") > 0; }));
}

TEST_CASE("no serving backend: answers fail open to the enabled ones, and are counted") {
  auto& w = shared();
  const auto before = value_of(metrics_page(*w.server), "loadns_fail_open_answers_total");
  w.pg.psql("UPDATE loadns.backends SET draining = true WHERE service = 'ops.example.org'");
  // Every backend drains: rather than answer nothing, all enabled ones are used.
  const auto t0 = steady::now();
  double after = before;
  while (after < before + 10 && steady::now() - t0 < 5s) {
    for (int i = 0; i < 10; ++i) {
      const auto r = dig(w.port(), transport::udp, "ops.example.org").response();
      r.check_rcode("NOERROR");
      CHECK(r.answer_data("A").size() == 1);
    }
    after = value_of(metrics_page(*w.server), "loadns_fail_open_answers_total");
  }
  CHECK(after >= before + 10);
  w.pg.psql("UPDATE loadns.backends SET draining = false WHERE service = 'ops.example.org'");
}

TEST_CASE("/metrics: exact series after a known sequence of queries to a fresh server") {
  environment w(seed);  // its own server: every series below starts at zero
  constexpr int udp_a = 30, tcp_nx = 5, udp_aaaa = 4, tcp_a = 2;
  // Fresh nonce names over raw UDP, one at a time: each is answered before the next is sent.
  for (int i = 0; i < udp_a; ++i) REQUIRE(!ask_address(w.port()).empty());
  for (int i = 0; i < tcp_nx; ++i) {
    dig(w.port(), transport::tcp, "nope.example.org").response().check_rcode("NXDOMAIN");
  }
  for (int i = 0; i < udp_aaaa; ++i) {  // no IPv6 backend: NODATA
    const auto r = dig(w.port(), transport::udp, "ops.example.org", "AAAA").response();
    r.check_rcode("NOERROR");
    CHECK(r.answer_data("AAAA").empty());
  }
  for (int i = 0; i < tcp_a; ++i) {
    dig(w.port(), transport::tcp, "ops.example.org").response().check_rcode("NOERROR");
  }
  const auto page = metrics_page(*w.server);
  auto queries = [&](const char* t, const char* rcode, const char* qtype) {
    return value_of(
        page, "loadns_queries_total",
        std::string("transport=\"") + t + "\",rcode=\"" + rcode + "\",qtype=\"" + qtype + "\"");
  };
  CHECK(queries("udp", "NOERROR", "A") == udp_a);
  CHECK(queries("tcp", "NXDOMAIN", "A") == tcp_nx);
  CHECK(queries("udp", "NOERROR", "AAAA") == udp_aaaa);
  CHECK(queries("tcp", "NOERROR", "A") == tcp_a);
  // Nothing else of type A or AAAA (the readiness probes ask SOA).
  CHECK(queries("udp", "NXDOMAIN", "A") == 0);
  CHECK(queries("tcp", "NOERROR", "AAAA") == 0);
  CHECK(queries("udp", "SERVFAIL", "A") == 0);
  CHECK(value_of(page, "loadns_queries_dropped_total", "transport=\"udp\"") == 0);
  CHECK(value_of(page, "loadns_queries_dropped_total", "transport=\"tcp\"") == 0);
  // 32 answers, one at a time, over three backends with no report (no connections): least_load
  // keeps them within one answer of each other, so 11, 11 and 10 in some order.
  std::multiset<double> answers;
  for (const char* b : {"o1", "o2", "o3"}) {
    answers.insert(
        value_of(page, "loadns_backend_answers_total", std::string("backend=\"") + b + "\""));
  }
  CHECK(answers == std::multiset<double>{10, 11, 11});
  CHECK(value_of(page, "loadns_on_empty_answers_total", "action=\"fail_open\"") == 0);
  CHECK(value_of(page, "loadns_ready") == 1);
  CHECK(value_of(page, "loadns_database_up") == 1);
  CHECK(value_of(page, "loadns_snapshot_age_seconds") < 5);
}
