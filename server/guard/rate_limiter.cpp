#include "server/guard/rate_limiter.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace loadns::guard {
namespace {

// A slot: the top 16 bits tell keys apart (the rest of the hash chose the slot), the low 48
// bits hold the bucket's theoretical arrival time (the GCRA form of a token bucket, as in
// RFC 2697's meters): the instant its debt is paid off, in microseconds. An empty bucket is one
// whose time lies `tolerance` ahead of now. 2^48 microseconds is almost nine years.
constexpr unsigned tag_shift = 48;
constexpr std::uint64_t time_mask = (std::uint64_t{1} << tag_shift) - 1;

constexpr std::size_t ipv4_prefix = 3;  // /24
constexpr std::size_t ipv6_prefix = 7;  // /56

/// The table hash's four key words, drawn from the limiter's 128-bit key with SipHash (once).
table_hash::key_type table_key_of(const siphash_key& key) noexcept {
  table_hash::key_type k{};
  for (std::size_t i = 0; i < k.size(); ++i) {
    const std::array<std::uint8_t, 1> index{static_cast<std::uint8_t>(i)};
    k[i] = siphash24(key, index);
  }
  return k;
}

}  // namespace

source_network network_of(std::span<const std::uint8_t> address) noexcept {
  source_network n;
  const bool v4 = address.size() == 4;
  n.octets[0] = v4 ? 4 : 6;
  const std::size_t keep = std::min(v4 ? ipv4_prefix : ipv6_prefix, address.size());
  std::copy_n(address.begin(), keep, n.octets.begin() + 1);
  return n;
}

rate_limiter::rate_limiter(unsigned rate, std::size_t slots, const siphash_key& key)
    : rate_(std::max(rate, 1U)),
      interval_us_(1'000'000 / rate_),
      tolerance_us_(1'000'000 - interval_us_),
      mask_(std::bit_ceil(std::max<std::size_t>(slots, 2)) - 1),
      hash_(table_key_of(key)),
      slots_(std::make_unique<std::atomic<std::uint64_t>[]>(mask_ + 1)) {}

inline std::uint64_t rate_limiter::key_hash(std::span<const std::uint8_t> address,
                                            const response_class& c) const noexcept {
  // The source network as one word, octet for octet what network_of() writes (4 or 6, then
  // the /24 or /56 prefix; little-endian loads), read straight from the address.
  std::uint64_t net = 0;
  if (address.size() == 4) {
    std::uint32_t v4 = 0;
    std::memcpy(&v4, address.data(), sizeof v4);
    net = std::uint64_t{v4 & 0x00FF'FFFFU} << 8 | 4;
  } else if (address.size() >= 8) {
    std::uint64_t v6 = 0;
    std::memcpy(&v6, address.data(), sizeof v6);
    net = (v6 & 0x00FF'FFFF'FFFF'FFFFULL) << 8 | 6;
  } else {
    std::memcpy(&net, network_of(address).octets.data(), sizeof net);
  }
  return c.lower ? hash_.lower(net, c.rcode, c.name) : hash_(net, c.rcode, c.name);
}

bool rate_limiter::allow(std::span<const std::uint8_t> address, const response_class& c,
                         std::uint64_t now_us) noexcept {
  const std::uint64_t h = key_hash(address, c);
  const std::uint64_t tag = h >> tag_shift;
  now_us &= time_mask;
  std::atomic<std::uint64_t>* const candidates[2] = {&slots_[h & mask_],
                                                     &slots_[(h >> 24) & mask_]};
  for (;;) {
    std::uint64_t old[2] = {candidates[0]->load(std::memory_order_relaxed),
                            candidates[1]->load(std::memory_order_relaxed)};
    // The key's own slot if it has one; else the slot whose bucket is least in debt (a
    // bucket paid off long ago holds nothing worth keeping).
    std::size_t pick = 2;
    for (std::size_t i = 0; i < 2; ++i) {
      if (old[i] != 0 && (old[i] >> tag_shift) == tag) pick = i;
    }
    std::uint64_t tat = now_us;
    if (pick == 2) {
      pick = (old[0] & time_mask) <= (old[1] & time_mask) ? 0 : 1;
    } else {
      tat = std::max(old[pick] & time_mask, now_us);
    }
    // Debt beyond the burst: this response would exceed the rate. Nothing to write.
    if (tat - now_us > tolerance_us_) return false;
    const std::uint64_t next = (tag << tag_shift) | ((tat + interval_us_) & time_mask);
    if (candidates[pick]->compare_exchange_weak(old[pick], next, std::memory_order_relaxed)) {
      return true;
    }
  }
}

}  // namespace loadns::guard
