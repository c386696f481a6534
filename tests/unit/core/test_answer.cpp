// answer() on the example source: one check per rule of docs/answering.md, each reading like it.
#include "server/core/answer.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "server/core/snapshot_builder.hpp"
#include "tests/support/allocation_counter.hpp"
#include "tests/unit/core/example_source.hpp"
#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using bytes = std::vector<std::uint8_t>;
using core::transport;

namespace {

constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, MX = 15, TXT = 16, AAAA = 28, OPT = 41,
                        AXFR = 252, MAILB = 253, ANY = 255;

struct server {
  core::counter_registry counters;
  std::shared_ptr<const core::snapshot> snap;
  core::balancer bal{42};
  bytes out = bytes(65535);
  core::answer_info info;
  std::size_t length = 0;

  explicit server(const core::source& src = test::example_source()) {
    auto built = core::build_snapshot(src, core::clock::now(), 1, counters);
    REQUIRE(built.skipped.empty());
    snap = built.snap;
  }

  std::size_t raw(const bytes& query, transport t = transport::udp, bool with_snapshot = true) {
    length = core::answer(query, out, t, with_snapshot ? snap.get() : nullptr, bal, info);
    return length;
  }
  test::message ask(const bytes& query, transport t = transport::udp) {
    raw(query, t);
    REQUIRE(length > 0);
    auto m = test::parse(std::span<const std::uint8_t>(out).first(length));
    REQUIRE_MESSAGE(m.ok, m.error);
    CHECK(m.qr);
    CHECK_FALSE(m.ra);  // never recursive
    CHECK(m.id == test::query_spec{}.id);
    return m;
  }
  test::message ask(std::string_view name, std::uint16_t qtype, test::query_spec o = {},
                    transport t = transport::udp) {
    o.type = qtype;
    return ask(test::make_query(name, o), t);
  }
};

std::vector<std::string> values(const std::vector<test::record>& rrs) {
  std::vector<std::string> v;
  for (const auto& rr : rrs) v.push_back(rr.data);
  return v;
}

test::query_spec of_type(std::uint16_t qtype) {
  test::query_spec o;
  o.type = qtype;
  return o;
}

void check_soa_authority(const test::message& m, std::uint32_t ttl = 300) {
  REQUIRE(m.authority.size() == 1);
  CHECK(m.authority[0].type == SOA);
  CHECK(m.authority[0].owner == "example.com");
  CHECK(m.authority[0].ttl == ttl);  // min(SOA TTL 3600, MINIMUM 300), RFC 2308 3
}

}  // namespace

TEST_CASE("A at a service: one backend of the family, authoritative, owner = the question") {
  server s;
  auto m = s.ask("api.example.com", A);
  CHECK(m.rcode == "NOERROR");
  CHECK(m.aa);
  CHECK_FALSE(m.rd);  // copied: the query had it clear
  REQUIRE(m.answer.size() == 1);
  CHECK(m.answer[0].owner == "api.example.com");
  CHECK(m.answer[0].type == A);
  CHECK(m.answer[0].ttl == 30);
  CHECK((m.answer[0].data == "192.0.2.1" || m.answer[0].data == "192.0.2.2"));
  CHECK(m.authority.empty());
  // The owner is the pointer to the question (0xC00C) right after it.
  const std::size_t question_end = 12 + 17 + 4;
  CHECK(s.out[question_end] == 0xC0);
  CHECK(s.out[question_end + 1] == 0x0C);
  CHECK(s.info.qtype == A);
  CHECK(s.info.rcode == 0);
  CHECK_FALSE(s.info.edns);
}

TEST_CASE("RD is copied, set or clear (RFC 1035 4.1.1); CD too (RFC 4035 3.1.6); AD and Z not") {
  server s;
  test::query_spec o;
  CHECK_FALSE(s.ask("api.example.com", A, o).rd);
  o.rd = true;  // a stub's recursion request: answered the same, authoritatively, RA clear
  const auto rd = s.ask("api.example.com", A, o);
  CHECK(rd.rd);
  CHECK(rd.aa);
  CHECK(rd.answer.size() == 1);
  o.rd = false;
  CHECK_FALSE(s.ask("api.example.com", A).cd);
  o.cd = true;
  bytes q = test::make_query("api.example.com", o);
  q[3] |= 0x60;  // AD and Z
  auto m = s.ask(q);
  CHECK(m.cd);
  CHECK_FALSE(m.ad);
  CHECK_FALSE(m.z);
}

