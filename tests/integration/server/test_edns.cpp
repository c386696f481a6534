// EDNS(0) (RFC 6891) and message size limits, end to end over UDP and TCP.

#include <string>

#include "tests/integration/server/environment.hpp"

namespace {

using loadns::test::both_transports;
using loadns::test::dig;
using loadns::test::exchange;
using loadns::test::make_query;
using loadns::test::parse_header;
using loadns::test::query_spec;
using loadns::test::to_string;
using loadns::test::transport;
using loadns::test::e2e::port;

}  // namespace

TEST_CASE("an EDNS query gets OPT back: version 0, 1232 advertised") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "api.example.com", "A", {"+edns=0", "+bufsize=4096"}).response();
    r.check_rcode("NOERROR");
    CHECK_MESSAGE(r.edns, r.text);
    CHECK(r.edns_version == 0);
    CHECK_MESSAGE(r.edns_udp == 1232, r.text);
    CHECK_MESSAGE(!r.edns_flag("do"), r.text);
    CHECK(r.answer.size() == 1);
  }
}

TEST_CASE("no OPT in the query, none in the answer") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "api.example.com", "A", {"+noedns"}).response();
    r.check_rcode("NOERROR");
    CHECK_MESSAGE(!r.edns, r.text);
    CHECK(r.arcount == 0);
  }
}

TEST_CASE("EDNS version 1 gets BADVERS with an OPT of version 0 (RFC 6891 6.1.3)") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r =
        dig(port(), t, "api.example.com", "A", {"+edns=1", "+noednsnegotiation"}).response();
    r.check_rcode("BADVERS");
    CHECK_MESSAGE(r.edns, r.text);
    CHECK_MESSAGE(r.edns_version == 0, r.text);
    CHECK_MESSAGE(r.answer.empty(), r.text);
    CHECK(!r.flag("ra"));
  }
}

TEST_CASE("the DO bit is copied (RFC 3225 3)") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    for (const std::string name : {"api.example.com", "nothere.example.com", "www.example.com"}) {
      INFO(name);
      const auto with = dig(port(), t, name, "A", {"+dnssec"}).response();
      CHECK_MESSAGE(with.edns_flag("do"), with.text);
      const auto without = dig(port(), t, name, "A", {"+nodnssec"}).response();
      CHECK_MESSAGE(!without.edns_flag("do"), without.text);
    }
  }
}

TEST_CASE("unknown EDNS options are ignored and undefined EDNS flags cleared") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "k3j9x.api.example.com", "A",
                       {"+ednsopt=65001:c0ffee", "+ednsopt=65002", "+ednsflags=0x7fff"})
                       .response();
    r.check_rcode("NOERROR");
    CHECK(r.answer.size() == 1);
    CHECK_MESSAGE(r.edns, r.text);
    CHECK_MESSAGE(r.edns_mbz.empty(), "undefined EDNS flags must be cleared\n" << r.text);
    CHECK_MESSAGE(!r.edns_flag("do"), r.text);
  }
}

TEST_CASE("a big answer is truncated over UDP without EDNS and whole over TCP") {
  // 40 A records of 16 octets each: 673 octets, over 512 (RFC 1035 4.2.1).
  const auto udp = dig(port(), transport::udp, "big.example.com", "A", {"+noedns", "+ignore"});
  const auto u = udp.response();
  CHECK_MESSAGE(u.flag("tc"), u.text);
  CHECK_MESSAGE(u.msg_size <= 512, u.text);
  CHECK(u.flag("aa"));
  CHECK(u.status == "NOERROR");

  const auto tcp = dig(port(), transport::tcp, "big.example.com", "A", {"+noedns"}).response();
  tcp.check_rcode("NOERROR");
  CHECK_MESSAGE(!tcp.flag("tc"), tcp.text);
  CHECK_MESSAGE(tcp.answer.size() == 40, tcp.text);

  // With EDNS the client allows 1232 octets, and it fits.
  const auto edns =
      dig(port(), transport::udp, "big.example.com", "A", {"+bufsize=1232"}).response();
  edns.check_rcode("NOERROR");
  CHECK_MESSAGE(!edns.flag("tc"), edns.text);
  CHECK_MESSAGE(edns.answer.size() == 40, edns.text);

  // An EDNS client asking for less than 512 is held to 512 (RFC 6891 6.2.5).
  const auto small =
      dig(port(), transport::udp, "big.example.com", "A", {"+bufsize=300", "+ignore"}).response();
  CHECK_MESSAGE(small.flag("tc"), small.text);
  CHECK_MESSAGE(small.msg_size <= 512, small.text);

  // dig, like any resolver, retries over TCP on TC and gets all of it.
  const auto retried = dig(port(), transport::udp, "big.example.com", "A", {"+noedns"});
  CHECK_MESSAGE(retried.output.find("Truncated, retrying in TCP mode") != std::string::npos,
                retried.output);
  REQUIRE(retried.responses.size() >= 1);
  CHECK(retried.responses.back().answer.size() == 40);
}

TEST_CASE("a truncated UDP answer keeps the question and header (RFC 2181 9)") {
  query_spec q;
  q.name = "big.example.com";
  q.id = 0xbeef;
  const auto bytes = make_query(q);
  const auto reply = exchange(port(), transport::udp, bytes);
  REQUIRE(reply.has_value());
  CHECK(reply->size() <= 512);
  const auto h = parse_header(*reply);
  REQUIRE(h.has_value());
  CHECK(h->id == 0xbeef);
  CHECK(h->qr);
  CHECK(h->tc);
  CHECK(h->aa);
  CHECK(h->qdcount == 1);
}
