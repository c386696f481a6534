#include "server/guard/source_counter.hpp"

#include <algorithm>
#include <bit>

#include "server/guard/rate_limiter.hpp"

namespace loadns::guard {

source_counter::source_counter(unsigned cap, std::size_t slots, const siphash_key& key)
    : cap_(cap),
      mask_(std::bit_ceil(std::max<std::size_t>(slots, 2)) - 1),
      key_(key),
      counts_(std::make_unique<std::atomic<unsigned>[]>(mask_ + 1)) {}

std::size_t source_counter::slot_of(std::span<const std::uint8_t> address) const noexcept {
  const source_network net = network_of(address);
  return static_cast<std::size_t>(siphash24(key_, net.octets)) & mask_;
}

std::ptrdiff_t source_counter::acquire(std::span<const std::uint8_t> address) noexcept {
  const std::size_t slot = slot_of(address);
  auto& count = counts_[slot];
  unsigned now = count.load(std::memory_order_relaxed);
  do {
    if (now >= cap_) return -1;
  } while (!count.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return static_cast<std::ptrdiff_t>(slot);
}

void source_counter::release(std::ptrdiff_t slot) noexcept {
  if (slot < 0) return;
  counts_[static_cast<std::size_t>(slot)].fetch_sub(1, std::memory_order_relaxed);
}

unsigned source_counter::count(std::span<const std::uint8_t> address) const noexcept {
  return counts_[slot_of(address)].load(std::memory_order_relaxed);
}

}  // namespace loadns::guard