TEST_CASE("the question is echoed exactly as sent (0x20) and answers use that spelling") {
  server s;
  const bytes query = test::make_query("aPi.ExAmPlE.cOm");
  auto m = s.ask(query);
  CHECK(m.qname_wire == test::wire_name("aPi.ExAmPlE.cOm"));
  REQUIRE(m.answer.size() == 1);
  CHECK(m.answer[0].owner == "aPi.ExAmPlE.cOm");
}

TEST_CASE("AAAA at a service answers the v6 backends; no backend of the family is NODATA") {
  server s;
  auto m = s.ask("api.example.com", AAAA);
  CHECK(m.rcode == "NOERROR");
  CHECK(values(m.answer) == std::vector<std::string>{"2001:db8::1"});
  auto none = s.ask("multi.example.com", AAAA);
  CHECK(none.rcode == "NOERROR");
  CHECK(none.aa);
  CHECK(none.answer.empty());
  check_soa_authority(none);
  auto empty = s.ask("empty.example.com", A);
  CHECK(empty.rcode == "NOERROR");
  CHECK(empty.answer.empty());
  check_soa_authority(empty);
}

TEST_CASE("`answers` records per response, all different") {
  server s;
  auto m = s.ask("multi.example.com", A);
  REQUIRE(m.answer.size() == 3);
  auto d = values(m.answer);
  CHECK(std::set<std::string>(d.begin(), d.end()).size() == 3);
}

TEST_CASE("nonce forms match the service, case-insensitively; nothing looser does") {
  server s;
  for (const char* name :
       {"k3j9x.api.example.com", "1596207957-api.example.com", "K3J9X.API.Example.COM",
        "a_b-c.api.example.com", "x-y-1596-api.example.com",
        "123456789012345678901234567890123456789012345678.api.example.com"}) {
    CAPTURE(name);
    auto m = s.ask(name, A);
    CHECK(m.rcode == "NOERROR");
    REQUIRE(m.answer.size() == 1);
    CHECK(m.answer[0].owner == name);
  }
  for (const char* name :
       {"evilapi.example.com", "x.y.api.example.com", "-api.example.com", "api-.example.com",
        "1234567890123456789012345678901234567890123456789.api.example.com", "a*b.api.example.com",
        "k3j9x.strict.example.com", "1596-strict.example.com"}) {
    CAPTURE(name);
    auto m = s.ask(name, A);
    CHECK(m.rcode == "NXDOMAIN");
    CHECK(m.answer.empty());
    check_soa_authority(m);
  }
  CHECK(s.ask("strict.example.com", A).answer.size() == 1);
  // The dash form prefers the longest service label: "x-b-api" is b-api with nonce "x".
  CHECK(values(s.ask("x-b-api.example.com", A).answer) == std::vector<std::string>{"192.0.2.41"});
  // Other types at a nonce name: it exists, so NODATA.
  auto mx = s.ask("k3j9x.api.example.com", MX);
  CHECK(mx.rcode == "NOERROR");
  CHECK(mx.answer.empty());
  check_soa_authority(mx);
}

TEST_CASE("SOA and NS at the apex; NS with in-zone glue in the additional section") {
  server s;
  auto soa = s.ask("example.com", SOA);
  CHECK(soa.rcode == "NOERROR");
  CHECK(soa.aa);
  REQUIRE(soa.answer.size() == 1);
  CHECK(soa.answer[0].data ==
        "ns1.example.com hostmaster.example.com 2024010101 7200 900 1209600 300");
  CHECK(soa.answer[0].ttl == 3600);
  auto ns = s.ask("EXAMPLE.com", NS);
  CHECK(values(ns.answer) == std::vector<std::string>{"ns1.example.com", "ns2.example.net"});
  CHECK(ns.authority.empty());
  REQUIRE(ns.additional.size() == 2);
  CHECK(ns.additional[0].owner == "ns1.example.com");
  CHECK(ns.additional[0].data == "192.0.2.53");
  CHECK(ns.additional[1].data == "2001:db8::53");
}

