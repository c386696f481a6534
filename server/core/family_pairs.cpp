#include "server/core/family_pairs.hpp"

#include <time.h>

#include <bit>
#include <cstring>

namespace loadns::core {
namespace {

constexpr unsigned index_bits = 19;
constexpr unsigned family_shift = index_bits;
constexpr unsigned time_shift = family_shift + 1;
constexpr unsigned id_shift = time_shift + 16;
constexpr unsigned tag_shift = id_shift + 8;  // 44: 20 bits of tag

constexpr std::uint64_t index_mask = (std::uint64_t{1} << index_bits) - 1;

std::uint64_t tag_of(std::uint64_t key) noexcept {
  return key >> tag_shift;
}

/// MurmurHash3's finaliser: every input bit flips each output bit with probability ~1/2.
std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51'afd7'ed55'8ccdULL;
  h ^= h >> 33;
  h *= 0xc4ce'b9fe'1a85'ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

family_pairs::family_pairs(std::size_t slots, std::uint64_t seed)
    : slots_(std::make_unique<std::atomic<std::uint64_t>[]>(std::bit_ceil(slots < 2 ? 2 : slots))),
      mask_(std::bit_ceil(slots < 2 ? 2 : slots) - 1),
      seed_(mix(seed ^ 0x9e37'79b9'7f4a'7c15ULL)) {
  for (std::size_t i = 0; i <= mask_; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

std::uint64_t family_pairs::key_of(std::span<const std::uint8_t> lower_wire) const noexcept {
  // Eight octets at a time, each word folded in with a multiply (names are at most 255
  // octets; a nonce name is about 30: four rounds), then the finaliser.
  std::uint64_t h = seed_ ^ (lower_wire.size() * 0x9e37'79b9'7f4a'7c15ULL);
  std::size_t at = 0;
  for (; at + 8 <= lower_wire.size(); at += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, lower_wire.data() + at, 8);
    h = std::rotl((h ^ w) * 0x8765'4321'8765'4321ULL + 0x1234'5678'9abc'def1ULL, 29);
  }
  if (at < lower_wire.size()) {
    // The last 1..7 octets: as the name's last 8 (overlapping the words before), a copy of a
    // constant length that compiles to one load; a name shorter than 8 octets octet by octet.
    std::uint64_t w = 0;
    if (lower_wire.size() >= 8) {
      std::memcpy(&w, lower_wire.data() + lower_wire.size() - 8, 8);
    } else {
      for (std::size_t i = 0; i < lower_wire.size(); ++i) {
        w |= std::uint64_t{lower_wire[i]} << (8 * i);
      }
    }
    h = std::rotl((h ^ w) * 0x8765'4321'8765'4321ULL + 0x1234'5678'9abc'def1ULL, 29);
  }
  return mix(h);
}

std::optional<std::uint32_t> family_pairs::find(std::uint64_t key, const service& svc, family fam,
                                                std::uint32_t now_ms) const noexcept {
  const std::uint64_t e = slots_[key & mask_].load(std::memory_order_relaxed);
  const auto stored = static_cast<std::uint32_t>(e & index_mask);
  if (stored == 0 || (e >> tag_shift) != tag_of(key)) return std::nullopt;
  const auto age = static_cast<std::uint16_t>(now_ms - static_cast<std::uint32_t>(e >> time_shift));
  if (age > window_ms) return std::nullopt;
  const auto chosen_fam = static_cast<std::size_t>((e >> family_shift) & 1);
  if (chosen_fam == static_cast<std::size_t>(fam)) return std::nullopt;
  // The host another query chose; does it have an address of this family?
  const auto& chosen_list = svc.backends[chosen_fam];
  if (stored - 1 >= chosen_list.size()) return std::nullopt;
  const backend& chosen = chosen_list[stored - 1];
  if (((e >> id_shift) & 0xFF) != (static_cast<std::uint64_t>(chosen.id) & 0xFF)) {
    return std::nullopt;  // another host took its place in a later snapshot
  }
  const std::uint32_t twin = chosen.twin;
  const auto& list = svc.backends[static_cast<std::size_t>(fam)];
  if (twin >= list.size()) return std::nullopt;
  // Only where this family would answer with it: its state is the host's, but the families
  // decide on their own whether they fail open (decide_candidates()).
  const backend& b = list[twin];
  switch (svc.candidates[static_cast<std::size_t>(fam)].mode) {
    case family_mode::serving:
      if (b.state != backend_state::serving) return std::nullopt;
      break;
    case family_mode::fail_open:
      if (!b.enabled) return std::nullopt;
      break;
    case family_mode::nodata:
    case family_mode::servfail:
      return std::nullopt;
  }
  return twin;
}

void family_pairs::remember(std::uint64_t key, const service& svc, family fam, std::uint32_t index,
                            std::uint32_t now_ms) noexcept {
  const auto& list = svc.backends[static_cast<std::size_t>(fam)];
  if (index > max_index || index >= list.size()) return;
  const auto id = static_cast<std::uint64_t>(list[index].id);
  const std::uint64_t e = (tag_of(key) << tag_shift) | ((id & 0xFF) << id_shift) |
                          (std::uint64_t{now_ms & 0xFFFF} << time_shift) |
                          (std::uint64_t{static_cast<std::uint8_t>(fam)} << family_shift) |
                          (std::uint64_t{index} + 1);
  slots_[key & mask_].store(e, std::memory_order_relaxed);
}

std::uint32_t family_pairs::now_ms() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
                                    static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000);
}

}  // namespace loadns::core
