// Who is left out of the answers, and what is answered when too few are left, end to end
// (README "Why a backend is not answered"): a backend its agent reports unhealthy is left out
// and comes back when healthy; a service's on_empty (fail_open, nodata, servfail) applies when
// fewer than min_serving backends of the queried family serve. Every change is measured from
// the commit of the UPDATE (the database's clock_timestamp() after it, the same host clock as
// the test's) to the first response that shows it, by a thread that queries meanwhile; the
// figures are printed. One private cluster and server.

#include <ares.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/server/environment.hpp"
#include "tests/support/eventually.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::cares_resolve;
using loadns::test::dig;
using loadns::test::eventually;
using loadns::test::pg_cluster;
using loadns::test::server_process;
using loadns::test::transport;
using loadns::test::e2e::environment;
using loadns::test::e2e::metrics_page;
using loadns::test::e2e::sample;
using wall = std::chrono::system_clock;

// example.com: SOA TTL 3600 and MINIMUM 300, so the negative TTL is 300 (RFC 2308 3).
// health.example.com: three backends that agents report for. panic.example.com: three
// operator rows (no agent), for on_empty and min_serving.
const char* const seed = R"sql(
INSERT INTO loadns.zones (name, mname, rname, minimum, ttl, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', 300, 3600,
        ARRAY['ns1.example.com']);
INSERT INTO loadns.records (name, type, data) VALUES ('ns1.example.com', 'A', '192.0.2.53');
INSERT INTO loadns.services (name) VALUES ('health.example.com'), ('panic.example.com');
SELECT loadns.report('health.example.com', 'h1', '192.0.2.71', 0);
SELECT loadns.report('health.example.com', 'h2', '192.0.2.72', 0);
SELECT loadns.report('health.example.com', 'h3', '192.0.2.73', 0);
INSERT INTO loadns.backends (service, name, address)
VALUES ('panic.example.com', 'p1', '192.0.2.81'), ('panic.example.com', 'p2', '192.0.2.82'),
       ('panic.example.com', 'p3', '192.0.2.83');
)sql";

environment& shared() {
  static environment w(seed);
  return w;
}

/// One response as the watcher sees it: the header's rcode and counts, and the address of a
/// single A answer (queries carry no EDNS, so its four rdata octets end the message).
struct reply {
  bool answered = false;
  std::uint8_t rcode = 0;
  std::uint16_t ancount = 0, nscount = 0;
  std::string address;
};

reply ask(std::uint16_t port, const std::string& service) {
  static std::atomic<std::uint16_t> id{1};
  loadns::test::query_spec q;
  q.id = id.fetch_add(1);
  q.name = "w" + std::to_string(q.id) + "-" + service;
  const auto bytes = loadns::test::udp_exchange(port, loadns::test::make_query(q), 500ms);
  reply r;
  if (!bytes) return r;
  const auto h = loadns::test::parse_header(*bytes);
  if (!h) return r;
  r.answered = true;
  r.rcode = h->rcode;
  r.ancount = h->ancount;
  r.nscount = h->nscount;
  if (h->ancount == 1 && bytes->size() >= 16) {
    const auto* a = bytes->data() + bytes->size() - 4;
    r.address = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) +
                "." + std::to_string(a[3]);
  }
  return r;
}

