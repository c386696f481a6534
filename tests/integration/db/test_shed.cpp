// What report() asks a backend to shed when its service rebalances (migrations/0007): the
// connections above its share of the service (its capacity times the service's utilisation),
// only beyond a 5% tolerance, at most shed_rate per second since its previous report; a
// draining backend is emptied at shed_rate; nothing when rebalance is off, on a first report,
// and never for a backend at or below its share. Connections on their way from one backend to
// another count in the service's total (migrations/0009): answered since the receiver's report
// (loadns.shared_answers), or shed and not answered yet (shed_pending). A backend entering
// service counts from the others' next reports on (migrations/0010); in slow start it counts
// in the others' shares with its capacity times its ramp, never in its own (migrations/0011).
#include <doctest/doctest.h>

#include <string>

#include "tests/integration/db/seeded_database.hpp"

namespace {

/// Service api.example.com rebalances, sheds at most 100 connections a second.
const char* const seed =
    "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
    "INSERT INTO loadns.services (name, rebalance, shed_rate, stale_after) VALUES "
    "('api.example.com', true, 100, '1 hour');";

struct fixture : loadns::test::seeded_database {
  fixture() : seeded_database(seed) {}
  /// Registers backend `name` (its first report: nothing to shed), in service for an hour
  /// (a backend counts in the others' shares from their first report after it entered
  /// service).
  void add(const std::string& name, long connections, const std::string& capacity = "1000") const {
    CHECK(q("SELECT loadns.report('api.example.com', '" + name + "', '192.0.2.10', " +
            std::to_string(connections) + ", " + capacity + ")") == "0");
    q("UPDATE loadns.backends SET serving_since = now() - interval '1 hour' WHERE name = '" + name +
      "'");
  }
  /// report() of `name` holding `connections`, `seconds` after its previous report (one
  /// transaction, so the interval is exact); returns what it says to shed. Unless
  /// `on_their_way`, the clients of earlier sheds are taken to have reconnected and been
  /// reported (shed_pending cleared), so that a case tests the share alone.
  long shed(const std::string& name, long connections, double seconds,
            const std::string& capacity = "1000", const std::string& rest = "false") const {
    const auto out = q(std::string("BEGIN; ") +
                       (on_their_way ? "" : "UPDATE loadns.backends SET shed_pending = 0; ") +
                       "UPDATE loadns.backends SET reported_at = now() - interval '" +
                       std::to_string(seconds) + " seconds' WHERE name = '" + name +
                       "'; SELECT loadns.report('api.example.com', '" + name + "', '192.0.2.10', " +
                       std::to_string(connections) + ", " + capacity + ", " + rest + "); COMMIT;");
    return std::stol(out);
  }
  bool on_their_way = false;
};

}  // namespace

TEST_CASE_FIXTURE(fixture, "shed_count: the tolerance and the cap") {
  struct row {
    long connections;
    double share;
    long cap;
    long shed;
  };
  for (const auto& r : {
           row{100, 100, 1000, 0},     // at its share
           row{50, 100, 1000, 0},      // below it
           row{105, 100, 1000, 0},     // within 5%
           row{106, 100, 1000, 6},     // beyond: down to its share
           row{1000, 800, 1000, 200},  // the scale-out case
           row{1000, 800, 150, 150},   // capped
           row{1000, 800, 0, 0},       // no time since the previous report
           row{1, 0.5, 10, 0},         // less than one connection above
           row{10, 0, 5, 5},           // a share of nothing: everything, at the cap
       }) {
    CAPTURE(r.connections);
    CAPTURE(r.share);
    CAPTURE(r.cap);
    CHECK(std::stol(q("SELECT loadns.shed_count(" + std::to_string(r.connections) + ", " +
                      std::to_string(r.share) + ", " + std::to_string(r.cap) + ")")) == r.shed);
  }
  // Never more than the excess over the share, never more than the cap, nothing within the
  // tolerance: over a grid of cases.
  CHECK(
      q("SELECT count(*) FROM generate_series(0, 300, 7) c, generate_series(1, 200, 9) share, "
        "generate_series(0, 120, 13) cap, LATERAL (SELECT loadns.shed_count(c, share, cap) AS s) x "
        "WHERE x.s < 0 OR x.s > cap OR x.s > greatest(c - share, 0) "
        "OR (c <= 1.05 * share AND x.s <> 0)") == "0");
}

