// family_pairs: the table that answers a nonce name's A and AAAA with one host, counted once
// (hit, miss, expiry, a host without the family, a reload, a host that may not answer),
// and answer() using it: the bare service name and single-family hosts as before.
#include "server/core/family_pairs.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "server/core/answer.hpp"
#include "server/core/answer_counter.hpp"
#include "server/core/backends.hpp"
#include "server/core/snapshot_builder.hpp"
#include "tests/unit/core/example_source.hpp"
#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using core::family;
using core::family_pairs;

namespace {

constexpr std::uint16_t A = 1, AAAA = 28;

/// dual.example.com: d1 and d2 dual-stack (v4 .1/.2, v6 ::1/::2), s4 IPv4 only (.3), s6 IPv6
/// only (::6); in the lists v4 = {d1, d2, s4}, v6 = {d1, d2, s6}.
core::source dual_source() {
  core::source s = test::minimal_source();
  s.services.front().name = "dual.example.com";
  auto backend = [&](std::int64_t id, std::string address, std::string second) {
    core::backend_row row;
    row.id = id;
    row.service = "dual.example.com";
    row.name = "b" + std::to_string(id);
    row.address = std::move(address);
    row.second_address = std::move(second);
    s.backends.push_back(row);
  };
  backend(1, "192.0.2.1", "2001:db8::1");
  backend(2, "2001:db8::2", "192.0.2.2");  // its first address IPv6
  backend(3, "192.0.2.3", "");
  backend(4, "2001:db8::6", "");
  return s;
}

struct fixture {
  core::counter_registry counters;
  std::shared_ptr<const core::snapshot> snap;
  family_pairs pairs{1024, 7};
  explicit fixture(const core::source& src = dual_source(), std::uint64_t generation = 1) {
    auto built = core::build_snapshot(src, core::clock::now(), generation, counters);
    REQUIRE(built.skipped.empty());
    snap = built.snap;
  }
  const core::service& svc() const { return snap->services[0]; }
  std::uint32_t index_of(family f, const std::string& name) const {
    const auto& list = svc().backends[static_cast<std::size_t>(f)];
    for (std::uint32_t i = 0; i < list.size(); ++i) {
      if (list[i].name == name) return i;
    }
    FAIL("no backend " << name);
    return 0;
  }
  std::uint64_t key(const std::string& name) const { return pairs.key_of(test::wire_name(name)); }
};

}  // namespace

TEST_CASE("snapshot: a row with a second address is in both families, one host, one counter") {
  fixture f;
  const auto& v4 = f.svc().backends[0];
  const auto& v6 = f.svc().backends[1];
  REQUIRE(v4.size() == 3);
  REQUIRE(v6.size() == 3);
  // Database order (by id) in each list; each dual-stack host's entries name each other.
  CHECK(v4[0].address_text == "192.0.2.1");
  CHECK(v6[0].address_text == "2001:db8::1");
  CHECK(v4[1].address_text == "192.0.2.2");
  CHECK(v6[1].address_text == "2001:db8::2");
  CHECK(v4[0].twin == 0);
  CHECK(v6[0].twin == 0);
  CHECK(v4[1].twin == 1);
  CHECK(v6[1].twin == 1);
  CHECK(v4[2].twin == core::no_twin);
  CHECK(v6[2].twin == core::no_twin);
  // The entry made from second_address is marked, so that hosts are counted once.
  CHECK_FALSE(v4[0].second);
  CHECK(v6[0].second);
  CHECK(v4[1].second);
  CHECK_FALSE(v6[1].second);
  CHECK(v4[0].fam == family::v4);
  CHECK(v6[0].fam == family::v6);
  CHECK(v6[0].address[0] == 0x20);
  // One load unit: the same counters, the same state.
  CHECK(v4[0].answer_count == v6[0].answer_count);
  CHECK(v4[1].shared == v6[1].shared);
  CHECK(v4[0].id == v6[0].id);
  CHECK(f.svc().candidates[0].serving == 3);
  CHECK(f.svc().candidates[1].serving == 3);
  CHECK(f.counters.size() == 4);
}

TEST_CASE(
    "snapshot: a second address of the address's own family, or not an address, leaves the row "
    "out") {
  core::counter_registry counters;
  auto src = dual_source();
  src.backends[2].second_address = "192.0.2.9";
  auto built = core::build_snapshot(src, core::clock::now(), 1, counters);
  REQUIRE(built.snap != nullptr);
  REQUIRE(built.skipped.size() == 1);
  CHECK(built.skipped[0].reason.find("second_address") != std::string::npos);
  src.backends[2].second_address = "not-an-address";
  built = core::build_snapshot(src, core::clock::now(), 1, counters);
  REQUIRE(built.skipped.size() == 1);
  CHECK(built.skipped[0].reason == "invalid second_address");
}