/// Runs `sql` (autocommit) and measures how long after its commit the server's responses for
/// `service` first satisfy `shows` `run` times in a row: a thread queries every millisecond
/// while psql runs. The start is the database's clock_timestamp() read right before COMMIT
/// (the same host clock as the test's), so the figure is from the commit (and its NOTIFY) to
/// the first such response, plus the COMMIT's round trip.
std::optional<std::chrono::milliseconds> change_delay(
    const pg_cluster& pg, std::uint16_t port, const std::string& sql, const std::string& service,
    const std::function<bool(const reply&)>& shows, int run = 1) {
  std::atomic<bool> stop{false};
  std::optional<wall::time_point> seen;
  std::thread watcher([&] {
    int in_a_row = 0;
    wall::time_point first{};
    const auto give_up = wall::now() + 5s;
    while (!stop.load() && wall::now() < give_up) {
      const auto asked = wall::now();
      if (!shows(ask(port, service))) {
        in_a_row = 0;
      } else {
        if (in_a_row++ == 0) first = asked;
        if (in_a_row == run) {
          seen = first;
          return;
        }
      }
      std::this_thread::sleep_for(1ms);
    }
  });
  // The clock is read inside the transaction, just before COMMIT: the figure includes the
  // commit's round trip, so it is an upper bound of the delay from the commit.
  std::string out = pg.psql("BEGIN;\n" + sql +
                            ";\nSELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;"
                            "\nCOMMIT;");
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto committed = wall::time_point(
      std::chrono::microseconds(std::stoll(out.substr(out.find_last_of('\n') + 1))));
  watcher.join();
  stop = true;
  if (!seen) return std::nullopt;
  // Seen before the clock was read: the server cannot have, the change was not committed;
  // count it as zero rather than fail on clock jitter.
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::max(*seen, committed) -
                                                               committed);
}

/// How many of `n` fresh names were answered with each address.
std::map<std::string, int> spread(std::uint16_t port, const std::string& service, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) {
    const reply r = ask(port, service);
    ++seen[r.address];
  }
  return seen;
}

double on_empty_count(const server_process& s, const std::string& action) {
  return sample(metrics_page(s), "loadns_on_empty_answers_total", "action=\"" + action + "\"")
      .value_or(-1);
}

}  // namespace

TEST_CASE("every backend state and every on_empty action is exported from the start, at 0") {
  auto& w = shared();
  const auto page = metrics_page(*w.server);
  for (const char* state : {"disabled", "draining", "stale", "unhealthy", "full", "serving"}) {
    CAPTURE(state);
    CHECK(sample(page, "loadns_backends", std::string("state=\"") + state + "\"").has_value());
  }
  CHECK(sample(page, "loadns_backends", "state=\"unhealthy\"") == 0);
  for (const char* action : {"fail_open", "nodata", "servfail"}) {
    CAPTURE(action);
    CHECK(sample(page, "loadns_on_empty_answers_total", std::string("action=\"") + action + "\"") ==
          0);
  }
}

TEST_CASE("a backend reported unhealthy is left out at once, and served again when healthy") {
  auto& w = shared();
  CHECK(spread(w.port(), "health.example.com", 30).count("192.0.2.72") == 1);
  const auto delay = change_delay(
      w.pg, w.port(),
      "SELECT loadns.report('health.example.com', 'h2', '192.0.2.72', 0, healthy => false, "
      "check_detail => 'listen: nothing listens on port 7000')",
      "health.example.com", [](const reply& r) { return r.answered && r.address != "192.0.2.72"; },
      30);
  REQUIRE_MESSAGE(delay.has_value(), "an unhealthy backend was still answered 5 s later");
  MESSAGE("unhealthy report: left out ", delay->count(), " ms after its commit");
  CHECK(delay->count() < 100);
  for (auto t : loadns::test::both_transports) {
    CAPTURE(to_string(t));
    for (int i = 0; i < 6; ++i) {
      const auto r = dig(w.port(), t, std::to_string(i) + "-health.example.com").response();
      r.check_rcode("NOERROR");
      CHECK(r.answer_data("A").size() == 1);
      CHECK(r.answer_data("A") != std::vector<std::string>{"192.0.2.72"});
    }
  }
  // The operator's view says why, in the same words as the server's state.
  CHECK(w.pg.psql("SELECT state || '|' || reason FROM loadns.backend_status WHERE name = 'h2'") ==
        "unhealthy|unhealthy: listen: nothing listens on port 7000");
  const auto page = metrics_page(*w.server);
  CHECK(sample(page, "loadns_backends", "state=\"unhealthy\"") == 1);
  CHECK(page.find("backend=\"h2\",address=\"192.0.2.72\",state=\"unhealthy\"") !=
        std::string::npos);
  // The server says so in its log, with the agent's words.
  CHECK(eventually(2s, [&] {
    return w.server->log().find("listen: nothing listens on port 7000") != std::string::npos;
  }));

  const auto back = change_delay(
      w.pg, w.port(), "SELECT loadns.report('health.example.com', 'h2', '192.0.2.72', 0)",
      "health.example.com", [](const reply& r) { return r.address == "192.0.2.72"; });
  REQUIRE_MESSAGE(back.has_value(), "a backend healthy again was not answered within 5 s");
  MESSAGE("healthy report: answered again ", back->count(), " ms after its commit");
  CHECK(back->count() < 100);
  CHECK(sample(metrics_page(*w.server), "loadns_backends", "state=\"unhealthy\"") == 0);
}

