#include "server/core/snapshot_builder.hpp"

#include <cmath>
#include <string>

#include <doctest/doctest.h>

#include "server/dns/name.hpp"
#include "tests/unit/core/example_source.hpp"

using namespace loadns;
using namespace std::chrono_literals;

namespace {

core::build_result build(const core::source& src, core::counter_registry& counters,
                         core::clock::time_point now = core::clock::now()) {
  return core::build_snapshot(src, now, 7, counters);
}

// Why the build left rows out: "table: row: reason" lines.
std::string error_of(const core::source& src) {
  core::counter_registry counters;
  auto r = build(src, counters);
  CHECK_FALSE(r.skipped.empty());
  std::string lines;
  for (const auto& row : r.skipped) {
    lines += std::string(core::table_name(row.table)) + ": " + row.row + ": " + row.reason + "\n";
  }
  return lines;
}

const core::name_node* node(const core::snapshot& s, std::string_view name) {
  auto wire = dns::wire_from_text(name);
  return s.zones.find({reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size()});
}

const core::service& service(const core::snapshot& s, std::string_view name) {
  for (const auto& svc : s.services) {
    if (svc.name == name) return svc;
  }
  FAIL("no service " << name);
  throw;
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("the example source builds: zones, services, nodes, empty non-terminals, glue") {
  core::counter_registry counters;
  auto r = build(test::example_source(), counters);
  REQUIRE(r.skipped.empty());
  const auto& s = *r.snap;
  CHECK(s.generation == 7);
  REQUIRE(s.zones.zones().size() == 2);
  const auto& z = s.zones.zone_at(0);
  CHECK(z.negative_ttl == 300);
  CHECK(z.ns.rdata.size() == 2);
  CHECK(z.ns.additional.size() == 2);  // ns1 A and AAAA; ns2.example.net is not ours
  CHECK(z.services.size() == 8);
  CHECK(s.services.size() == 8);
  for (std::size_t i = 0; i < s.services.size(); ++i) CHECK(s.services[i].index == i);

  REQUIRE(node(s, "eu.example.com"));
  CHECK(node(s, "eu.example.com")->empty_non_terminal());
  CHECK(node(s, "a.b.example.com")->empty_non_terminal());
  CHECK(node(s, "b.example.com")->empty_non_terminal());
  CHECK(node(s, "child.example.com")->apex);
  CHECK(node(s, "child.example.com")->zone == 1);
  CHECK(node(s, "api.example.com")->service != core::no_service);
  CHECK(node(s, "api.example.com")->find(16) != nullptr);
  CHECK(node(s, "example.com")->find(15)->additional.size() == 1);

  const auto& api = service(s, "api.example.com");
  CHECK(api.backends[0].size() == 2);
  CHECK(api.backends[1].size() == 1);
  CHECK(api.backends[0][0].address[0] == 192);
  CHECK(api.backends[0][0].answer_count != nullptr);
  CHECK(api.backends[0][0].state == core::backend_state::serving);
  CHECK(api.candidates[0].mode == core::family_mode::serving);
  CHECK(counters.size() == 58);
}

TEST_CASE("backend states: disabled, draining, stale, full, and operator rows serving") {
  core::source src = test::example_source();
  src.backends.resize(3);  // api.example.com: 192.0.2.1, 192.0.2.2, 2001:db8::1
  auto add = [&](std::int64_t id, std::string address) -> core::backend_row& {
    core::backend_row row;
    row.id = id;
    row.service = "api.example.com";
    row.name = "b" + std::to_string(id);
    row.address = std::move(address);
    src.backends.push_back(row);
    return src.backends.back();
  };
  add(100, "192.0.2.100").enabled = false;
  add(101, "192.0.2.101").draining = true;
  add(102, "192.0.2.102").report_age = 11s;  // stale_after is 10 s
  auto& full = add(103, "192.0.2.103");
  full.capacity = 10;
  full.connections = 10;
  auto& fresh = add(104, "192.0.2.104");
  fresh.report_age = 2s;
  fresh.connections = 3;
  fresh.capacity = 10;
  add(105, "192.0.2.105/32");  // inet text with a host mask

  core::counter_registry counters;
  const auto now = core::clock::now();
  auto r = build(src, counters, now);
  REQUIRE(r.skipped.empty());
  const auto& v4 = service(*r.snap, "api.example.com").backends[0];
  REQUIRE(v4.size() == 8);
  CHECK(v4[0].state == core::backend_state::serving);
  CHECK_FALSE(v4[0].reported_at.has_value());  // operator row: no agent
  CHECK(v4[2].state == core::backend_state::disabled);
  CHECK(v4[3].state == core::backend_state::draining);
  CHECK(v4[4].state == core::backend_state::stale);
  CHECK(v4[5].state == core::backend_state::full);
  CHECK(v4[6].state == core::backend_state::serving);
  CHECK(v4[6].reported_at == now - 2s);
  CHECK(v4[7].state == core::backend_state::serving);
  CHECK(v4[7].address_text == "192.0.2.105/32");
}

TEST_CASE("fail open per family when no backend of it is serving") {
  core::source src = test::example_source();
  for (auto& b : src.backends) {
    if (b.service == "api.example.com" && b.address.find(':') == std::string::npos) {
      b.draining = true;
    }
    if (b.service == "v6.example.com") b.enabled = false;
  }
  core::counter_registry counters;
  auto r = build(src, counters);
  REQUIRE(r.snap);
  using core::family_mode;
  CHECK(service(*r.snap, "api.example.com").candidates[0].mode == family_mode::fail_open);
  CHECK(service(*r.snap, "api.example.com").candidates[1].mode == family_mode::serving);
  // All disabled: nothing to fail open to.
  CHECK(service(*r.snap, "v6.example.com").candidates[1].mode == family_mode::nodata);
  // No backend at all: nothing is missing.
  CHECK(service(*r.snap, "empty.example.com").candidates[0].mode == family_mode::serving);
}

TEST_CASE("names are normalised and TTLs capped at 2^31-1 (RFC 2181 8)") {
  core::source src = test::example_source();
  src.zones[1].name = "Child.Example.COM.";
  src.zones[1].ttl = 0xFFFFFFFF;
  src.services[0].ttl = 0x80000000;
  core::counter_registry counters;
  auto r = build(src, counters);
  REQUIRE(r.skipped.empty());
  const auto& child = r.snap->zones.zone_at(1);
  CHECK(child.name == "child.example.com");
  CHECK(child.soa.ttl == 0x7FFFFFFF);
  CHECK(child.negative_ttl == 60);
  CHECK(node(*r.snap, "child.example.com")->text == "child.example.com");
  CHECK(service(*r.snap, "api.example.com").ttl == 0x7FFFFFFF);
}

TEST_CASE("counters are the registry's, kept across builds") {
  core::counter_registry counters;
  auto a = build(test::example_source(), counters);
  auto b = build(test::example_source(), counters);
  REQUIRE(a.snap);
  REQUIRE(b.snap);
  CHECK(service(*a.snap, "api.example.com").backends[0][0].answer_count ==
        service(*b.snap, "api.example.com").backends[0][0].answer_count);
}

TEST_CASE("a row that cannot be used is left out naming it") {
  {
    auto src = test::example_source();
    src.backends[1].address = "192.0.2.300";
    auto e = error_of(src);
    CHECK(contains(e, "backend 2"));
    CHECK(contains(e, "192.0.2.300"));
    CHECK(contains(e, "invalid address"));
  }
  {
    auto src = test::example_source();
    src.backends[0].address = "192.0.2.0/24";
    CHECK(contains(error_of(src), "invalid address"));
  }
  {
    auto src = test::example_source();
    src.backends[0].service = "nothere.example.com";
    CHECK(contains(error_of(src), "unknown service"));
  }
  {
    auto src = test::example_source();
    src.zones[0].nameservers.clear();
    auto e = error_of(src);
    CHECK(contains(
        e, "zones: zone 'example.com': no nameservers (NS records); the zone is not served"));
  }
  {
    auto src = test::example_source();
    src.zones[0].mname = "bad..name";
    CHECK(contains(error_of(src), "invalid mname"));
  }
  {
    auto src = test::example_source();
    src.zones.push_back(src.zones[0]);
    CHECK(contains(error_of(src), "duplicate zone"));
  }
  {
    auto src = test::example_source();
    src.services.push_back({"api.example.org", "example.org"});
    CHECK(contains(error_of(src), "service 'api.example.org': not inside any zone"));
  }
  {
    auto src = test::example_source();
    src.services[0].policy = "fastest";
    CHECK(contains(error_of(src), "unknown policy 'fastest'"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"x.example.com", "example.com", "A", 60, "2001:db8::1"});
    auto e = error_of(src);
    CHECK(contains(e, "record 'x.example.com' A '2001:db8::1'"));
    CHECK(contains(e, "invalid IPv4 address"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"x.example.com", "example.com", "SRV", 60, "0 0 1 x.example.com"});
    CHECK(contains(error_of(src), "unsupported type"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"www.example.com", "example.com", "TXT", 60, "x"});
    CHECK(contains(error_of(src), "cannot coexist with other data"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"www.example.com", "example.com", "CNAME", 60, "mail.example.com"});
    CHECK(contains(error_of(src), "at most one CNAME"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"api.example.com", "example.com", "A", 60, "192.0.2.9"});
    CHECK(contains(error_of(src), "the name is a service"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"example.com", "example.com", "MX", 60, "mail.example.com"});
    CHECK(contains(error_of(src), "PREFERENCE EXCHANGE"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"t.example.com", "example.com", "TXT", 60, "\"unterminated"});
    CHECK(contains(error_of(src), "unterminated TXT string"));
  }
  {
    auto src = test::example_source();
    src.records.push_back({"t.example.org", "example.org", "TXT", 60, "x"});
    CHECK(contains(error_of(src), "not inside any zone"));
  }
}

TEST_CASE(
    "a zone row that cannot be used: its last good version is served and the other rows load; "
    "with none, the zone and the rows in it are left out") {
  core::counter_registry counters;
  const auto now = core::clock::now();
  const auto src = test::example_source();
  const auto good = core::build_snapshot(src, now, 1, counters);
  REQUIRE(good.skipped.empty());
  CHECK(good.zone_rows == src.zones);

  auto bad = src;
  bad.zones[0].nameservers.clear();  // forced past zones_nameservers_not_empty
  bad.records.push_back({"new.example.com", "example.com", "TXT", 60, "\"new\"", 900});
  auto r = core::build_snapshot(bad, now, 2, counters, good.zone_rows);
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].table == core::table::zones);
  CHECK(r.skipped[0].row == "zone 'example.com'");
  CHECK(r.skipped[0].reason == "no nameservers (NS records); its last good version is served");
  CHECK(r.zone_rows == src.zones);
  REQUIRE(r.snap->zones.zones().size() == 2);
  CHECK(r.snap->zones.zone_at(0).name == "example.com");
  CHECK(r.snap->zones.zone_at(0).ns.rdata.size() == 2);  // ns1.example.com, ns2.example.net
  CHECK(node(*r.snap, "new.example.com") != nullptr);    // the rest follows the database
  CHECK(node(*r.snap, "api.example.com") != nullptr);
  // Still bad at the next poll: the same last good version, carried from build to build.
  r = core::build_snapshot(bad, now, 3, counters, r.zone_rows);
  CHECK(r.zone_rows == src.zones);
  CHECK(r.snap->zones.zone_at(0).ns.rdata.size() == 2);

