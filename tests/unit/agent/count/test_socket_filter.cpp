#include "agent/count/socket_filter.hpp"

#include <doctest/doctest.h>

using namespace loadns::agent;

namespace {
std::array<std::uint8_t, 16> bytes_of(const char* text) {
  return ip_address::parse(text)->bytes;
}
std::array<std::uint8_t, 16> mapped(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                                    std::uint8_t d) {
  return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}
}  // namespace

TEST_CASE("socket_filter matches any of its ports on any address") {
  const socket_filter f{{443, 8080}, std::nullopt};
  CHECK(f.matches(ip_family::v4, 443, bytes_of("192.0.2.1")));
  CHECK(f.matches(ip_family::v6, 8080, bytes_of("2001:db8::1")));
  CHECK_FALSE(f.matches(ip_family::v4, 80, bytes_of("192.0.2.1")));
}

TEST_CASE("socket_filter with a local IPv4 address") {
  const socket_filter f{{443}, ip_address::parse("192.0.2.1")};
  CHECK(f.matches(ip_family::v4, 443, bytes_of("192.0.2.1")));
  CHECK_FALSE(f.matches(ip_family::v4, 443, bytes_of("192.0.2.2")));
  CHECK_FALSE(f.matches(ip_family::v4, 444, bytes_of("192.0.2.1")));
  // A v4 client accepted by a dual-stack listener: an IPv6 socket with a mapped address.
  CHECK(f.matches(ip_family::v6, 443, mapped(192, 0, 2, 1)));
  CHECK_FALSE(f.matches(ip_family::v6, 443, mapped(192, 0, 2, 2)));
  CHECK_FALSE(f.matches(ip_family::v6, 443, bytes_of("2001:db8::1")));
}

TEST_CASE("socket_filter with a local IPv6 address") {
  const socket_filter f{{443}, ip_address::parse("2001:db8::1")};
  CHECK(f.matches(ip_family::v6, 443, bytes_of("2001:db8::1")));
  CHECK_FALSE(f.matches(ip_family::v6, 443, bytes_of("2001:db8::2")));
  CHECK_FALSE(f.matches(ip_family::v4, 443, bytes_of("192.0.2.1")));
}
