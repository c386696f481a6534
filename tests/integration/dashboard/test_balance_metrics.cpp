// loadns_service_imbalance and loadns_prediction_error end to end: a private PostgreSQL, the
// real loadns-server polling it every 100 ms, loads reported with loadns.report() as an agent
// would, queries over UDP, and the series read from the server's /metrics page.

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "server/core/answer_counter.hpp"
#include "server/core/balancer.hpp"
#include "server/core/prediction_error.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace loadns::test {
namespace {

using namespace std::chrono_literals;

const char* const seed_sql = R"sql(
INSERT INTO loadns.zones (name, mname, rname, nameservers)
VALUES ('example.com', 'ns1.example.com', 'hostmaster.example.com', ARRAY['ns1.example.com']);
INSERT INTO loadns.services (name) VALUES ('api.example.com'), ('one.example.com');
)sql";

struct world {
  pg_cluster pg;
  std::unique_ptr<server_process> server;
  world() {
    pg.create_loadns_database();
    pg.psql(seed_sql);
    server_options o;
    o.binary = server_binary(LOADNS_SERVER_BINARY);
    o.conninfo = pg.conninfo("loadns", "server");
    o.poll_interval = "100ms";  // plain load reports send no NOTIFY: polls pick them up
    server = std::make_unique<server_process>(o);
  }
  void report(std::string_view service, std::string_view name, std::string_view address,
              int connections, int capacity) {
    std::ostringstream sql;
    sql << "SELECT loadns.report('" << service << "', '" << name << "', '" << address << "', "
        << connections << ", " << capacity << ")";
    pg.psql(sql.str());
  }
  /// The value of exactly `series` (name and labels as the page prints them), or nullopt when
  /// the page has no such line.
  std::optional<double> sample(std::string_view series) const {
    const auto r = http_get(server->metrics_port(), "/metrics");
    if (!r || r->status != 200) return std::nullopt;
    std::istringstream in(r->body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
          line[series.size()] == ' ')
        return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
    return std::nullopt;
  }
  /// Polls until `series` is within 0.01 of `want`; the last value seen otherwise.
  std::optional<double> settles_at(std::string_view series, double want) const {
    std::optional<double> seen;
    eventually(10s, [&] {
      seen = sample(series);
      return seen && std::fabs(*seen - want) < 0.01;
    });
    return seen;
  }
};

constexpr std::string_view imbalance = R"(loadns_service_imbalance{service="api.example.com"})";

TEST_CASE("loadns_service_imbalance rises and falls with the reported loads") {
  world w;
  w.report("api.example.com", "b1", "192.0.2.10", 50, 100);
  w.report("api.example.com", "b2", "192.0.2.11", 50, 100);
  w.report("api.example.com", "b3", "192.0.2.12", 25, 50);
  // 0.5 each: even.
  auto v = w.settles_at(imbalance, 1.0);
  CHECK_MESSAGE(v == doctest::Approx(1.0).epsilon(0.01), "even loads: " << v.value_or(-1));

  // 0.9, 0.1, 0.5: mean 0.5, max 0.9.
  w.report("api.example.com", "b1", "192.0.2.10", 90, 100);
  w.report("api.example.com", "b2", "192.0.2.11", 10, 100);
  v = w.settles_at(imbalance, 1.8);
  CHECK_MESSAGE(v == doctest::Approx(1.8).epsilon(0.01), "one backend fuller: " << v.value_or(-1));

  // Utilisation is against capacity: 45/100, 45/100, 20/50 = 0.45, 0.45, 0.4.
  w.report("api.example.com", "b1", "192.0.2.10", 45, 100);
  w.report("api.example.com", "b2", "192.0.2.11", 45, 100);
  w.report("api.example.com", "b3", "192.0.2.12", 20, 50);
  v = w.settles_at(imbalance, 0.45 / (1.3 / 3));
  CHECK_MESSAGE(v == doctest::Approx(0.45 / (1.3 / 3)).epsilon(0.01),
                "nearly even again: " << v.value_or(-1));

  // Answers the server gives count as load at once, before any report: the empty newcomer
  // draws every answer until it is level with the others, which brings the imbalance down.
  w.report("api.example.com", "b1", "192.0.2.10", 40, 100);
  w.report("api.example.com", "b2", "192.0.2.11", 40, 100);
  w.report("api.example.com", "b3", "192.0.2.12", 0, 50);
  v = w.settles_at(imbalance, 1.5);  // 0.4, 0.4, 0: mean 0.8 / 3
  CHECK_MESSAGE(v == doctest::Approx(1.5).epsilon(0.01), "an empty newcomer: " << v.value_or(-1));
  for (int i = 0; i < 20; ++i) {
    query_spec q;
    q.id = static_cast<std::uint16_t>(i + 1);
    q.name = "api.example.com";
    REQUIRE(udp_exchange(w.server->port(), make_query(q)).has_value());
  }
  v = w.sample(imbalance);
  CHECK_MESSAGE(v == doctest::Approx(1.0).epsilon(0.01),
                "after 20 answers to the newcomer (20/50 = 0.4): " << v.value_or(-1));

  // Draining one leaves the others; none serving: no series (nothing to balance).
  w.pg.psql("UPDATE loadns.backends SET draining = true WHERE name IN ('b1', 'b2', 'b3')");
  CHECK(eventually(10s, [&] { return !w.sample(imbalance).has_value(); }));
}

