#include "server/dns/reader.hpp"

#include <array>

#include <doctest/doctest.h>

using loadns::dns::errc;
using loadns::dns::reader;

TEST_CASE("reader reads network order") {
  const std::array<std::uint8_t, 7> b{0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x7F};
  reader r(b);
  CHECK(r.u16() == 0x1234);
  CHECK(r.u32() == 0xDEADBEEF);
  CHECK(r.u8() == 0x7F);
  CHECK(r.ok());
  CHECK(r.remaining() == 0);
}

TEST_CASE("reader error is sticky: after an overrun every read is zero and the position stays") {
  const std::array<std::uint8_t, 3> b{1, 2, 3};
  reader r(b);
  CHECK(r.u16() == 0x0102);
  CHECK(r.u16() == 0);  // one octet left
  CHECK_FALSE(r.ok());
  CHECK(r.error() == errc::truncated);
  CHECK(r.pos() == 2);
  CHECK(r.u8() == 0);  // even though one octet is there
  CHECK(r.bytes(1).empty());
  CHECK(r.remaining() == 0);
  r.fail(errc::bad_opt);
  CHECK(r.error() == errc::truncated);  // the first cause wins
}

TEST_CASE("reader bytes and skip are bounds checked") {
  const std::array<std::uint8_t, 4> b{1, 2, 3, 4};
  reader r(b, 1);
  auto s = r.bytes(2);
  REQUIRE(s.size() == 2);
  CHECK(s[0] == 2);
  r.skip(2);
  CHECK_FALSE(r.ok());
  reader past(b, 5);
  CHECK_FALSE(past.ok());
}