TEST_CASE("the longest enclosing zone answers") {
  server s;
  auto soa = s.ask("child.example.com", SOA);
  REQUIRE(soa.answer.size() == 1);
  CHECK(soa.answer[0].data == "ns1.example.com hostmaster.example.com 7 7200 900 1209600 60");
  auto nx = s.ask("nothing.child.example.com", A);
  CHECK(nx.rcode == "NXDOMAIN");
  REQUIRE(nx.authority.size() == 1);
  CHECK(nx.authority[0].owner == "child.example.com");
  CHECK(nx.authority[0].ttl == 60);  // min(600, 60)
}

TEST_CASE("other types at existing names: NODATA with the SOA (RFC 2308)") {
  server s;
  for (auto [name, type] : {std::pair{"mail.example.com", AAAA}, std::pair{"example.com", A},
                            std::pair{"ns1.example.com", MX}}) {
    CAPTURE(name);
    auto m = s.ask(name, type);
    CHECK(m.rcode == "NOERROR");
    CHECK(m.aa);
    CHECK(m.answer.empty());
    check_soa_authority(m);
  }
}

TEST_CASE("empty non-terminals are NODATA, not NXDOMAIN (RFC 8020)") {
  server s;
  for (const char* name : {"eu.example.com", "b.example.com", "a.b.example.com"}) {
    CAPTURE(name);
    auto m = s.ask(name, A);
    CHECK(m.rcode == "NOERROR");
    CHECK(m.answer.empty());
    check_soa_authority(m);
  }
  CHECK(s.ask("deep.a.b.example.com", TXT).answer.size() == 1);
}

TEST_CASE("unknown names in a zone: NXDOMAIN with the SOA") {
  server s;
  for (const char* name :
       {"nope.example.com", "x.mail.example.com", "deeper.deep.a.b.example.com"}) {
    CAPTURE(name);
    auto m = s.ask(name, A);
    CHECK(m.rcode == "NXDOMAIN");
    CHECK(m.aa);
    CHECK(m.answer.empty());
    check_soa_authority(m);
  }
  CHECK(s.info.rcode == 3);
}

TEST_CASE("static records: MX with the exchange's address, TXT") {
  server s;
  auto mx = s.ask("example.com", MX);
  CHECK(values(mx.answer) == std::vector<std::string>{"10 mail.example.com"});
  REQUIRE(mx.additional.size() == 1);
  CHECK(mx.additional[0].owner == "mail.example.com");
  CHECK(mx.additional[0].data == "192.0.2.25");
  CHECK(values(s.ask("example.com", TXT).answer) == std::vector<std::string>{"\"v=spf1 -all\""});
  CHECK(values(s.ask("api.example.com", TXT).answer) ==
        std::vector<std::string>{"\"service\" \"info\""});
  CHECK(values(s.ask("ns1.example.com", AAAA).answer) == std::vector<std::string>{"2001:db8::53"});
}

TEST_CASE("CNAME: in the answer, chased within the zone (RFC 1034 4.3.2, RFC 6604)") {
  server s;
  auto www = s.ask("www.example.com", A);
  CHECK(www.rcode == "NOERROR");
  REQUIRE(www.answer.size() == 2);
  CHECK(www.answer[0].type == CNAME);
  CHECK(www.answer[0].data == "api.example.com");
  CHECK(www.answer[1].owner == "api.example.com");
  CHECK(www.answer[1].type == A);

  auto alias = s.ask("alias.example.com", A);
  REQUIRE(alias.answer.size() == 3);
  CHECK(alias.answer[2].type == A);

  auto cname = s.ask("www.example.com", CNAME);
  CHECK(values(cname.answer) == std::vector<std::string>{"api.example.com"});

  auto out = s.ask("out.example.com", A);  // target outside: the resolver follows
  CHECK(out.rcode == "NOERROR");
  CHECK(values(out.answer) == std::vector<std::string>{"www.example.org"});
  CHECK(out.authority.empty());

  auto dangling = s.ask("dangling.example.com", A);
  CHECK(dangling.rcode == "NXDOMAIN");  // RFC 6604: the last name's status
  CHECK(dangling.answer.size() == 1);
  check_soa_authority(dangling);

  auto loop = s.ask("loop1.example.com", A);  // terminates
  CHECK(loop.rcode == "NOERROR");
  CHECK(loop.answer.size() > 2);
  CHECK(loop.answer.size() < 12);

  auto nodata = s.ask("www.example.com", MX);  // chased to the service: NODATA there
  CHECK(nodata.answer.size() == 1);
  check_soa_authority(nodata);
}