TEST_CASE("loadns_prediction_error: predicted minus reported connections, one per new report") {
  world w;
  constexpr std::string_view count = R"(loadns_prediction_error_count{service="one.example.com"})";
  constexpr std::string_view sum = R"(loadns_prediction_error_sum{service="one.example.com"})";
  w.report("one.example.com", "only", "192.0.2.20", 10, 100);
  REQUIRE(eventually(10s, [&] {
    return w.sample(R"(loadns_backend_connections{service="one.example.com",backend="only",)"
                    R"(address="192.0.2.20",state="serving"})") == 10.0;
  }));
  CHECK(w.sample(count) == 0.0);  // the histogram exists before any observation

  // 5 answers after the report; the next report says 12: the prediction was 15, error +3.
  for (int i = 0; i < 5; ++i) {
    query_spec q;
    q.id = static_cast<std::uint16_t>(i + 1);
    q.name = "one.example.com";
    REQUIRE(udp_exchange(w.server->port(), make_query(q)).has_value());
  }
  // The prediction for the moment of the next report splits that moment's counter bucket by
  // time (answer_counter::before); a report taken after the answers' bucket has closed sees
  // all five whole. The prediction after that report counts answers from connect_allowance
  // before it: the answers' bucket must have closed by then too, or part of them counts again.
  std::this_thread::sleep_for(core::answer_counter::bucket_width +
                              core::balancer::connect_allowance + 50ms);
  w.report("one.example.com", "only", "192.0.2.20", 12, 100);
  REQUIRE(eventually(10s, [&] { return w.sample(count) == 1.0; }));
  CHECK(w.sample(sum) == 3.0);
  CHECK(w.sample(R"(loadns_prediction_error_bucket{service="one.example.com",le="2"})") == 0.0);
  CHECK(w.sample(R"(loadns_prediction_error_bucket{service="one.example.com",le="5"})") == 1.0);

  // No answers, and 4 clients more than predicted (from elsewhere): error -4. A report counts
  // as new only when its time moved by more than min_report_step (the jitter of converting
  // report ages to the server's clock), so this one must come that much later.
  std::this_thread::sleep_for(core::prediction_errors::min_report_step + 100ms);
  w.report("one.example.com", "only", "192.0.2.20", 16, 100);
  REQUIRE(eventually(10s, [&] { return w.sample(count) == 2.0; }));
  CHECK_MESSAGE(w.sample(sum) == -1.0, "sum " << w.sample(sum).value_or(-999));
  // Polls without a new report add nothing.
  const auto polls = w.sample("loadns_polls_total").value_or(0);
  REQUIRE(eventually(10s, [&] { return w.sample("loadns_polls_total") >= polls + 3; }));
  CHECK(w.sample(count) == 2.0);
}

}  // namespace
}  // namespace loadns::test
