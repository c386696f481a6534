#include "server/dns/question.hpp"

#include <doctest/doctest.h>

#include "tests/unit/dns/packet.hpp"

using namespace loadns;

TEST_CASE("question keeps the name as sent and a lower-case copy") {
  auto msg = test::wire_name("WwW.ExAmPlE.cOm");
  msg.insert(msg.end(), {0x00, 0x1C, 0x00, 0x01});
  dns::reader r(msg);
  dns::question q;
  REQUIRE(dns::read_question(r, q));
  CHECK(q.qtype == 28);
  CHECK(q.qclass == 1);
  CHECK(q.wire.size() == 17);
  CHECK(q.wire[1] == 'W');
  CHECK(dns::to_text(q.lower_name()) == "www.example.com");
  CHECK(q.lower_key().size() == 17);
}

TEST_CASE("question without type and class is truncated") {
  auto msg = test::wire_name("example.com");
  msg.push_back(0);
  dns::reader r(msg);
  dns::question q;
  CHECK_FALSE(dns::read_question(r, q));
  CHECK(r.error() == dns::errc::truncated);
}