TEST_CASE("ANY gets a minimal answer: one RRset (RFC 8482)") {
  server s;
  auto apex = s.ask("example.com", ANY);
  REQUIRE(apex.answer.size() == 1);
  CHECK(apex.answer[0].type == SOA);
  auto svc = s.ask("api.example.com", ANY);
  REQUIRE(svc.answer.size() == 1);
  CHECK(svc.answer[0].type == A);
  auto v6 = s.ask("v6.example.com", ANY);
  REQUIRE(v6.answer.size() == 1);
  CHECK(v6.answer[0].type == AAAA);
  auto www = s.ask("www.example.com", ANY);
  REQUIRE(www.answer.size() == 1);
  CHECK(www.answer[0].type == CNAME);
  auto mail = s.ask("mail.example.com", ANY);
  CHECK(mail.answer.size() == 1);
  auto ent = s.ask("eu.example.com", ANY);
  CHECK(ent.answer.empty());
  check_soa_authority(ent);
}

TEST_CASE("a name under no zone is REFUSED, without AA") {
  server s;
  for (const char* name : {"example.org", "www.example.net", "com", "."}) {
    CAPTURE(name);
    auto m = s.ask(name, A);
    CHECK(m.rcode == "REFUSED");
    CHECK_FALSE(m.aa);
    CHECK(m.answer.empty());
    CHECK(m.authority.empty());
  }
}

TEST_CASE("classes other than IN are REFUSED; meta types answered by the RFCs") {
  server s;
  test::query_spec ch;
  ch.qclass = 3;
  CHECK(s.ask("version.bind", TXT, ch).rcode == "REFUSED");
  CHECK(s.ask("example.com", AXFR).rcode == "REFUSED");
  CHECK(s.ask("example.com", MAILB).rcode == "NOTIMP");
  CHECK(s.ask("example.com", OPT).rcode == "FORMERR");
}

TEST_CASE("opcodes other than QUERY: NOTIMP") {
  server s;
  for (int op : {1, 2, 4, 5, 15}) {
    const auto opcode = static_cast<std::uint8_t>(op);
    test::query_spec o;
    o.opcode = opcode;
    auto m = s.ask(test::make_query("example.com", o));
    CAPTURE(opcode);
    CHECK(m.rcode == "NOTIMP");
    CHECK(m.opcode == opcode);
    CHECK_FALSE(m.aa);
    CHECK(m.qdcount == 0);
  }
}

TEST_CASE("QDCOUNT != 1 or a broken question: FORMERR") {
  server s;
  bytes q = test::make_query("api.example.com");
  q[5] = 0;
  auto none = s.ask(q);
  CHECK(none.rcode == "FORMERR");
  CHECK(none.qdcount == 0);
  q[5] = 2;
  CHECK(s.ask(q).rcode == "FORMERR");
  const bytes pointer{0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
  CHECK(s.ask(pointer).rcode == "FORMERR");
  bytes cut = test::make_query("api.example.com");
  cut.pop_back();
  CHECK(s.ask(cut).rcode == "FORMERR");
  bytes trailing = test::make_query("api.example.com");
  trailing.push_back(0);
  auto t = s.ask(trailing);
  CHECK(t.rcode == "FORMERR");
  CHECK(t.qdcount == 1);  // the question could be read: echoed
  CHECK(s.info.rcode == 1);
}

TEST_CASE("too short for a header, or QR set: dropped") {
  server s;
  const bytes q = test::make_query("api.example.com");
  for (std::size_t n = 0; n < 12; ++n) {
    CHECK(s.raw(bytes(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n))) == 0);
  }
  bytes response = q;
  response[2] |= 0x80;
  CHECK(s.raw(response) == 0);
  CHECK(s.raw(response, transport::tcp) == 0);
}