TEST_CASE("min_serving and on_empty over DNS: panic spread, NODATA with SOA, SERVFAIL") {
  auto& w = shared();
  const std::string svc = "panic.example.com";
  // p1 and p2 drain: only p3 serves, which satisfies the default min_serving of 1.
  w.pg.psql("UPDATE loadns.backends SET draining = true WHERE name IN ('p1', 'p2')");
  CHECK(eventually(2s, [&] {
    return spread(w.port(), svc, 20) == std::map<std::string, int>{{"192.0.2.83", 20}};
  }));

  SUBCASE("fail_open: fewer than min_serving serve, so every enabled backend answers") {
    const double before = on_empty_count(*w.server, "fail_open");
    const double legacy_before =
        sample(metrics_page(*w.server), "loadns_fail_open_answers_total").value_or(-1);
    const auto delay = change_delay(
        w.pg, w.port(), "UPDATE loadns.services SET min_serving = 2 WHERE name = '" + svc + "'",
        svc, [](const reply& r) { return r.address == "192.0.2.81" || r.address == "192.0.2.82"; });
    REQUIRE_MESSAGE(delay.has_value(), "min_serving = 2 did not fail open within 5 s");
    MESSAGE("min_serving 1 -> 2 (fail_open): panic answers ", delay->count(),
            " ms after the commit");
    CHECK(delay->count() < 100);
    // Panic mode spreads over all three enabled ones (least_load from answers alone: p3 has
    // had many more, so p1 and p2 catch up first; then all three take turns).
    CHECK(eventually(2s, [&] {
      const auto s = spread(w.port(), svc, 30);
      return s.size() == 3 && s.count("192.0.2.81") && s.count("192.0.2.82") &&
             s.count("192.0.2.83");
    }));
    // A disabled backend is not enabled: not even panic mode names it.
    w.pg.psql("UPDATE loadns.backends SET enabled = false WHERE name = 'p1'");
    CHECK(eventually(2s, [&] { return spread(w.port(), svc, 30).count("192.0.2.81") == 0; }));
    for (auto t : loadns::test::both_transports) {
      CAPTURE(to_string(t));
      const auto r = dig(w.port(), t, "x-" + svc).response();
      r.check_rcode("NOERROR");
      CHECK(r.answer_data("A").size() == 1);
    }
    CHECK(on_empty_count(*w.server, "fail_open") >= before + 60);
    CHECK(sample(metrics_page(*w.server), "loadns_fail_open_answers_total").value_or(-1) >=
          legacy_before + 60);
    w.pg.psql("UPDATE loadns.backends SET enabled = true WHERE name = 'p1'");
  }

  SUBCASE("nodata: NOERROR, no answer, the zone's SOA with the negative TTL") {
    w.pg.psql("UPDATE loadns.services SET min_serving = 2 WHERE name = '" + svc + "'");
    const double before = on_empty_count(*w.server, "nodata");
    const auto delay = change_delay(
        w.pg, w.port(), "UPDATE loadns.services SET on_empty = 'nodata' WHERE name = '" + svc + "'",
        svc, [](const reply& r) {
          return r.answered && r.rcode == 0 && r.ancount == 0 && r.nscount == 1;
        });
    REQUIRE_MESSAGE(delay.has_value(), "on_empty = 'nodata' did not apply within 5 s");
    MESSAGE("on_empty fail_open -> nodata: NODATA ", delay->count(), " ms after the commit");
    CHECK(delay->count() < 100);
    for (auto t : loadns::test::both_transports) {
      CAPTURE(to_string(t));
      const auto r = dig(w.port(), t, "y-" + svc).response();
      r.check_rcode("NOERROR");
      CHECK(r.flag("aa"));
      CHECK(r.answer.empty());
      REQUIRE(r.authority.size() == 1);
      CHECK(r.authority[0].type == "SOA");
      CHECK(r.authority[0].name == "example.com.");
      CHECK(r.authority[0].ttl == 300);  // min(SOA TTL 3600, MINIMUM 300), RFC 2308 3
    }
    const auto c = cares_resolve(w.port(), "z-" + svc);
    CHECK(c.addresses.empty());
    CHECK_MESSAGE(c.status == ARES_ENODATA, c.status_text);
    CHECK(on_empty_count(*w.server, "nodata") >= before + 3);
    // Bring p1 back: two serve again, and only they answer.
    const auto restored = change_delay(
        w.pg, w.port(), "UPDATE loadns.backends SET draining = false WHERE name = 'p1'", svc,
        [](const reply& r) { return r.ancount == 1; });
    REQUIRE(restored.has_value());
    MESSAGE("p1 undrained (2 serving again): answers ", restored->count(), " ms after the commit");
    CHECK(restored->count() < 100);
    const auto s = spread(w.port(), svc, 20);
    CHECK(s.count("192.0.2.82") == 0);
    CHECK(s.count("") == 0);
    w.pg.psql("UPDATE loadns.backends SET draining = true WHERE name = 'p1'");
  }

  SUBCASE("servfail: SERVFAIL while too few serve; a family without backends stays NODATA") {
    w.pg.psql("UPDATE loadns.services SET min_serving = 2 WHERE name = '" + svc + "'");
    const double before = on_empty_count(*w.server, "servfail");
    const auto delay =
        change_delay(w.pg, w.port(),
                     "UPDATE loadns.services SET on_empty = 'servfail' WHERE name = '" + svc + "'",
                     svc, [](const reply& r) { return r.answered && r.rcode == 2; });
    REQUIRE_MESSAGE(delay.has_value(), "on_empty = 'servfail' did not apply within 5 s");
    MESSAGE("on_empty fail_open -> servfail: SERVFAIL ", delay->count(), " ms after the commit");
    CHECK(delay->count() < 100);
    for (auto t : loadns::test::both_transports) {
      CAPTURE(to_string(t));
      const auto r = dig(w.port(), t, "y-" + svc).response();
      r.check_rcode("SERVFAIL");
      CHECK(r.answer.empty());
      // AAAA: the service has no IPv6 backend at all, which is no shortage: NODATA.
      const auto six = dig(w.port(), t, "y-" + svc, "AAAA").response();
      six.check_rcode("NOERROR");
      CHECK(six.answer.empty());
      CHECK(six.authority.size() == 1);
    }
    const auto c = cares_resolve(w.port(), "z-" + svc);
    CHECK_MESSAGE(c.status == ARES_ESERVFAIL, c.status_text);
    CHECK(on_empty_count(*w.server, "servfail") >= before + 3);
    // min_serving back to 1: p3 alone is enough again.
    const auto restored = change_delay(
        w.pg, w.port(), "UPDATE loadns.services SET min_serving = 1 WHERE name = '" + svc + "'",
        svc, [](const reply& r) { return r.address == "192.0.2.83"; });
    REQUIRE(restored.has_value());
    MESSAGE("min_serving 2 -> 1 (servfail no longer applies): answers ", restored->count(),
            " ms after the commit");
    CHECK(restored->count() < 100);
  }

  w.pg.psql("UPDATE loadns.services SET min_serving = 1, on_empty = 'fail_open' WHERE name = '" +
            svc + "'; UPDATE loadns.backends SET draining = false WHERE service = '" + svc + "'");
}
