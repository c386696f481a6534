// The schema accepts exactly what the server can serve (migrations/0012): rows generated
// across the edges of the checks (TXT escapes and lengths, an RRset's size, intervals,
// weights, times) are offered to the database one by one, and everything it accepts is read
// by the real load_source and built by the real snapshot builder, which must leave nothing
// out. For the checks meant to be exact, every row the database refuses is built on its own
// (as a row that slipped in would be) and the builder must leave it out too. And a database
// upgraded with such rows migrates: they stay (NOT VALID), are left out, new ones refused.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <vector>

#include "server/core/snapshot_builder.hpp"
#include "server/db/load_source.hpp"
#include "server/db/migrate.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/unit/core/example_source.hpp"

using loadns::test::pg_cluster;
namespace core = loadns::core;

namespace {

enum class verdict { accepted, refused_by_check, refused_otherwise };

/// Runs `sql` with `params` in a transaction of its own.
template <typename... P>
verdict offer(pqxx::connection& conn, const std::string& sql, const P&... params) {
  try {
    pqxx::work tx(conn);
    tx.exec_params(sql, params...);
    tx.commit();
    return verdict::accepted;
  } catch (const pqxx::check_violation&) {
    return verdict::refused_by_check;
  } catch (const pqxx::sql_error&) {
    return verdict::refused_otherwise;  // a duplicate, a value out of the column's range
  }
}

/// The builder's view of one extra row: the base source plus `add`, built; the rows it left out.
template <typename F>
std::vector<core::skipped_row> skipped_with(const core::source& base, F add) {
  core::source src = base;
  add(src);
  core::counter_registry counters;
  auto r = core::build_snapshot(src, core::clock::now(), 1, counters);
  REQUIRE(r.snap);
  return r.skipped;
}

/// TXT data from an alphabet of the characters that matter: quotes, backslashes, digits,
/// blanks, a letter and a two-octet character, with runs that reach the 255-octet limit.
std::string random_txt(std::mt19937& rng) {
  static const std::vector<std::string> atoms = {
      "\"", "\\",       "0",   "1",    "2",     "5",     "9",    " ",   "\t",
      "a",  "\xC3\xA9", "\\1", "\\25", "\\255", "\\256", "\\\\", "\\\""};
  std::string s;
  if (rng() % 4 != 0) s += '"';
  const std::size_t n = rng() % 8 == 0 ? 120 + rng() % 160 : rng() % 12;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % 16 == 0) {
      s += std::string(rng() % 260, rng() % 2 ? 'a' : 'e');  // a long run
    } else {
      s += atoms[rng() % atoms.size()];
    }
  }
  if (rng() % 4 != 0) s += '"';
  return s;
}