TEST_CASE_FIXTURE(fixture,
                  "a fifth backend joins four of 1000: each old one sheds 200, at most "
                  "shed_rate per second since its previous report") {
  for (const auto* b : {"b1", "b2", "b3", "b4"}) add(b, 1000);
  add("b5", 0);
  CHECK(shed("b5", 0, 2) == 0);       // below its share (800)
  CHECK(shed("b1", 1000, 2) == 200);  // the mean is 800: 200 above, and 2 s allow 200
  CHECK(shed("b2", 1000, 1) == 100);  // 1 s allows 100
  CHECK(shed("b3", 1000, 0.5) == 50);
  // The agent closed them and their clients reconnected to b5; b1's next report holds its
  // share: nothing more.
  q("UPDATE loadns.backends SET connections = 200 WHERE name = 'b5'");
  CHECK(shed("b1", 800, 2) == 0);
  // A long silence allows at most stale_after's worth: a report an hour later is a return
  // from stale, not a licence to close everything at once.
  q("UPDATE loadns.services SET shed_rate = 1, stale_after = '100 seconds'");
  CHECK(shed("b4", 1000, 3600) == 100);
}

TEST_CASE_FIXTURE(fixture, "the 5% tolerance: 1.05 x its share is not shed, above it is") {
  for (const auto* b : {"b1", "b2", "b3", "b4"}) add(b, 1000);
  // b1 at 1040 of 4040 total: share 1010, 1040 < 1.05 x 1010 = 1060.5.
  CHECK(shed("b1", 1040, 5) == 0);
  // b1 at 1100 of 4100: share 1025, 1100 > 1076.25: down to its share.
  CHECK(shed("b1", 1100, 5) == 75);
}

TEST_CASE_FIXTURE(fixture,
                  "shares follow capacities, and a backend without one counts with "
                  "the mean capacity times its weight") {
  add("big", 1500, "2000");
  add("small", 500, "1000");
  // U = 2000 / 3000: big's share 1333.3, small's 666.7.
  CHECK(shed("big", 1500, 5, "2000") == 166);
  CHECK(shed("small", 500, 5) == 0);
  // A backend without a capacity, weight 2: counted as 2 x 1500 (the mean capacity).
  add("heavy", 0, "NULL");
  q("UPDATE loadns.backends SET weight = 2 WHERE name = 'heavy'");
  // U = 2000 / 6000: big's share 666.7 of its 1500.
  CHECK(shed("big", 1500, 10, "2000") == 833);
  CHECK(shed("heavy", 0, 10, "NULL") == 0);
}

TEST_CASE_FIXTURE(fixture,
                  "only backends in service make the mean, and draining ones are emptied "
                  "at shed_rate") {
  for (const auto* b : {"b1", "b2", "b3"}) add(b, 1000);
  add("b4", 0);
  // Out of service: disabled, stale and unhealthy backends do not pull the mean down.
  q("UPDATE loadns.backends SET enabled = false WHERE name = 'b4'");
  CHECK(shed("b1", 1000, 5) == 0);
  q("UPDATE loadns.backends SET enabled = true, reported_at = now() - interval '2 hours' "
    "WHERE name = 'b4'");
  CHECK(shed("b1", 1000, 5) == 0);
  q("UPDATE loadns.backends SET agent_healthy = false, reported_at = now() WHERE name = 'b4'");
  CHECK(shed("b1", 1000, 5) == 0);
  q("UPDATE loadns.backends SET agent_healthy = true WHERE name = 'b4'");
  // Healthy again: in service from b1's next report on (migrations/0010), then the mean is
  // 750.
  CHECK(shed("b1", 1000, 5) == 0);
  q("UPDATE loadns.backends SET serving_since = now() - interval '1 hour' WHERE name = 'b4'");
  CHECK(shed("b1", 1000, 5) == 250);

  // Draining, by the operator or by the agent: everything, at shed_rate.
  q("UPDATE loadns.backends SET draining = true WHERE name = 'b2'");
  CHECK(shed("b2", 1000, 2) == 200);
  CHECK(shed("b2", 150, 2) == 150);
  q("UPDATE loadns.backends SET draining = false WHERE name = 'b2'");
  CHECK(shed("b3", 1000, 3, "1000", "true") == 300);
  // Disabled or unhealthy: nothing (no answers name it; its clients are the operator's call).
  q("UPDATE loadns.backends SET enabled = false WHERE name = 'b2'");
  CHECK(shed("b2", 1000, 5) == 0);
  CHECK(shed("b1", 1000, 5, "1000", "false, false, 'listen: down'") == 0);
}