  // No good version (a server started with the row already bad): the zone is not served, nor
  // anything whose zone column names it; the other zone is.
  r = core::build_snapshot(bad, now, 4, counters);
  CHECK(r.skipped.front().reason == "no nameservers (NS records); the zone is not served");
  CHECK(r.zone_rows == bad.zones);  // refused again at the next build
  REQUIRE(r.snap->zones.zones().size() == 1);
  CHECK(node(*r.snap, "child.example.com") != nullptr);
  CHECK(node(*r.snap, "api.example.com") == nullptr);
  CHECK(node(*r.snap, "new.example.com") == nullptr);
  std::size_t services = 0, records = 0;
  for (const auto& row : r.skipped) {
    if (row.reason != "its zone 'example.com' is not served (its row is left out)") continue;
    services += row.table == core::table::services ? 1 : 0;
    records += row.table == core::table::records ? 1 : 0;
  }
  CHECK(services == src.services.size());
  CHECK(records == bad.records.size());
  CHECK(r.snap->services.empty());
  // The bad row handed to the next build as the "last good" one is refused again.
  r = core::build_snapshot(bad, now, 5, counters, r.zone_rows);
  CHECK(r.snap->zones.zones().size() == 1);
  CHECK(node(*r.snap, "api.example.com") == nullptr);
}

