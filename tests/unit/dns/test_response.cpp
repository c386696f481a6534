#include "server/dns/response.hpp"

#include <vector>

#include <doctest/doctest.h>

#include "server/dns/header.hpp"
#include "server/dns/query.hpp"
#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using bytes = std::vector<std::uint8_t>;
using dns::section;

namespace {

struct fixture {
  bytes query_msg;
  dns::query q;
  bytes out = bytes(65535);

  explicit fixture(std::string_view name = "Api.EXAMPLE.com", std::uint16_t qtype = 1) {
    test::query_spec o;
    o.type = qtype;
    o.rd = true;  // set, to see start() copy it
    query_msg = test::make_query(name, o);
    REQUIRE(dns::read_query(query_msg, q) == dns::errc{});
  }
  dns::response start(std::size_t limit = 512) {
    dns::response r(out, limit);
    REQUIRE(r.start(q.id, q.flags));
    REQUIRE(r.put_question(q.q));
    return r;
  }
  test::message parsed(std::size_t length) {
    return test::parse(std::span<const std::uint8_t>(out).first(length));
  }
};

const bytes a_192_0_2_1{192, 0, 2, 1};

}  // namespace

TEST_CASE("golden: one A record owned by the question, RD copied, AA set") {
  fixture f;
  auto r = f.start();
  r.set_flags(dns::header::aa);
  REQUIRE(r.add_at_question(section::answer, 1, 60, a_192_0_2_1));
  const std::size_t n = r.finish();
  const bytes golden{
      0x12, 0x34, 0x85, 0x00, 0, 1,   0,   1,   0,   0,   0,   0,  // header
      3,    'A',  'p',  'i',  7, 'E', 'X', 'A', 'M', 'P', 'L', 'E', 3,   'c', 'o', 'm',
      0,    0,    1,    0,    1,                                                       // question
      0xC0, 0x0C, 0,    1,    0, 1,   0,   0,   0,   60,  0,   4,   192, 0,   2,   1,  // answer
  };
  CHECK(bytes(f.out.begin(), f.out.begin() + static_cast<std::ptrdiff_t>(n)) == golden);
}

TEST_CASE("round trip: every section, compression of owners and RDATA names") {
  fixture f("www.example.com", 2);
  auto r = f.start(1232);
  r.set_edns({1232, 0, true});
  const auto apex = test::wire_name("example.com");
  const auto ns1 = test::wire_name("ns1.example.com");
  const auto ns2 = test::wire_name("ns2.example.net");
  REQUIRE(r.add(section::answer, apex, 2, 3600, ns1));
  REQUIRE(r.add(section::answer, apex, 2, 3600, ns2));
  bytes soa = test::wire_name("ns1.example.com");
  auto rname = test::wire_name("hostmaster.example.com");
  soa.insert(soa.end(), rname.begin(), rname.end());
  for (int i = 0; i < 20; ++i) soa.push_back(static_cast<std::uint8_t>(i == 3 ? 7 : 0));
  REQUIRE(r.add(section::authority, apex, 6, 300, soa));
  bytes mx{0, 10};
  auto mail = test::wire_name("mail.example.com");
  mx.insert(mx.end(), mail.begin(), mail.end());
  REQUIRE(r.add(section::additional, apex, 15, 300, mx));
  REQUIRE(r.add(section::additional, ns1, 1, 3600, a_192_0_2_1));
  const std::size_t n = r.finish();
  auto m = f.parsed(n);
  REQUIRE(m.ok);
  CHECK(m.qr);
  CHECK(m.rd);
  CHECK(m.rcode == "NOERROR");
  REQUIRE(m.answer.size() == 2);
  CHECK(m.answer[0].owner == "example.com");
  CHECK(m.answer[0].data == "ns1.example.com");
  CHECK(m.answer[1].data == "ns2.example.net");
  REQUIRE(m.authority.size() == 1);
  CHECK(m.authority[0].data == "ns1.example.com hostmaster.example.com 7 0 0 0 0");
  REQUIRE(m.additional.size() == 2);
  CHECK(m.additional[0].data == "10 mail.example.com");
  CHECK(m.additional[1].owner == "ns1.example.com");
  CHECK(m.additional[1].data == "192.0.2.1");
  CHECK(m.edns);
  CHECK(m.dnssec_ok);
  // The apex owner is a pointer into the question: 2 octets, not 13.
  const std::size_t question_end = 12 + 17 + 4;
  CHECK(f.out[question_end] == 0xC0);
  CHECK(f.out[question_end + 1] == 12 + 4);
  // Compression saved space: ns1.example.com as "ns1" + pointer, the SOA's mname as one
  // pointer, and the additional owner as one pointer.
  CHECK(n < 200);
}

TEST_CASE("a record that does not fit writes nothing; rollback undoes a section") {
  fixture f;
  auto r = f.start(12 + 21 + 16 + 10);
  auto mark = r.get_mark();
  CHECK(r.add_at_question(section::answer, 1, 60, a_192_0_2_1));
  CHECK_FALSE(r.add_at_question(section::answer, 1, 60, a_192_0_2_1));
  CHECK(r.count(section::answer) == 1);
  r.rollback(mark);
  r.set_flags(dns::header::tc);
  auto m = f.parsed(r.finish());
  REQUIRE(m.ok);
  CHECK(m.tc);
  CHECK(m.answer.empty());
  CHECK(m.size == 12 + 21);
}

TEST_CASE("the OPT record keeps its room and carries the extended RCODE") {
  fixture f;
  auto r = f.start(12 + 21 + 16 + 11);
  r.set_edns({1232, 0, false});
  // 27 octets left minus 11 for OPT: one A record (16) fits, no second.
  CHECK(r.add_at_question(section::answer, 1, 60, a_192_0_2_1));
  CHECK_FALSE(r.add_at_question(section::answer, 1, 60, a_192_0_2_1));
  r.set_rcode(dns::rcode::badvers);
  auto m = f.parsed(r.finish());
  REQUIRE(m.ok);
  CHECK(m.edns);
  CHECK(m.rcode == "BADVERS");
  CHECK(m.udp_size == 1232);
  CHECK(m.answer.size() == 1);
}