TEST_CASE("family_pairs: the other family's query within the window gets the same host") {
  fixture f;
  const auto key = f.key("n1.dual.example.com");
  const std::uint32_t t = 5'000;
  // Nothing remembered yet: a miss.
  CHECK_FALSE(f.pairs.find(key, f.svc(), family::v6, t));
  f.pairs.remember(key, f.svc(), family::v4, f.index_of(family::v4, "b2"), t);
  const auto hit = f.pairs.find(key, f.svc(), family::v6, t + 10);
  REQUIRE(hit);
  CHECK(f.svc().backends[1][*hit].name == "b2");
  CHECK(f.svc().backends[1][*hit].address_text == "2001:db8::2");
  // The other way round.
  const auto key2 = f.key("n2.dual.example.com");
  f.pairs.remember(key2, f.svc(), family::v6, f.index_of(family::v6, "b1"), t);
  const auto back = f.pairs.find(key2, f.svc(), family::v4, t + 1);
  REQUIRE(back);
  CHECK(f.svc().backends[0][*back].name == "b1");
  // The same family again (a retry) chooses anew.
  CHECK_FALSE(f.pairs.find(key, f.svc(), family::v4, t + 10));
  // Another name: a miss.
  CHECK_FALSE(f.pairs.find(f.key("n3.dual.example.com"), f.svc(), family::v6, t + 10));
}

TEST_CASE("family_pairs: the key is the lower-case name, the service included") {
  fixture f;
  CHECK(f.key("n1.dual.example.com") == f.key("n1.dual.example.com"));
  CHECK(f.key("n1.dual.example.com") != f.key("n2.dual.example.com"));
  CHECK(f.key("n1.dual.example.com") != f.key("n1-dual.example.com"));
  CHECK(f.key("n1.dual.example.com") != f.key("n1.other.example.com"));
  family_pairs other_seed(1024, 8);
  CHECK(other_seed.key_of(test::wire_name("n1.dual.example.com")) != f.key("n1.dual.example.com"));
}