TEST_CASE("truncated queries at every length: dropped or FORMERR, never a crash") {
  server s;
  test::query_spec o;
  o.edns = true;
  o.options.push_back({10, bytes(8, 0x42)});
  const bytes q = test::make_query("k3j9x.api.example.com", o);
  for (std::size_t n = 0; n < q.size(); ++n) {
    CAPTURE(n);
    std::size_t len = s.raw(bytes(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n)));
    if (n < 12) {
      CHECK(len == 0);
    } else {
      auto m = test::parse(std::span<const std::uint8_t>(s.out).first(len));
      CHECK(m.ok);
      CHECK(m.rcode == "FORMERR");
    }
  }
}

TEST_CASE("EDNS: OPT answered advertising 1232, DO copied, other flags cleared") {
  server s;
  test::query_spec o;
  o.edns = true;
  o.udp_size = 4096;
  o.do_bit = true;
  o.z_flags = 0x1234;
  auto m = s.ask("api.example.com", A, o);
  CHECK(m.rcode == "NOERROR");
  CHECK(m.edns);
  CHECK(m.udp_size == 1232);
  CHECK(m.edns_version == 0);
  CHECK(m.dnssec_ok);
  CHECK(m.edns_flags == 0x8000);
  CHECK(m.edns_options == 0);
  CHECK(m.answer.size() == 1);
  CHECK(s.info.edns);
  o.do_bit = false;
  CHECK_FALSE(s.ask("api.example.com", A, o).dnssec_ok);
  CHECK_FALSE(s.ask("api.example.com", A).edns);  // no OPT without one in the query
}

TEST_CASE("EDNS: version above 0 gets BADVERS; unknown options are ignored") {
  server s;
  test::query_spec o;
  o.edns = true;
  o.edns_version = 1;
  auto bad = s.ask("api.example.com", A, o);
  CHECK(bad.rcode == "BADVERS");
  CHECK(bad.edns);
  CHECK(bad.edns_version == 0);
  CHECK(bad.answer.empty());
  CHECK(s.info.rcode == 16);
  o.edns_version = 0;
  o.options.push_back({65001, bytes{1, 2, 3}});
  o.options.push_back({3, {}});  // NSID request
  CHECK(s.ask("api.example.com", A, o).rcode == "NOERROR");
}

TEST_CASE("EDNS: two OPT records or a malformed option: FORMERR, with OPT") {
  server s;
  test::query_spec o;
  o.edns = true;
  bytes q = test::make_query("api.example.com", o);
  const bytes opt(q.end() - 11, q.end());
  q.insert(q.end(), opt.begin(), opt.end());
  q[11] = 2;
  auto m = s.ask(q);
  CHECK(m.rcode == "FORMERR");
  CHECK(m.edns);
  o.options.push_back({10, bytes(5, 0)});  // COOKIE of 5 octets (RFC 7873 5.2.2)
  CHECK(s.ask("api.example.com", A, o).rcode == "FORMERR");
}

TEST_CASE("before the first snapshot: SERVFAIL") {
  server s;
  s.raw(test::make_query("api.example.com"), transport::udp, false);
  auto m = test::parse(std::span<const std::uint8_t>(s.out).first(s.length));
  CHECK(m.rcode == "SERVFAIL");
  CHECK_FALSE(m.aa);
  CHECK(m.qname_wire == test::wire_name("api.example.com"));
}

TEST_CASE("UDP answers over the client's limit are truncated with TC; TCP carries all") {
  server s;
  // 48 AAAA records: 48 x 28 = 1344 octets.
  auto plain = s.ask("many.example.com", AAAA);  // 512 without EDNS
  CHECK(plain.tc);
  CHECK(plain.answer.empty());
  CHECK(plain.qname_wire == test::wire_name("many.example.com"));
  CHECK(s.length <= 512);
  CHECK(s.info.truncated);
  test::query_spec o;
  o.edns = true;
  o.udp_size = 65000;  // clamped to 1232
  auto big = s.ask("many.example.com", AAAA, o);
  CHECK(big.tc);
  CHECK(big.edns);  // the OPT record survives truncation
  CHECK(s.length <= 1232);
  auto tcp = s.ask("many.example.com", AAAA, {}, transport::tcp);
  CHECK_FALSE(tcp.tc);
  CHECK(tcp.answer.size() == 48);
  o.udp_size = 100;  // below 512 means 512 (RFC 6891 6.2.5)
  auto small = s.ask("multi.example.com", A, o);
  CHECK_FALSE(small.tc);
  CHECK(small.answer.size() == 3);
}

