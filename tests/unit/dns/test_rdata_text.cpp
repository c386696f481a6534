#include "server/dns/rdata_text.hpp"

#include <doctest/doctest.h>

#include "server/dns/name.hpp"

using namespace loadns;

TEST_CASE("record data in presentation form renders to wire RDATA") {
  std::uint16_t type = 0;
  std::vector<std::uint8_t> rd;
  std::string error;
  REQUIRE(dns::rdata_from_text("a", " 192.0.2.7 ", type, rd, error));
  CHECK(type == 1);
  CHECK(rd == std::vector<std::uint8_t>{192, 0, 2, 7});
  REQUIRE(dns::rdata_from_text("AAAA", "2001:db8::1", type, rd, error));
  CHECK(rd.size() == 16);
  REQUIRE(dns::rdata_from_text("CNAME", "Target.Example.com.", type, rd, error));
  CHECK(dns::to_text(rd) == "target.example.com");
  REQUIRE(dns::rdata_from_text("MX", "20   mx.example.com", type, rd, error));
  CHECK(rd[1] == 20);
  CHECK_FALSE(dns::rdata_from_text("MX", "70000 mx.example.com", type, rd, error));
  REQUIRE(dns::rdata_from_text("TXT", "v=spf1 include:example.com -all", type, rd, error));
  CHECK(rd.size() == 32);  // one string, not split at spaces
  REQUIRE(dns::rdata_from_text("TXT", "\"a b\" \"c\\\"d\" \"\\065\"", type, rd, error));
  CHECK(rd == std::vector<std::uint8_t>{3, 'a', ' ', 'b', 3, 'c', '"', 'd', 1, 'A'});
  REQUIRE(dns::rdata_from_text("TXT", std::string(300, 'x'), type, rd, error));
  CHECK(rd.size() == 302);  // 255 + 45, each with its length octet
  CHECK_FALSE(dns::rdata_from_text("TXT", "\"" + std::string(256, 'x') + "\"", type, rd, error));
  CHECK_FALSE(dns::rdata_from_text("TXT", "\"a\" b", type, rd, error));
  REQUIRE(dns::rdata_from_text("TXT", "", type, rd, error));
  CHECK(rd == std::vector<std::uint8_t>{0});
}

TEST_CASE("addresses as PostgreSQL prints an inet: a host mask is accepted, a network is not") {
  bool v6 = true;
  std::array<std::uint8_t, 16> bytes{};
  REQUIRE(dns::address_from_text(" 192.0.2.7 ", v6, bytes));
  CHECK_FALSE(v6);
  CHECK(bytes[3] == 7);
  REQUIRE(dns::address_from_text("2001:db8::1/128", v6, bytes));
  CHECK(v6);
  CHECK(bytes[15] == 1);
  CHECK(dns::address_from_text("192.0.2.7/32", v6, bytes));
  CHECK_FALSE(dns::address_from_text("192.0.2.0/24", v6, bytes));
  CHECK_FALSE(dns::address_from_text("192.0.2.300", v6, bytes));
}

TEST_CASE("names from text: the root and invalid names are refused") {
  std::vector<std::uint8_t> wire;
  REQUIRE(dns::name_from_text("api.example.com.", wire));
  CHECK(wire.size() == 17);
  CHECK_FALSE(dns::name_from_text(".", wire));
  CHECK_FALSE(dns::name_from_text("a..b", wire));
}
