// Tests client/endpoint.cpp.
#include "client/endpoint.hpp"

#include <doctest/doctest.h>

using namespace loadns::client;

TEST_CASE("parse_endpoint: IPv4 and bracketed IPv6 with ports") {
  auto e = parse_endpoint("192.0.2.1:7000");
  REQUIRE(e);
  CHECK(to_string(*e) == "192.0.2.1:7000");
  e = parse_endpoint("[2001:db8::1]:53");
  REQUIRE(e);
  CHECK(to_string(*e) == "[2001:db8::1]:53");
}

TEST_CASE("parse_endpoint: default port") {
  CHECK(to_string(*parse_endpoint("192.0.2.1", 7000)) == "192.0.2.1:7000");
  CHECK(to_string(*parse_endpoint("2001:db8::1", 7000)) == "[2001:db8::1]:7000");
  CHECK(to_string(*parse_endpoint("[2001:db8::1]", 7000)) == "[2001:db8::1]:7000");
  CHECK_FALSE(parse_endpoint("192.0.2.1"));
}

TEST_CASE("parse_endpoint: malformed") {
  CHECK_FALSE(parse_endpoint(""));
  CHECK_FALSE(parse_endpoint("192.0.2.1:"));
  CHECK_FALSE(parse_endpoint("192.0.2.1:65536"));
  CHECK_FALSE(parse_endpoint("192.0.2.1:7x"));
  CHECK_FALSE(parse_endpoint("example.com:53"));
  CHECK_FALSE(parse_endpoint("[2001:db8::1]53"));
  CHECK_FALSE(parse_endpoint("[2001:db8::1"));
  CHECK_FALSE(parse_endpoint("192.0.2.300:53"));
}