TEST_CASE_FIXTURE(fixture,
                  "nothing without rebalance, on a first report, or for a backend at "
                  "or below its share") {
  for (const auto* b : {"b1", "b2", "b3", "b4"}) add(b, 1000);
  add("b5", 0);
  q("UPDATE loadns.services SET rebalance = false");
  CHECK(shed("b1", 1000, 5) == 0);
  q("UPDATE loadns.services SET rebalance = true");
  // A first report of a crowded newcomer: no previous report, no time to shed in.
  CHECK(q("SELECT loadns.report('api.example.com', 'b6', '192.0.2.10', 5000, 1000)") == "0");
  q("UPDATE loadns.backends SET serving_since = now() - interval '1 hour' WHERE name = 'b6'");
  // Uneven loads: every backend asked to shed is above 1.05 x its share, and sheds no more
  // than down to it.
  q("UPDATE loadns.backends SET connections = (ARRAY[3000, 1200, 900, 700, 10, 2000])"
    "[substr(name, 2)::int]");
  q("UPDATE loadns.services SET shed_rate = 100000");  // no cap in the way
  long asked = 0;
  for (int i = 1; i <= 6; ++i) {
    const auto name = "b" + std::to_string(i);
    const long c =
        std::stol(q("SELECT connections FROM loadns.backends WHERE name = '" + name + "'"));
    const long s = shed(name, c, 100);
    // The total is 7810 over 6 x 1000: utilisation 1.3017, share 1301.7 each.
    CAPTURE(name);
    const auto connections = static_cast<double>(c);
    if (connections <= 1.05 * 1301.7) {
      CHECK(s == 0);
    } else {
      CHECK(s == static_cast<long>(connections - 7810.0 / 6));
      ++asked;
    }
  }
  CHECK(asked == 2);
}

TEST_CASE_FIXTURE(fixture,
                  "clients on their way count: a backend that shed is not told to shed again "
                  "while its clients are unanswered or answered but unreported") {
  on_their_way = true;
  add("a", 40, "NULL");
  add("b", 0, "NULL");
  // Equal shares: 20 each. a sheds its 20 above.
  CHECK(shed("a", 40, 1, "NULL") == 20);
  CHECK(q("SELECT shed_pending FROM loadns.backends WHERE name = 'a'") == "20");
  // a holds 20 now; b's last report still says 0: nobody has answered its clients yet. They
  // are on their way: the total is still 40 and a is at its share (0007 said 10 here).
  CHECK(shed("a", 20, 1, "NULL") == 0);
  CHECK(shed("b", 0, 1, "NULL") == 0);
  // Answered since (the servers gave b 20 answers after a was told to shed, after b's last
  // report): still 40 in all, nothing to shed.
  q("UPDATE loadns.backends SET shed_since = now() - interval '5 s', "
    "reported_at = now() - interval '4 s' WHERE name IN ('a', 'b')");
  q("INSERT INTO loadns.shared_answers (server, flush, backend_id, answers, flushed_at) "
    "SELECT 's1', 1, id, 20, now() - interval '3 s' FROM loadns.backends WHERE name = 'b'");
  CHECK(q("SELECT loadns.report('api.example.com', 'a', '192.0.2.10', 20)") == "0");
  // b reports the 20 (its report is after the answers: they count once). Nothing is on its
  // way any more, so a few connections above the share are shed again: 25 of 45 is 2.5 over.
  CHECK(shed("b", 20, 1, "NULL") == 0);
  CHECK(shed("a", 25, 1, "NULL") == 2);
  // That shed is on its way in turn (its own count and time: the earlier one, 5 s back, was
  // answered; 4 s of margin for a slow machine between the two statements).
  CHECK(q("SELECT shed_pending, shed_since > now() - interval '4 s' FROM loadns.backends "
          "WHERE name = 'a'") == "2|t");
  CHECK(shed("a", 23, 1, "NULL") == 0);
}

TEST_CASE_FIXTURE(fixture, "a shed no answer covers counts until stale_after, then not") {
  on_their_way = true;
  q("UPDATE loadns.services SET stale_after = '30 seconds'");
  add("a", 40, "NULL");
  add("b", 0, "NULL");
  CHECK(shed("a", 40, 1, "NULL") == 20);
  CHECK(shed("a", 20, 1, "NULL") == 0);
  // A second shed while the first is unanswered adds up, keeping the first one's time.
  q("UPDATE loadns.backends SET shed_since = now() - interval '10 s' WHERE name = 'a'");
  CHECK(shed("a", 60, 1, "NULL") == 20);  // 60 + 0 + 20 on their way: share 40
  CHECK(q("SELECT shed_pending, shed_since < now() - interval '9 s' FROM loadns.backends "
          "WHERE name = 'a'") == "40|t");
  // Older than stale_after: those clients went elsewhere or nowhere; the reports rule again.
  q("UPDATE loadns.backends SET shed_since = now() - interval '31 s' WHERE name = 'a'");
  CHECK(shed("a", 20, 1, "NULL") == 10);
}

