#pragma once
// The hash of the guard's tables (the rate limiter's buckets): a keyed folded-multiply hash
// in the manner of wyhash and rapidhash. Each step multiplies two 64-bit words, each mixed
// with a key word, to 128 bits and folds the halves together with xor; the key is random per
// process, so a spoofing attacker who does not know it cannot choose sources or names that
// meet in one slot. It is not a PRF and claims nothing beyond that: what needs one (the DNS
// server cookie, RFC 9018) keeps SipHash-2-4. About a tenth of SipHash-2-4's instructions for
// a query name, which the limiter pays on every UDP answer.
//
// Names are hashed case-insensitively (RFC 4343): ASCII letters are folded a word at a time
// as they are read, so the caller's bytes are neither copied nor changed.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace loadns::guard {

/// 128 bits of the product of `a` and `b`, the high half folded onto the low one with xor.
/// (GCC and Clang on 64-bit targets: one mul instruction on x86-64, mul and umulh on AArch64.)
__extension__ using uint128 = unsigned __int128;  // __extension__: not ISO C++, -Wpedantic
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
  const uint128 p = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
}

/// Every octet of `x` in 'A'..'Z' made lower case, the others unchanged (SWAR: eight at once).
inline std::uint64_t fold_ascii_case(std::uint64_t x) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t low7 = x & ~highs;
  const std::uint64_t above_z = low7 + ones * (0x7F - 'Z');  // high bit: low7 > 'Z'
  const std::uint64_t from_a = low7 + ones * (0x80 - 'A');   // high bit: low7 >= 'A'
  const std::uint64_t upper = (from_a ^ above_z) & ~x & highs;
  return x | (upper >> 2);  // 0x80 >> 2 = 0x20, the case bit
}

class table_hash {
 public:
  using key_type = std::array<std::uint64_t, 4>;

  /// `key`: random per process where the network chooses what goes in the table (the rate
  /// limiter: an attacker must not know it); fixed where only the operator does and queries
  /// only look up (core::zone_index).
  explicit constexpr table_hash(const key_type& key) noexcept : k_(key) {}

  /// Hash of two words (what the caller packs into them: a source network, an rcode) and a
  /// name whose ASCII letters count as lower case. `name` is read only within its bounds.
  std::uint64_t operator()(std::uint64_t a, std::uint64_t b,
                           std::span<const std::uint8_t> name) const noexcept {
    return hash<true>(a, b, name);
  }
  /// The same for a name the caller knows is lower case already (skips the folding; equal
  /// to operator() on such a name).
  std::uint64_t lower(std::uint64_t a, std::uint64_t b,
                      std::span<const std::uint8_t> name) const noexcept {
    return hash<false>(a, b, name);
  }

 private:
  template <bool fold>
  static std::uint64_t maybe_fold(std::uint64_t x) noexcept {
    if constexpr (fold) {
      return fold_ascii_case(x);
    } else {
      return x;
    }
  }

  template <bool fold>
  std::uint64_t hash(std::uint64_t a, std::uint64_t b,
                     std::span<const std::uint8_t> name) const noexcept {
    const std::uint8_t* p = name.data();
    std::size_t n = name.size();
    std::uint64_t h = fold_multiply(a ^ k_[0], b ^ k_[1] ^ n);
    for (; n > 16; n -= 16, p += 16) {
      h = fold_multiply(maybe_fold<fold>(load8(p)) ^ k_[2], maybe_fold<fold>(load8(p + 8)) ^ h);
    }
    // The last 1..16 octets (the reads may overlap the words above, never go past the end).
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    if (n > 8) {
      x = load8(p);
      y = load8(p + n - 8);
    } else if (n >= 4) {
      x = (std::uint64_t{load4(p)} << 32) | load4(p + n - 4);
    } else if (n > 0) {
      x = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[n >> 1]} << 8) | p[n - 1];
    }
    h = fold_multiply(maybe_fold<fold>(x) ^ k_[2], maybe_fold<fold>(y) ^ h ^ k_[3]);
    return fold_multiply(h ^ k_[0], k_[3] ^ name.size());
  }

  static std::uint64_t load8(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::uint32_t load4(const std::uint8_t* p) noexcept {
    std::uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
  }

  key_type k_;
};

}  // namespace loadns::guard