TEST_CASE("a backend is counted once its record is written: each of several, none when truncated") {
  server s;
  auto answered = [&](std::string_view name) {
    std::uint64_t sum = 0;
    for (const auto& svc : s.snap->services) {
      if (svc.name != name) continue;
      for (const auto& list : svc.backends) {
        for (const auto& b : list) sum += b.answer_count->total();
      }
    }
    return sum;
  };
  s.ask("multi.example.com", A);
  CHECK(answered("multi.example.com") == 3);
  // 48 AAAA records do not fit in 512 octets: TC, nothing written, nothing counted.
  CHECK(s.ask("many.example.com", AAAA).tc);
  CHECK(answered("many.example.com") == 0);
  // Over TCP they fit: 48 counted, each of the 48 backends once.
  CHECK(s.ask("many.example.com", AAAA, {}, transport::tcp).answer.size() == 48);
  CHECK(answered("many.example.com") == 48);
}

TEST_CASE("the per-packet path allocates nothing, cookies and truncated copies included") {
  server s;
  test::query_spec edns;
  edns.edns = true;
  const std::vector<bytes> queries{test::make_query("k3j9x.api.example.com"),
                                   test::make_query("1596-Api.example.com", edns),
                                   test::make_query("multi.example.com", edns),
                                   test::make_query("nope.example.com"),
                                   test::make_query("alias.example.com"),
                                   test::make_query("example.com", of_type(NS)),
                                   test::make_query("many.example.com", of_type(AAAA)),
                                   test::make_query("example.org")};
  for (const auto& q : queries) s.raw(q);  // warm up: the balancer sees the snapshot once
  for (const auto& q : queries) s.raw(q, transport::tcp);
  // Cookies (RFC 7873): a client cookie alone, and the full cookie the server handed back.
  const guard::cookie_secrets secrets(guard::cookie_keys{{1, 2, 3}});
  const bytes address{192, 0, 2, 1};
  const core::client_info who{address, &secrets, 1559731985};
  test::query_spec with_cookie = edns;
  with_cookie.options.push_back({10, bytes{1, 2, 3, 4, 5, 6, 7, 8}});
  const bytes cookie_query = test::make_query("api.example.com", with_cookie);
  s.length = core::answer(cookie_query, s.out, transport::udp, s.snap.get(), s.bal, s.info, who);
  with_cookie.options[0].second.assign(s.out.begin() + static_cast<std::ptrdiff_t>(s.length) - 24,
                                       s.out.begin() + static_cast<std::ptrdiff_t>(s.length));
  const bytes valid_query = test::make_query("api.example.com", with_cookie);
  const std::size_t before = loadns::test::allocations();
  for (int i = 0; i < 100; ++i) {
    for (const auto& q : queries) {
      s.raw(q);
      s.raw(q, transport::tcp);
    }
    core::answer(cookie_query, s.out, transport::udp, s.snap.get(), s.bal, s.info, who);
    s.length = core::answer(valid_query, s.out, transport::udp, s.snap.get(), s.bal, s.info, who);
    CHECK(s.info.cookie == guard::cookie_verdict::valid);
    core::truncate_to_question(s.out, s.length, s.info);
  }
  CHECK(loadns::test::allocations() == before);
}

TEST_CASE("UDP and TCP share one ladder: the same bytes whenever nothing is truncated") {
  server s;
  test::query_spec edns;
  edns.edns = true;
  edns.do_bit = true;
  const std::vector<bytes> queries{test::make_query("example.com", of_type(SOA)),
                                   test::make_query("EXAMPLE.com", of_type(NS)),
                                   test::make_query("example.com", of_type(MX)),
                                   test::make_query("nope.example.com", edns),
                                   test::make_query("eu.example.com"),
                                   test::make_query("example.org"),
                                   test::make_query("dangling.example.com", edns),
                                   test::make_query("www.example.com", of_type(CNAME))};
  for (const auto& q : queries) {
    const bytes udp(s.out.begin(), s.out.begin() + static_cast<std::ptrdiff_t>(s.raw(q)));
    const bytes tcp(s.out.begin(),
                    s.out.begin() + static_cast<std::ptrdiff_t>(s.raw(q, transport::tcp)));
    CHECK_FALSE(udp.empty());
    CHECK(udp == tcp);
  }
}