TEST_CASE("bad rows are left out and the rest builds: their names stay absent, nothing else") {
  auto src = test::example_source();
  const auto services_before = src.services.size();
  src.records.push_back({"bad.example.com", "example.com", "TXT", 60, "\"\\1\"", 500});
  src.records.push_back({"deep.bad2.example.com", "example.com", "A", 60, "192.0.2.300", 501});
  src.records.push_back({"good.example.com", "example.com", "TXT", 60, "\"\\001\"", 502});
  core::service_row stale;
  stale.name = "stale.example.com";
  stale.zone = "example.com";
  stale.stale_after = 0ms;  // '400 microseconds' as loaded
  src.services.push_back(stale);
  core::backend_row of_stale;
  of_stale.id = 900;
  of_stale.service = "stale.example.com";
  of_stale.name = "s1";
  of_stale.address = "192.0.2.90";
  src.backends.push_back(of_stale);
  src.backends[0].weight = 1e-320;  // the balancer would divide into infinity

  core::counter_registry counters;
  auto r = build(src, counters);
  REQUIRE(r.snap);
  REQUIRE(r.skipped.size() == 5);
  const auto& s = *r.snap;
  CHECK(r.skipped[0].table == core::table::services);
  CHECK(r.skipped[0].row == "service 'stale.example.com'");
  CHECK(contains(r.skipped[0].reason, "stale_after must be 1 ms to 100 years (it is 0 ms)"));
  CHECK(r.skipped[1].table == core::table::records);
  CHECK(r.skipped[1].row == "record 500 'bad.example.com' TXT '\"\\1\"'");
  CHECK(r.skipped[1].reason == "bad \\DDD escape in TXT");
  CHECK(r.skipped[2].row == "record 501 'deep.bad2.example.com' A '192.0.2.300'");
  CHECK(r.skipped[3].table == core::table::backends);
  CHECK(contains(r.skipped[3].row, "backend 1 "));
  CHECK(contains(r.skipped[3].reason, "weight"));
  CHECK(contains(r.skipped[4].row, "backend 900 "));
  CHECK(contains(r.skipped[4].reason, "unknown service"));

  CHECK(s.services.size() == services_before);
  CHECK(node(s, "stale.example.com") == nullptr);
  CHECK(node(s, "bad.example.com") == nullptr);
  CHECK(node(s, "bad2.example.com") == nullptr);  // no empty non-terminal for a left-out row
  REQUIRE(node(s, "good.example.com") != nullptr);
  const auto& api = service(s, "api.example.com");
  REQUIRE(api.backends[0].size() == 1);  // backend 1 left out, backend 2 kept
  CHECK(api.backends[0][0].id == 2);
}

