#include "server/core/answer_counter.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <new>
#include <unordered_set>

namespace loadns::core {
namespace {

// Bucket sequence number of a time point. The steady clock starts near boot, so its epoch is
// never negative in practice; clamp anyway so a hand-made time point cannot wrap the ring.
std::uint64_t bucket_of(clock::time_point t) noexcept {
  auto ticks = t.time_since_epoch().count();
  if (ticks < 0) return 0;
  return static_cast<std::uint64_t>(ticks) /
         static_cast<std::uint64_t>(answer_counter::bucket_width.count());
}

constexpr std::uint64_t count_mask = 0xffff'ffffULL;

constexpr std::uint64_t tag_of(std::uint64_t bucket) noexcept {
  return bucket << 32;
}

// The count of slot `v` if it holds `bucket`, else 0 (an older bucket not yet recycled, or
// never written).
constexpr std::uint64_t count_in(std::uint64_t v, std::uint64_t bucket) noexcept {
  return (v & ~count_mask) == tag_of(bucket) ? (v & count_mask) : 0;
}

}  // namespace

answer_counter::answer_counter()
    : own_ring_(std::make_unique<std::atomic<std::uint64_t>[]>(bucket_count)) {
  ring_ = own_ring_.get();
}

void answer_counter::add(clock::time_point now, std::uint32_t n) noexcept {
  const std::uint64_t bucket = bucket_of(now);
  auto& s = slot(bucket);
  std::uint64_t v = s.load(std::memory_order_relaxed);
  for (;;) {
    if ((v & ~count_mask) == tag_of(bucket)) {
      // The current bucket: a plain add. A count never reaches 2^32 in one bucket, so it cannot
      // carry into the tag.
      s.fetch_add(n, std::memory_order_relaxed);
      break;
    }
    // Recycled for a newer bucket already (our `now` is a whole ring behind another
    // thread's): the answer still counts in total().
    if ((v >> 32) > (bucket & count_mask)) break;
    // An old lap's bucket: start it afresh. On failure `v` is reloaded and we look again.
    if (s.compare_exchange_weak(v, tag_of(bucket) | n, std::memory_order_relaxed)) break;
  }
  // Release after the bucket: a reader that sees this total sees the bucket too (before()).
  total_.fetch_add(n, std::memory_order_release);
}

std::uint64_t answer_counter::since(clock::time_point since, clock::time_point now) const noexcept {
  const std::uint64_t last = bucket_of(now) + 1;  // +1: another thread's clock may be ahead
  std::uint64_t first = bucket_of(since);
  if (last >= bucket_count && first < last - bucket_count + 1) first = last - bucket_count + 1;
  std::uint64_t sum = 0;
  for (std::uint64_t b = first; b <= last; ++b) {
    // Tags are compared in 32 bits, as add() stores them.
    sum += count_in(slot(b).load(std::memory_order_relaxed), b & count_mask);
  }
  return sum;
}

std::uint64_t answer_counter::before(clock::time_point t, clock::time_point now) const noexcept {
  // Total first (acquire, pairs with add()'s release): every answer in it is also in its
  // bucket, so the buckets read afterwards hold at least those; the result can only be too
  // small, which predicts a little too much load, never too little.
  const std::uint64_t all = total();
  const std::uint64_t recent = since(t, now);
  std::uint64_t earlier = recent >= all ? 0 : all - recent;
  // The bucket holding `t` is split in proportion to the time before `t`, if it is closed
  // (no answer can land in it any more, so the result stays constant): counting all of it
  // as later would bias least_load against a backend whose report came late in a bucket.
  const std::uint64_t bucket = bucket_of(t);
  if (t.time_since_epoch().count() >= 0 && bucket < bucket_of(now) &&
      bucket + bucket_count > bucket_of(now) + 1) {
    const std::uint64_t in_bucket =
        count_in(slot(bucket).load(std::memory_order_relaxed), bucket & count_mask);
    const auto width = static_cast<std::uint64_t>(bucket_width.count());
    const auto into = static_cast<std::uint64_t>(t.time_since_epoch().count()) % width;
    earlier += std::min(in_bucket, recent) * into / width;
  }
  return earlier;
}

void answer_counter::prefetch() const noexcept {
  // Only total_'s line: the slot's address is in that line too, so asking for the slot would
  // wait for the very miss this is meant to hide. The current slots of a slab share lines,
  // so they are mostly in cache anyway.
  __builtin_prefetch(&total_, 1);
}

/// 64 counters and their rings in one allocation, the rings bucket-major (the 64 slots of one
/// bucket are adjacent): a pick touches a counter's total_ and its current slot, and with a
/// large service's counters side by side those are a few dense lines and pages instead of a
/// cache and TLB miss per counter scattered between 2.5 KB rings. A slab lives as long as any
/// of its counters is referenced (shared_ptr aliasing).
struct counter_registry::slab {
  static constexpr std::size_t size = 64;

  slab() = default;
  slab(const slab&) = delete;
  slab& operator=(const slab&) = delete;
  ~slab() {
    for (std::size_t i = 0; i < used; ++i) at(i)->~answer_counter();
  }

  answer_counter* at(std::size_t i) noexcept {
    return std::launder(
        reinterpret_cast<answer_counter*>(storage.data() + i * sizeof(answer_counter)));
  }

  alignas(answer_counter) std::array<std::byte, size * sizeof(answer_counter)> storage;
  std::array<std::atomic<std::uint64_t>, size * answer_counter::bucket_count> rings{};
  std::size_t used = 0;
};

std::shared_ptr<answer_counter> counter_registry::get(std::int64_t backend_id) {
  auto& slot = counters_[backend_id];
  if (!slot) {
    if (!slab_ || slab_->used == slab::size) slab_ = std::make_shared<slab>();
    const std::size_t i = slab_->used;
    auto* counter = new (slab_->storage.data() + i * sizeof(answer_counter))
        answer_counter(&slab_->rings[i], slab::size);
    ++slab_->used;
    slot = std::shared_ptr<answer_counter>(slab_, counter);
  }
  return slot;
}

void counter_registry::retain(std::span<const std::int64_t> live_ids) {
  const std::unordered_set<std::int64_t> live(live_ids.begin(), live_ids.end());
  std::erase_if(counters_, [&](const auto& kv) { return !live.contains(kv.first); });
}

}  // namespace loadns::core
