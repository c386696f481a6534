#include "server/guard/siphash.hpp"

#include <doctest/doctest.h>

#include <array>
#include <numeric>
#include <vector>

using namespace loadns::guard;

namespace {

siphash_key reference_key() {
  siphash_key k{};
  std::iota(k.begin(), k.end(), std::uint8_t{0});  // 00 01 .. 0f, as in the paper
  return k;
}

std::vector<std::uint8_t> counting(std::size_t n) {
  std::vector<std::uint8_t> m(n);
  std::iota(m.begin(), m.end(), std::uint8_t{0});
  return m;
}

}  // namespace

TEST_CASE("SipHash-2-4 gives the reference vectors (key 00..0f, message 00..n-1)") {
  const auto k = reference_key();
  // The paper's appendix A example (15 octets) and the reference implementation's table.
  CHECK(siphash24(k, counting(0)) == 0x726fdb47dd0e0e31ULL);
  CHECK(siphash24(k, counting(1)) == 0x74f839c593dc67fdULL);
  CHECK(siphash24(k, counting(8)) == 0x93f5f5799a932462ULL);
  CHECK(siphash24(k, counting(15)) == 0xa129ca6149be45e5ULL);
  CHECK(siphash24(k, counting(63)) == 0x958a324ceb064572ULL);
}

TEST_CASE("SipHash-2-4 over parts equals the hash of their concatenation, at every cut") {
  const auto k = reference_key();
  const auto m = counting(40);
  const std::span<const std::uint8_t> all(m);
  for (std::size_t a = 0; a <= m.size(); ++a) {
    for (std::size_t b = a; b <= m.size(); b += 3) {
      const std::array<std::span<const std::uint8_t>, 3> parts{all.first(a), all.subspan(a, b - a),
                                                               all.subspan(b)};
      CHECK(siphash24(k, parts) == siphash24(k, all));
    }
  }
}

TEST_CASE("SipHash-2-4 reads unaligned input the same") {
  const auto k = reference_key();
  std::vector<std::uint8_t> shifted(64);
  for (std::size_t i = 0; i < 63; ++i) shifted[i + 1] = static_cast<std::uint8_t>(i);
  CHECK(siphash24(k, std::span(shifted).subspan(1)) == 0x958a324ceb064572ULL);
}