TEST_CASE("conflicting records: the older row (lower id) stays, the later one is left out") {
  for (const bool cname_first : {true, false}) {
    auto src = test::example_source();
    src.records.push_back(
        {"pair.example.com", "example.com", "A", 60, "192.0.2.81", cname_first ? 701 : 700});
    src.records.push_back({"pair.example.com", "example.com", "CNAME", 60, "www.example.com",
                           cname_first ? 700 : 701});
    core::counter_registry counters;
    auto r = build(src, counters);
    REQUIRE(r.snap);
    REQUIRE(r.skipped.size() == 1);
    CHECK(r.skipped[0].row == (cname_first
                                   ? "record 701 'pair.example.com' A '192.0.2.81'"
                                   : "record 701 'pair.example.com' CNAME 'www.example.com'"));
    const auto* n = node(*r.snap, "pair.example.com");
    REQUIRE(n != nullptr);
    CHECK(n->rrsets.size() == 1);
    CHECK((n->find(5) != nullptr) == cname_first);
  }
}

TEST_CASE("an RRset takes at most max_rrset_octets: the record past it is left out") {
  auto src = test::example_source();
  // Each record: 255 octets of text in one string, 256 octets of data, 268 in the RRset.
  const std::size_t fit = core::max_rrset_octets / 268;
  for (std::size_t i = 0; i <= fit; ++i) {
    std::string text = std::to_string(1000 + i);
    text.resize(255, 'x');
    src.records.push_back(
        {"big.example.com", "example.com", "TXT", 60, text, static_cast<std::int64_t>(1000 + i)});
  }
  core::counter_registry counters;
  auto r = build(src, counters);
  REQUIRE(r.snap);
  REQUIRE(r.skipped.size() == 1);
  CHECK(contains(r.skipped[0].row, "record " + std::to_string(1000 + fit) + " 'big.example.com'"));
  CHECK(contains(r.skipped[0].reason, "more than 65000"));
  CHECK(node(*r.snap, "big.example.com")->find(16)->rdata.size() == fit);
}

TEST_CASE("weights and stale_after at the edges the schema allows build") {
  for (const double w : {core::min_weight, 1.0, core::max_weight}) {
    auto src = test::example_source();
    src.backends[0].weight = w;
    src.services[0].stale_after = 1ms;
    src.services[1].stale_after = core::max_interval;
    core::counter_registry counters;
    auto r = build(src, counters);
    REQUIRE(r.snap);
    CHECK(r.skipped.empty());
  }
  for (const double w : {core::min_weight * 0.99, core::max_weight * 1.01, std::nan("")}) {
    auto src = test::example_source();
    src.backends[0].weight = w;
    CHECK(contains(error_of(src), "weight must be"));
  }
  auto src = test::example_source();
  src.services[1].stale_after = core::max_interval + 1ms;
  CHECK(contains(error_of(src), "stale_after"));
}
