#include "agent/count/ip_address.hpp"

#include <doctest/doctest.h>

using loadns::agent::ip_address;
using loadns::agent::ip_family;

TEST_CASE("ip_address parses IPv4 and IPv6 presentation forms") {
  const auto v4 = ip_address::parse("192.0.2.10");
  REQUIRE(v4);
  CHECK(v4->family == ip_family::v4);
  CHECK(v4->bytes[0] == 192);
  CHECK(v4->bytes[3] == 10);
  CHECK(v4->bytes[4] == 0);
  CHECK(v4->to_string() == "192.0.2.10");

  const auto v6 = ip_address::parse("2001:db8::1");
  REQUIRE(v6);
  CHECK(v6->family == ip_family::v6);
  CHECK(v6->bytes[0] == 0x20);
  CHECK(v6->bytes[15] == 1);
  CHECK(v6->to_string() == "2001:db8::1");
}

TEST_CASE("ip_address folds IPv4-mapped IPv6 to IPv4") {
  const auto a = ip_address::parse("::ffff:192.0.2.7");
  REQUIRE(a);
  CHECK(a->family == ip_family::v4);
  CHECK(*a == *ip_address::parse("192.0.2.7"));
}

TEST_CASE("ip_address rejects what is not a bare address") {
  for (const char* bad :
       {"", "192.0.2", "192.0.2.256", "192.0.2.1/24", " 192.0.2.1", "fe80::1%eth0", "example.com",
        "2001:db8:::1", "0123456789012345678901234567890123456789012345678901234567890"}) {
    CAPTURE(bad);
    CHECK_FALSE(ip_address::parse(bad));
  }
}