TEST_CASE("family_pairs: expiry after the window, across the clock's wrap too") {
  fixture f;
  const auto key = f.key("late.dual.example.com");
  for (std::uint32_t t : {std::uint32_t{1'000}, std::uint32_t{0xFFFF'FF00}}) {
    CAPTURE(t);
    f.pairs.remember(key, f.svc(), family::v4, 0, t);
    CHECK(f.pairs.find(key, f.svc(), family::v6, t + family_pairs::window_ms));
    CHECK_FALSE(f.pairs.find(key, f.svc(), family::v6, t + family_pairs::window_ms + 1));
    CHECK_FALSE(f.pairs.find(key, f.svc(), family::v6, t + 60'000));
  }
}

TEST_CASE("family_pairs: a host without the other family, a reload, a reused slot") {
  fixture f;
  const std::uint32_t t = 100;
  // s4 has no IPv6 address: the AAAA query chooses on its own.
  const auto key = f.key("single.dual.example.com");
  f.pairs.remember(key, f.svc(), family::v4, f.index_of(family::v4, "b3"), t);
  CHECK_FALSE(f.pairs.find(key, f.svc(), family::v6, t + 1));
  // A reload between the two queries (every poll makes a snapshot) keeps the pair...
  const auto key2 = f.key("moved.dual.example.com");
  f.pairs.remember(key2, f.svc(), family::v4, f.index_of(family::v4, "b2"), t);
  fixture reloaded(dual_source(), 2);
  const auto again = f.pairs.find(key2, reloaded.svc(), family::v6, t + 1);
  REQUIRE(again);
  CHECK(reloaded.svc().backends[1][*again].name == "b2");
  // ...unless another host took the chosen one's place in the list (b1 removed: b3 is
  // where b2 was).
  auto fewer = dual_source();
  fewer.backends.erase(fewer.backends.begin());
  fixture moved(fewer, 3);
  REQUIRE(moved.svc().backends[0][1].name == "b3");
  CHECK_FALSE(f.pairs.find(key2, moved.svc(), family::v6, t + 1));
  // A later name in the same slot replaces the earlier one (bounded memory): the earlier
  // name's other query chooses on its own.
  family_pairs tiny(2, 1);
  const auto k1 = tiny.key_of(test::wire_name("x1.dual.example.com"));
  std::uint64_t k2 = 0;
  for (int i = 2; i < 100; ++i) {
    k2 = tiny.key_of(test::wire_name("x" + std::to_string(i) + ".dual.example.com"));
    if ((k2 & 1) == (k1 & 1) && (k2 >> 44) != (k1 >> 44)) break;
  }
  tiny.remember(k1, f.svc(), family::v4, 0, t);
  tiny.remember(k2, f.svc(), family::v4, 1, t);
  CHECK_FALSE(tiny.find(k1, f.svc(), family::v6, t + 1));
  CHECK(tiny.find(k2, f.svc(), family::v6, t + 1) == 1);
}

TEST_CASE("family_pairs: a host this family may not answer with is not reused") {
  auto src = dual_source();
  src.backends[0].draining = true;  // b1 drains: neither family answers with it
  src.backends[1].agent_healthy = false;
  fixture f(src);
  const auto key = f.key("drain.dual.example.com");
  f.pairs.remember(key, f.svc(), family::v4, f.index_of(family::v4, "b1"), 0);
  CHECK_FALSE(f.pairs.find(key, f.svc(), family::v6, 1));
  // Too few serving IPv6 (min_serving 3): fail_open reuses any enabled host...
  src.services[0].min_serving = 3;
  fixture open(src);
  REQUIRE(open.svc().candidates[1].mode == core::family_mode::fail_open);
  open.pairs.remember(key, open.svc(), family::v4, open.index_of(family::v4, "b1"), 0);
  CHECK(open.pairs.find(key, open.svc(), family::v6, 1));
  // ...nodata never.
  src.services[0].on_empty = "nodata";
  fixture none(src);
  none.pairs.remember(key, none.svc(), family::v4, none.index_of(family::v4, "b1"), 0);
  CHECK_FALSE(none.pairs.find(key, none.svc(), family::v6, 1));
}

namespace {

/// answer() with a balancer that pairs.
struct paired_server : fixture {
  core::balancer bal{42, &pairs};
  std::vector<std::uint8_t> out = std::vector<std::uint8_t>(65535);

  std::string ask(const std::string& name, std::uint16_t qtype) {
    core::answer_info info;
    test::query_spec o;
    o.type = qtype;
    const auto q = test::make_query(name, o);
    const std::size_t n = core::answer(q, out, core::transport::udp, snap.get(), bal, info);
    REQUIRE(n > 0);
    const auto m = test::parse(std::span<const std::uint8_t>(out).first(n));
    REQUIRE(m.ok);
    REQUIRE(m.answer.size() == 1);
    return m.answer[0].data;
  }
  std::uint64_t answers() const {
    std::uint64_t sum = 0;
    for (const auto& b : svc().backends[0]) sum += b.answer_count->total();
    for (const auto& b : svc().backends[1]) {
      if (b.twin == core::no_twin) sum += b.answer_count->total();  // s6, not counted above
    }
    return sum;
  }
  /// The host of an address: its backend's name.
  std::string host(const std::string& address) const {
    for (const auto& list : svc().backends) {
      for (const auto& b : list) {
        if (b.address_text == address) return b.name;
      }
    }
    return "?";
  }
};

}  // namespace

TEST_CASE("answer: a nonce name's A and AAAA name one dual-stack host, counted once") {
  paired_server s;
  int same = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string name = "c" + std::to_string(i) + ".dual.example.com";
    // Different 0x20 case for each query, as resolvers send them.
    const std::string v4 = s.ask(name, A);
    const std::string v6 = s.ask(i % 2 ? "C" + name.substr(1) : name, AAAA);
    const std::string h4 = s.host(v4), h6 = s.host(v6);
    if (h4 == h6) ++same;
    // Where the A answer's host has an IPv6 address, AAAA gives it.
    if (h4 == "b1" || h4 == "b2") CHECK(h6 == h4);
  }
  CHECK(same > 0);
  // Every A counted; an AAAA only where the A's host had no IPv6 address (s4 => s6 or other).
  const std::uint64_t single =
      s.svc().backends[0][s.index_of(family::v4, "b3")].answer_count->total();
  CHECK(s.answers() == 60 + single);
}

TEST_CASE("answer: the bare service name and a retried family choose and count as before") {
  paired_server s;
  for (int i = 0; i < 10; ++i) {
    s.ask("dual.example.com", A);
    s.ask("dual.example.com", AAAA);
  }
  CHECK(s.answers() == 20);
  s.ask("again.dual.example.com", A);
  s.ask("again.dual.example.com", A);
  CHECK(s.answers() == 22);
}