std::string with_digits(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

TEST_CASE("every row the schema accepts builds, and the rows it refuses the builder refuses") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name) VALUES ('api.example.com');");
  pqxx::connection conn(pg.conninfo());
  const core::source base = loadns::test::minimal_source();
  std::mt19937 rng(20261205);
  int accepted = 0, refused = 0, mismatched = 0;
  auto count = [&](verdict v) { (v == verdict::accepted ? accepted : refused) += 1; };

  SUBCASE("TXT data: escapes, quotes, blanks, multi-octet characters, 255-octet strings") {
    std::vector<std::string> cases = {"\"\\1\"",   "\"\\12\"",    "\"\\123\"",   "\"\\255\"",
                                      "\"\\256\"", "\"\\\\999\"", "\"\\1a2\"",   "\"\\\"\"",
                                      "\"\\",      "\"a\" \"b\"", "\"a\"\"b\"",  " \"a\" ",
                                      "\"a\" b",   "\"\"",        "v=spf1 -all", "\\1"};
    std::string s255 = "\"" + std::string(255, 'x') + "\"";
    std::string s256 = "\"" + std::string(256, 'x') + "\"";
    std::string e128;  // "\é" is two octets: 128 of them are 256
    for (int i = 0; i < 128; ++i) e128 += "\\\xC3\xA9";
    std::string d255;  // 255 \DDD escapes: 255 octets
    for (int i = 0; i < 255; ++i) d255 += "\\065";
    cases.insert(cases.end(),
                 {s255, s256, "\"" + e128 + "\"", "\"" + d255 + "\"", "\"" + d255 + "a\""});
    for (int i = 0; i < 2500; ++i) cases.push_back(random_txt(rng));
    int n = 0;
    for (const auto& data : cases) {
      const std::string name = "t" + std::to_string(n++ % 200) + ".example.com";
      const auto v = offer(
          conn, "INSERT INTO loadns.records (name, type, data) VALUES ($1, 'TXT', $2)", name, data);
      count(v);
      if (v == verdict::refused_otherwise || data.empty()) continue;
      const auto alone = skipped_with(base, [&](core::source& s) {
        s.records.push_back({name, "example.com", "TXT", 60, data, 1});
      });
      if ((v == verdict::accepted) != alone.empty()) {
        ++mismatched;
        MESSAGE("TXT '" << data << "': database "
                        << (v == verdict::accepted ? "accepts" : "refuses") << ", builder "
                        << (alone.empty() ? "accepts" : "refuses: " + alone[0].reason));
      }
    }
  }

  SUBCASE("an RRset's size: TXT records added to a name until the database refuses one") {
    for (int name_no = 0; name_no < 6; ++name_no) {
      const std::string name = "big" + std::to_string(name_no) + ".example.com";
      const std::size_t longest = name_no < 2 ? 300 : 2000;
      core::source built = base;
      for (int i = 0;; ++i) {
        // Unquoted text (cut into 255-octet strings), or quoted strings of up to 255 octets.
        const std::size_t length = 1 + rng() % longest;
        const std::string data = name_no % 2
                                     ? std::to_string(i) + std::string(length, 'x')
                                     : "\"" + std::to_string(i) + std::string(length % 250, 'y') +
                                           "\" \"" + std::string(length % 7, 'z') + "\"";
        const auto v =
            offer(conn, "INSERT INTO loadns.records (name, type, data) VALUES ($1, 'TXT', $2)",
                  name, data);
        count(v);
        core::record_row row{name, "example.com", "TXT", 60, data, 100000 + i};
        const auto left_out =
            skipped_with(built, [&](core::source& s) { s.records.push_back(row); });
        if ((v == verdict::accepted) != left_out.empty()) {
          ++mismatched;
          MESSAGE(name << " record " << i << ": database "
                       << (v == verdict::accepted ? "accepts" : "refuses") << ", builder "
                       << (left_out.empty() ? "accepts" : "refuses"));
        }
        if (v != verdict::accepted) {
          MESSAGE(name << ": the database refused record " << i << " ("
                       << (left_out.empty() ? "" : left_out[0].reason) << ")");
          break;
        }
        built.records.push_back(row);
      }
    }
  }

  SUBCASE("stale_after and slow_start: units, signs, rounding and the 100-year bound") {
    std::vector<std::string> intervals = {"400 microseconds",
                                          "499 microseconds",
                                          "500 microseconds",
                                          "0.5 ms",
                                          "1 ms",
                                          "0",
                                          "-1 ms",
                                          "-1 year 361 days",
                                          "1 year -364 days",
                                          "1 month -29 days",
                                          "1 month -31 days",
                                          "100 years",
                                          "100 years 1 ms",
                                          "99 years 11 months 30 days",
                                          "1000000 years",
                                          "2147483647 days",
                                          "-2147483648 days",
                                          "1 day -86399.9995 s",
                                          "10 s"};
    const char* units[] = {"microseconds", "ms", "s", "min", "hours", "days", "months", "years"};
    for (int i = 0; i < 400; ++i) {
      std::string s;
      for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
        const long long magnitude = static_cast<long long>(rng() % 2000) - 900;
        s += std::to_string(magnitude) + " " + units[rng() % 8] + " ";
      }
      intervals.push_back(s);
    }
    int n = 0;
    for (const auto& iv : intervals) {
      for (const bool stale : {true, false}) {
        const std::string name = "s" + std::to_string(n++) + ".example.com";
        const auto v = offer(
            conn,
            stale ? "INSERT INTO loadns.services (name, stale_after) VALUES ($1, $2::interval)"
                  : "INSERT INTO loadns.services (name, slow_start) VALUES ($1, $2::interval)",
            name, iv);
        count(v);
        if (v == verdict::refused_otherwise) continue;  // not an interval
        // The milliseconds the server would read, when they fit its bigint at all.
        std::string ms_text;
        {
          pqxx::work tx(conn);
          ms_text =
              tx.exec_params1(
                    "SELECT CASE WHEN abs(round(extract(epoch FROM $1::interval) * 1000)) "
                    "< 9e18 THEN round(extract(epoch FROM $1::interval) * 1000)::bigint::text "
                    "ELSE 'overflow' END",
                    iv)[0]
                  .as<std::string>();
        }
        if (ms_text == "overflow") {
          if (v == verdict::accepted) {
            ++mismatched;
            MESSAGE(iv << ": accepted but the server cannot read it");
          }
          continue;
        }
        const std::chrono::milliseconds ms(std::stoll(ms_text));
        core::service_row row;
        row.name = name;
        row.zone = "example.com";
        (stale ? row.stale_after : row.slow_start) = ms;
        const auto alone = skipped_with(base, [&](core::source& s) { s.services.push_back(row); });
        // slow_start: the builder takes anything from 0 (clamped); the bound is the bigint's.
        const bool builder_accepts = alone.empty() && (stale || ms <= core::max_interval);
        if ((v == verdict::accepted) != builder_accepts) {
          ++mismatched;
          MESSAGE((stale ? "stale_after " : "slow_start ")
                  << iv << " (" << ms.count() << " ms): database "
                  << (v == verdict::accepted ? "accepts" : "refuses"));
        }
      }
    }
  }

  SUBCASE("weights: the bounds, their neighbours, subnormals, NaN and random magnitudes") {
    std::vector<double> weights = {0,
                                   core::min_weight,
                                   std::nextafter(core::min_weight, 0.0),
                                   std::nextafter(core::min_weight, 1.0),
                                   core::max_weight,
                                   std::nextafter(core::max_weight, 0.0),
                                   std::nextafter(core::max_weight, 2e6),
                                   1e-300,
                                   5e-324,
                                   1e300,
                                   std::numeric_limits<double>::quiet_NaN(),
                                   1.0,
                                   -1.0};
    std::uniform_real_distribution<double> exponent(-12, 12);
    for (int i = 0; i < 300; ++i) weights.push_back(std::pow(10.0, exponent(rng)));
    int n = 0;
    for (const double w : weights) {
      const std::string name = "w" + std::to_string(n++);
      const auto v = offer(conn,
                           "INSERT INTO loadns.backends (service, name, address, weight) "
                           "VALUES ('api.example.com', $1, '192.0.2.1', $2::double precision)",
                           name, with_digits(w));
      count(v);
      core::backend_row row;
      row.id = 1;
      row.service = "api.example.com";
      row.name = name;
      row.address = "192.0.2.1";
      row.weight = w;
      const auto alone = skipped_with(base, [&](core::source& s) { s.backends.push_back(row); });
      if ((v == verdict::accepted) != alone.empty()) {
        ++mismatched;
        MESSAGE("weight " << with_digits(w) << ": database "
                          << (v == verdict::accepted ? "accepts" : "refuses"));
      }
    }
  }

  SUBCASE("report and service times: infinities and the ends of the timestamp range") {
    for (const char* t : {"infinity", "-infinity", "4713-01-01 00:00:00+00 BC",
                          "294276-12-31 00:00:00+00", "2000-01-01 00:00:00+00"}) {
      for (const char* column : {"reported_at", "serving_since"}) {
        const std::string name = std::string(column) + " " + t;
        count(offer(conn,
                    std::string("INSERT INTO loadns.backends (service, name, address, ") + column +
                        ") VALUES ('api.example.com', $1, '192.0.2.2', $2::timestamptz)",
                    name, std::string(t)));
      }
    }
    CHECK(pg.psql("SELECT count(*) FROM loadns.backends WHERE NOT isfinite(reported_at) "
                  "OR NOT isfinite(serving_since)") == "0");
  }

  // Everything accepted, read by the server's own query and built: nothing left out.
  pqxx::connection server(pg.conninfo("loadns", "server"));
  const auto src = loadns::db::load_source(server);
  core::counter_registry counters;
  const auto r = core::build_snapshot(src, core::clock::now(), 1, counters);
  REQUIRE(r.snap);
  for (const auto& s : r.skipped) {
    MESSAGE("accepted by the database, left out by the server: "
            << core::table_name(s.table) << ": " << s.row << ": " << s.reason);
  }
  MESSAGE(accepted << " rows accepted, " << refused << " refused; " << src.records.size()
                   << " records, " << src.services.size() << " services, " << src.backends.size()
                   << " backends built; " << r.skipped.size() << " left out; " << mismatched
                   << " verdicts differ");
  CHECK(r.skipped.empty());
  CHECK(mismatched == 0);
  CHECK(accepted > 0);
  CHECK(refused > 0);
}