TEST_CASE_FIXTURE(fixture,
                  "a backend entering service counts from the others' next report on: the "
                  "servers need a moment to answer with it") {
  for (const auto* b : {"b1", "b2", "b3", "b4"}) add(b, 1000);
  // b5's first report comes after b1's previous one (shed() puts that 2 s back): b1's report
  // now judges the four it knew, where it holds its share.
  CHECK(q("SELECT loadns.report('api.example.com', 'b5', '192.0.2.10', 0, 1000)") == "0");
  CHECK(shed("b1", 1000, 2) == 0);
  // Its next report (b5 in service since before the previous one): the mean is 800.
  q("UPDATE loadns.backends SET serving_since = now() - interval '3 s' WHERE name = 'b5'");
  CHECK(shed("b1", 1000, 2) == 200);
  // Back from draining is entering service too.
  q("UPDATE loadns.backends SET draining = true WHERE name = 'b5'");
  q("UPDATE loadns.backends SET draining = false WHERE name = 'b5'");
  CHECK(shed("b2", 1000, 2) == 0);
}

TEST_CASE_FIXTURE(fixture, "slow_start_ramp: 10% at first, then t / slow_start, 1 after or off") {
  struct row {
    const char* in_service;
    const char* slow_start;
    const char* ramp;
  };
  for (const auto& r : {
           row{"'0 s'", "'100 s'", "0.1"}, row{"'5 s'", "'100 s'", "0.1"},  // the floor
           row{"'50 s'", "'100 s'", "0.5"},                                 // linear
           row{"'100 s'", "'100 s'", "1"},                                  // the window's end
           row{"'1 hour'", "'100 s'", "1"},                                 // after it
           row{"'-5 s'", "'100 s'", "0.1"},  // serving_since ahead of the clock
           row{"NULL", "'100 s'", "1"},      // serving_since NULL: no slow start
           row{"'1 s'", "'0 s'", "1"},       // slow start off
       }) {
    CAPTURE(r.in_service);
    CAPTURE(r.slow_start);
    CHECK(q(std::string("SELECT round(loadns.slow_start_ramp(") + r.in_service + ", " +
            r.slow_start + ")::numeric, 6)::float8") == r.ramp);
  }
}

TEST_CASE_FIXTURE(fixture,
                  "with slow start, a newcomer counts with its ramped capacity: the old "
                  "backends shed only what its ramp lets it take (migrations/0011)") {
  q("UPDATE loadns.services SET slow_start = '10000 s', shed_rate = 100000");
  for (const auto* b : {"b1", "b2", "b3", "b4"}) add(b, 1000);
  add("b5", 0);
  // In service for a day: past the window (add() puts them an hour back, within it).
  q("UPDATE loadns.backends SET serving_since = now() - interval '1 day'");
  // b5 entered service 10 s ago (before b1's previous report, 2 s back: migrations/0010):
  // ramp 0.1. b1's share is 4000 x 1000 / 4100 = 975.6, and 1000 is within 5% of it.
  q("UPDATE loadns.backends SET serving_since = now() - interval '10 s' WHERE name = 'b5'");
  CHECK(shed("b1", 1000, 2) == 0);
  // Without slow start the same report sheds down to 800.
  q("UPDATE loadns.services SET slow_start = '0'");
  CHECK(shed("b1", 1000, 2) == 200);
  // Half way through the window (ramp 0.5): a share of 4000 x 1000 / 4500 = 888.9.
  q("UPDATE loadns.services SET slow_start = '10000 s'");
  q("UPDATE loadns.backends SET serving_since = now() - interval '5000 s' WHERE name = 'b5'");
  CHECK(shed("b1", 1000, 2) == 111);
  // After the window: the full share, 800.
  q("UPDATE loadns.backends SET serving_since = now() - interval '10000 s' WHERE name = 'b5'");
  CHECK(shed("b1", 1000, 2) == 200);
}

TEST_CASE_FIXTURE(fixture,
                  "slow start never shrinks the reporting backend's own share: one back "
                  "from stale keeps the clients it holds") {
  q("UPDATE loadns.services SET slow_start = '10000 s', shed_rate = 100000");
  for (const auto* b : {"b1", "b2", "b3", "b4", "b5"}) add(b, 1000);
  q("UPDATE loadns.backends SET serving_since = now() - interval '1 day'");
  // b1 entered service again 3 s ago (back from stale or unhealthy, its clients still
  // connected; before the others' previous reports, so they count it: migrations/0010):
  // level with the others, nothing to shed (with its own share ramped to 10% it would be told
  // to shed 878 of its 1000).
  q("UPDATE loadns.backends SET serving_since = now() - interval '3 s' WHERE name = 'b1'");
  CHECK(shed("b1", 1000, 2) == 0);
  // The others count it with its ramped capacity, which only makes their shares larger:
  // b2 at 1000 of 5000 against 4.1 capacities has a share of 1219.5, and sheds nothing.
  CHECK(shed("b2", 1000, 2) == 0);
  // Beyond 1.05 x that share it sheds down to it: 1500 of 5500 gives 1341.5.
  CHECK(shed("b2", 1500, 2) == 158);
}
