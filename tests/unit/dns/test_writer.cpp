#include "server/dns/writer.hpp"

#include <array>

#include <doctest/doctest.h>

using loadns::dns::errc;
using loadns::dns::writer;

TEST_CASE("writer writes network order and patches") {
  std::array<std::uint8_t, 8> b{};
  writer w(b);
  w.u16(0x1234);
  w.u32(0xDEADBEEF);
  w.u8(7);
  w.patch16(0, 0xABCD);
  CHECK(w.ok());
  CHECK(w.pos() == 7);
  CHECK(b[0] == 0xAB);
  CHECK(b[1] == 0xCD);
  CHECK(b[2] == 0xDE);
  CHECK(b[6] == 7);
}

TEST_CASE("writer stops at its limit with a sticky no_space, and rewind undoes") {
  std::array<std::uint8_t, 8> b{};
  writer w(b);
  w.set_limit(5);
  w.u32(1);
  auto mark = w.pos();
  w.u16(2);  // does not fit: nothing written
  CHECK(w.error() == errc::no_space);
  CHECK(w.pos() == 4);
  w.u8(3);  // sticky, although it would fit
  CHECK(w.pos() == 4);
  w.rewind(mark);
  CHECK(w.ok());
  w.u8(3);
  CHECK(w.pos() == 5);
  w.set_limit(100);  // never past the buffer
  CHECK(w.limit() == 8);
}