namespace {

/// The example source with api.example.com (IPv4: 192.0.2.1 and .2; IPv6: 2001:db8::1)
/// asking for `min_serving` serving backends per family, and `on_empty` otherwise.
core::source too_few(std::int64_t min_serving, std::string on_empty) {
  core::source src = test::example_source();
  for (auto& svc : src.services) {
    if (svc.name == "api.example.com") {
      svc.min_serving = min_serving;
      svc.on_empty = on_empty;
    }
  }
  return src;
}

}  // namespace

TEST_CASE("on_empty fail_open: too few serve, every enabled backend answers, as a normal answer") {
  auto src = too_few(3, "fail_open");
  server s(src);
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    const auto m = s.ask(std::to_string(i) + "-api.example.com", A);
    CHECK(m.rcode == "NOERROR");
    CHECK(m.aa);
    REQUIRE(m.answer.size() == 1);
    seen.insert(m.answer[0].data);
    CHECK(s.info.mode == core::family_mode::fail_open);
  }
  CHECK(seen == std::set<std::string>{"192.0.2.1", "192.0.2.2"});
}

TEST_CASE("on_empty nodata: NOERROR, no answer, the zone's SOA with the negative TTL") {
  server s(too_few(3, "nodata"));
  for (auto t : {transport::udp, transport::tcp}) {
    for (auto qtype : {A, AAAA, ANY}) {
      CAPTURE(qtype);
      const auto m = s.ask(test::make_query("x1-api.example.com", of_type(qtype)), t);
      CHECK(m.rcode == "NOERROR");
      CHECK(m.aa);
      CHECK(m.answer.empty());
      check_soa_authority(m);  // RFC 2308 3: min(SOA TTL, MINIMUM)
      CHECK(s.info.mode == core::family_mode::nodata);
    }
  }
}

TEST_CASE("on_empty servfail: SERVFAIL with no records") {
  server s(too_few(3, "servfail"));
  for (auto t : {transport::udp, transport::tcp}) {
    for (auto qtype : {A, AAAA}) {
      CAPTURE(qtype);
      const auto m = s.ask(test::make_query("api.example.com", of_type(qtype)), t);
      CHECK(m.rcode == "SERVFAIL");
      CHECK(m.answer.empty());
      CHECK(m.authority.empty());
      CHECK(s.info.rcode == 2);
      CHECK(s.info.mode == core::family_mode::servfail);
    }
  }
  // Only the service's address queries: its other types and other names are unaffected.
  CHECK(s.ask("api.example.com", MX).rcode == "NOERROR");
  CHECK(s.info.mode == core::family_mode::serving);
  CHECK(s.ask("example.com", SOA).rcode == "NOERROR");
  // A CNAME to the service: the chain's last name decides the rcode (RFC 6604 2).
  const auto chained = s.ask("www.example.com", A);
  CHECK(chained.rcode == "SERVFAIL");
  REQUIRE(chained.answer.size() == 1);
  CHECK(chained.answer[0].type == CNAME);
}

TEST_CASE("on_empty applies per family: enough IPv4, too few IPv6") {
  server s(too_few(2, "servfail"));  // two IPv4 backends serve, one IPv6
  const auto a = s.ask("api.example.com", A);
  CHECK(a.rcode == "NOERROR");
  CHECK(a.answer.size() == 1);
  CHECK(s.info.mode == core::family_mode::serving);
  CHECK(s.ask("api.example.com", AAAA).rcode == "SERVFAIL");
}

TEST_CASE("on_empty answers allocate nothing either") {
  server nodata(too_few(3, "nodata"));
  server servfail(too_few(3, "servfail"));
  server panic(too_few(3, "fail_open"));
  const bytes q = test::make_query("api.example.com");
  for (server* s : {&nodata, &servfail, &panic}) s->raw(q);  // warm up
  const std::size_t before = loadns::test::allocations();
  for (int i = 0; i < 100; ++i) {
    for (server* s : {&nodata, &servfail, &panic}) {
      s->raw(q);
      s->raw(q, transport::tcp);
    }
  }
  CHECK(loadns::test::allocations() == before);
}