TEST_CASE(
    "an old database with rows migration 0012 refuses migrates: they stay, the server leaves "
    "them out, new ones are refused") {
  pg_cluster pg;
  pg.create_database_at(11);  // as migrations 0001-0011 left it
  pg.psql(
      "INSERT INTO loadns.zones (name, nameservers) VALUES ('example.com', '{ns1.example.com}');"
      "INSERT INTO loadns.services (name, stale_after) VALUES ('api.example.com', '10 s'), "
      "  ('tiny.example.com', '400 microseconds');"
      "INSERT INTO loadns.backends (service, name, address, weight) VALUES "
      "  ('api.example.com', 'b1', '192.0.2.1', 1), ('api.example.com', 'b2', '192.0.2.2', 1e-300);"
      "INSERT INTO loadns.records (name, type, data) VALUES ('t.example.com', 'TXT', '\"' || "
      "  chr(92) || '1\"');");  // "\1": accepted by 0001-0011

  const auto result = loadns::db::migrate(pg.conninfo());
  REQUIRE(result.applied.size() == 1);
  CHECK(result.applied.front().rfind("0012_", 0) == 0);
  // The constraints those rows break are kept NOT VALID; the others are validated.
  CHECK(pg.psql("SELECT string_agg(conname || ':' || convalidated, ',' ORDER BY conname) "
                "FROM pg_constraint WHERE conname IN ('services_stale_after_range', "
                "'services_slow_start_range', 'backends_weight_range', 'backends_times_finite')") ==
        "backends_times_finite:true,backends_weight_range:false,services_slow_start_range:true,"
        "services_stale_after_range:false");

  pqxx::connection server(pg.conninfo());
  const auto src = loadns::db::load_source(server);
  core::counter_registry counters;
  const auto r = core::build_snapshot(src, core::clock::now(), 1, counters);
  REQUIRE(r.snap);
  std::string left_out;
  for (const auto& s : r.skipped) left_out += std::string(core::table_name(s.table)) + ",";
  CHECK(left_out == "services,records,backends,");  // tiny, "\1", b2
  REQUIRE(r.snap->services.size() == 1);
  CHECK(r.snap->services[0].backends[0].size() == 1);

  // New rows like them are refused; once the old ones are fixed the constraints validate.
  CHECK(pg.psql_error("INSERT INTO loadns.backends (service, name, address, weight) VALUES "
                      "('api.example.com', 'b3', '192.0.2.3', 1e-300)")
            .find("backends_weight_range") != std::string::npos);
  pg.psql(
      "UPDATE loadns.backends SET weight = 0.5 WHERE name = 'b2';"
      "UPDATE loadns.services SET stale_after = '1 s' WHERE name = 'tiny.example.com';"
      "ALTER TABLE loadns.backends VALIDATE CONSTRAINT backends_weight_range;"
      "ALTER TABLE loadns.services VALIDATE CONSTRAINT services_stale_after_range;");
  CHECK(pg.psql("SELECT bool_and(convalidated) FROM pg_constraint WHERE conname IN "
                "('services_stale_after_range', 'backends_weight_range')") == "t");
}
