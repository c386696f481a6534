#include "server/dns/query.hpp"

#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using bytes = std::vector<std::uint8_t>;
using dns::errc;

namespace {

errc read(const bytes& msg, dns::query& q) {
  return dns::read_query(msg, q);
}

}  // namespace

TEST_CASE("golden: a query as dig 9.18 sends it (RD, AD, EDNS 1232, COOKIE)") {
  const bytes golden{
      0xBE, 0xEF, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // header
      0x03, 'a',  'p',  'i',  0x07, 'e',  'x',  'a',  'm',  'p',  'l',  'e',
      0x03, 'c',  'o',  'm',  0x00, 0x00, 0x01, 0x00, 0x01,              // api.example.com A IN
      0x00, 0x00, 0x29, 0x04, 0xD0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0C,  // OPT
      0x00, 0x0A, 0x00, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,  // COOKIE
  };
  dns::query q;
  REQUIRE(read(golden, q) == errc{});
  CHECK(q.id == 0xBEEF);
  CHECK(q.flags == 0x0120);
  CHECK(q.question_ok);
  CHECK(dns::to_text(q.q.lower_name()) == "api.example.com");
  CHECK(q.q.qtype == 1);
  CHECK(q.q.qclass == 1);
  CHECK(q.opt.present);
  CHECK(q.opt.udp_size == 1232);
  CHECK(q.opt.cookie_length == 8);
  CHECK_FALSE(q.opt.dnssec_ok);

  SUBCASE("cut at every length: an error, never a read past the end") {
    for (std::size_t n = 12; n < golden.size(); ++n) {
      bytes cut(golden.begin(), golden.begin() + static_cast<std::ptrdiff_t>(n));
      dns::query c;
      CAPTURE(n);
      CHECK(read(cut, c) != errc{});
    }
  }
  SUBCASE("trailing octets are an error") {
    bytes longer = golden;
    longer.push_back(0);
    CHECK(read(longer, q) == errc::trailing_data);
  }
}

TEST_CASE("QDCOUNT must be 1 (RFC 9619)") {
  bytes msg = test::make_query("example.com");
  msg[5] = 0;
  dns::query q;
  CHECK(read(msg, q) == errc::bad_qdcount);
  CHECK_FALSE(q.question_ok);
  msg[5] = 2;
  CHECK(read(msg, q) == errc::bad_qdcount);
}

TEST_CASE("one OPT at most, owned by the root (RFC 6891 6.1.1)") {
  test::query_spec o;
  o.edns = true;
  bytes msg = test::make_query("example.com", o);
  const bytes opt(msg.end() - 11, msg.end());
  bytes twice = msg;
  twice.insert(twice.end(), opt.begin(), opt.end());
  twice[11] = 2;
  dns::query q;
  CHECK(read(twice, q) == errc::duplicate_opt);
  CHECK(q.question_ok);

  bytes owned = test::make_query("example.com");
  owned[11] = 1;
  const bytes named_opt{1, 'x', 0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0};
  owned.insert(owned.end(), named_opt.begin(), named_opt.end());
  CHECK(read(owned, q) == errc::bad_opt);
}

TEST_CASE("other records are walked, compressed names included, and ignored") {
  bytes msg = test::make_query("example.com");
  msg[7] = 1;   // ANCOUNT
  msg[11] = 1;  // ARCOUNT
  // answer: pointer to the question name, A, IN, TTL, 4 octets
  const bytes an{0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
  // additional: a TSIG-like record at the root, type 250, ignored
  const bytes ar{0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 0xAB, 0xCD};
  msg.insert(msg.end(), an.begin(), an.end());
  msg.insert(msg.end(), ar.begin(), ar.end());
  dns::query q;
  CHECK(read(msg, q) == errc{});
  CHECK_FALSE(q.opt.present);
  msg.pop_back();
  CHECK(read(msg, q) == errc::truncated);
}

TEST_CASE("a question with a pointer is broken") {
  bytes msg{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
  dns::query q;
  CHECK(read(msg, q) == errc::compression_in_question);
}
