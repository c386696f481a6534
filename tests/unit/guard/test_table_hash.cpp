#include "server/guard/table_hash.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <vector>

using namespace loadns::guard;

namespace {

constexpr table_hash::key_type key_a{0x0123456789abcdefULL, 0xfedcba9876543210ULL,
                                     0x0f1e2d3c4b5a6978ULL, 0x8796a5b4c3d2e1f0ULL};
constexpr table_hash::key_type key_b{0x0123456789abcdefULL, 0xfedcba9876543210ULL,
                                     0x0f1e2d3c4b5a6978ULL, 0x8796a5b4c3d2e1f1ULL};

std::uint8_t lower(std::uint8_t b) {
  return (b >= 'A' && b <= 'Z') ? static_cast<std::uint8_t>(b + ('a' - 'A')) : b;
}

/// `bytes` copied to the very end of a heap block of their size, so that a read past the
/// span's end leaves the block (AddressSanitizer builds report it).
std::unique_ptr<std::uint8_t[]> at_end(const std::vector<std::uint8_t>& bytes) {
  auto block = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(bytes.size(), 1));
  if (!bytes.empty()) std::memcpy(block.get(), bytes.data(), bytes.size());
  return block;
}

}  // namespace

TEST_CASE("fold_ascii_case lowers A-Z and only A-Z, in every octet of a word") {
  for (unsigned b = 0; b < 256; ++b) {
    for (unsigned lane = 0; lane < 8; ++lane) {
      // The octet under test in one lane, neighbours that are letters and non-letters.
      std::uint8_t in[8] = {'Q', '@', '[', 'z', 0xC1, 'a', 'Z', '`'};
      in[lane] = static_cast<std::uint8_t>(b);
      std::uint64_t w = 0;
      std::memcpy(&w, in, 8);
      const std::uint64_t folded = fold_ascii_case(w);
      std::uint8_t out[8];
      std::memcpy(out, &folded, 8);
      for (unsigned i = 0; i < 8; ++i) REQUIRE(out[i] == lower(in[i]));
    }
  }
}

TEST_CASE("fold_multiply folds the 128-bit product's halves") {
  CHECK(fold_multiply(0, 12345) == 0);
  CHECK(fold_multiply(1, 12345) == 12345);
  CHECK(fold_multiply(std::uint64_t{1} << 63, 2) == 1);  // 2^64: high half 1, low 0
  CHECK(fold_multiply(~std::uint64_t{0}, ~std::uint64_t{0}) ==
        (1 ^ 0xFFFFFFFFFFFFFFFEULL));  // (2^64-1)^2 = 2^128 - 2^65 + 1
}

TEST_CASE("names hash alike in any case, at every length from 0 to 300 octets") {
  const table_hash h(key_a);
  std::mt19937_64 rng(7);
  for (std::size_t n = 0; n <= 300; ++n) {
    std::vector<std::uint8_t> name(n);
    for (auto& b : name) b = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> folded = name;
    std::transform(folded.begin(), folded.end(), folded.begin(), lower);
    const auto a = at_end(name);
    const auto b = at_end(folded);
    CAPTURE(n);
    CHECK(h(4, 0, std::span<const std::uint8_t>(a.get(), n)) ==
          h(4, 0, std::span<const std::uint8_t>(b.get(), n)));
    // A name known to be lower case hashes alike without the folding.
    CHECK(h.lower(4, 0, std::span<const std::uint8_t>(b.get(), n)) ==
          h(4, 0, std::span<const std::uint8_t>(a.get(), n)));
  }
}

TEST_CASE("every input counts: the words, each octet of the name, its length, the key") {
  const table_hash h(key_a);
  std::mt19937_64 rng(11);
  for (std::size_t n = 1; n <= 64; ++n) {
    std::vector<std::uint8_t> name(n);
    for (auto& b : name) b = static_cast<std::uint8_t>('a' + rng() % 26);
    const std::uint64_t base = h(0x00020100c0000004ULL, 3, name);
    CAPTURE(n);
    CHECK(base != h(0x00020100c0000104ULL, 3, name));  // another /24
    CHECK(base != h(0x00020100c0000004ULL, 0, name));  // another rcode
    CHECK(base != table_hash(key_b)(0x00020100c0000004ULL, 3, name));
    CHECK(base != h(0x00020100c0000004ULL, 3, std::span(name).first(n - 1)));
    for (std::size_t i = 0; i < n; ++i) {
      auto other = name;
      other[i] = static_cast<std::uint8_t>(other[i] == 'z' ? 'y' : other[i] + 1);
      CAPTURE(i);
      CHECK(base != h(0x00020100c0000004ULL, 3, other));
    }
  }
  // Zero-padded forms of a short name differ from it (the length is hashed).
  const std::vector<std::uint8_t> one = {'a'};
  const std::vector<std::uint8_t> padded = {'a', 0};
  CHECK(h(4, 0, one) != h(4, 0, padded));
}

TEST_CASE("sources of one name spread evenly over a table's slots") {
  // 2^16 consecutive /24 networks asking about one name, into 2^16 slots: a uniform hash
  // fills about 1 - 1/e = 63% of them and no slot gets many (Poisson(1): P(>= 10) ~ 1e-7).
  const table_hash h(key_a);
  const std::vector<std::uint8_t> name = {3,   'w', 'w', 'w', 7,   'e', 'x', 'a', 'm',
                                          'p', 'l', 'e', 3,   'c', 'o', 'm', 0};
  constexpr std::size_t slots = 1 << 16;
  std::vector<unsigned> low(slots), middle(slots);
  for (std::uint64_t net = 0; net < slots; ++net) {
    const std::uint64_t v = h(net << 8 | 4, 0, name);
    ++low[v & (slots - 1)];
    ++middle[(v >> 24) & (slots - 1)];
  }
  for (const auto* table : {&low, &middle}) {
    const auto used = static_cast<std::size_t>(
        std::count_if(table->begin(), table->end(), [](unsigned c) { return c != 0; }));
    CHECK(used > slots * 60 / 100);
    CHECK(used < slots * 66 / 100);
    CHECK(*std::max_element(table->begin(), table->end()) < 12);
  }
  // The tag (the top 16 bits) too: few of 4,096 sources share one.
  std::set<std::uint64_t> tags;
  for (std::uint64_t net = 0; net < 4096; ++net) tags.insert(h(net << 8 | 4, 0, name) >> 48);
  CHECK(tags.size() > 3900);
}
