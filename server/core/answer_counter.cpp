#include "server/core/answer_counter.hpp"

#include <algorithm>
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

void answer_counter::add_to_ring(std::uint64_t bucket, std::uint64_t n) noexcept {
  // Rare (a bucket closing, or a clock read a little behind another thread's), so the
  // ordering is strong: a since() that sees this write also sees the roll that made it.
  auto& slot = ring_[bucket % bucket_count];
  std::uint64_t v = slot.load(std::memory_order_acquire);
  for (;;) {
    if ((v & ~count_mask) == tag_of(bucket)) {
      // A count never reaches 2^32 in 100 ms, so it cannot carry into the tag.
      slot.fetch_add(n, std::memory_order_acq_rel);
      return;
    }
    // Recycled for a newer bucket already (`bucket` is a whole ring old): total() has it.
    if ((v >> 32) > (bucket & count_mask)) return;
    // An old lap's bucket: start it afresh. On failure `v` is reloaded and we look again.
    if (slot.compare_exchange_weak(v, tag_of(bucket) | n, std::memory_order_acq_rel)) return;
  }
}

void answer_counter::add(clock::time_point now, std::uint32_t n) noexcept {
  const std::uint64_t bucket = bucket_of(now);
  std::uint64_t v = recent_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t newest = v >> 32;
    if (newest == (bucket & count_mask)) {
      // The common case: the newest bucket, in the line total_ shares. Should it roll over
      // between the load and this add, the answer counts one bucket late: harmless.
      recent_.fetch_add(n, std::memory_order_relaxed);
      break;
    }
    if (newest > (bucket & count_mask)) {
      // Our clock read is a little behind another thread's, which opened a newer bucket.
      add_to_ring(bucket, n);
      break;
    }
    // A new bucket: open it, and move the closed one's count to the ring.
    moving_.fetch_add(1, std::memory_order_acq_rel);
    if (recent_.compare_exchange_weak(v, tag_of(bucket) | n, std::memory_order_acq_rel)) {
      const std::uint64_t closed = (bucket & ~count_mask) | newest;
      if ((v & count_mask) != 0) add_to_ring(closed, v & count_mask);
      rolls_.fetch_add(1, std::memory_order_release);
      moving_.fetch_sub(1, std::memory_order_release);
      break;
    }
    moving_.fetch_sub(1, std::memory_order_release);  // `v` was reloaded: look again
  }
  // Release after the bucket: a reader that sees this total sees the bucket too (before()).
  total_.fetch_add(n, std::memory_order_release);
}

std::uint64_t answer_counter::sum(std::uint64_t first, std::uint64_t last) const noexcept {
  // Retry while a roll is moving a count from recent_ to the ring: it would be missed or
  // counted twice. Rolls happen at most once per bucket, so this almost never loops; after a
  // few tries take the (then slightly off) sum rather than spin.
  std::uint64_t total = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const auto rolls = rolls_.load(std::memory_order_acquire);
    const bool quiet = moving_.load(std::memory_order_acquire) == 0;
    const std::uint64_t r = recent_.load(std::memory_order_acquire);
    total = 0;
    for (std::uint64_t b = first; b <= last; ++b) {
      // Tags are compared in 32 bits, as add() stores them.
      total += count_in(ring_[b % bucket_count].load(std::memory_order_acquire), b & count_mask);
      total += count_in(r, b & count_mask);
    }
    if (quiet && moving_.load(std::memory_order_acquire) == 0 &&
        rolls_.load(std::memory_order_acquire) == rolls) {
      break;
    }
  }
  return total;
}

std::uint64_t answer_counter::since(clock::time_point since, clock::time_point now) const noexcept {
  const std::uint64_t last = bucket_of(now) + 1;  // +1: another thread's clock may be ahead
  std::uint64_t first = bucket_of(since);
  if (last >= bucket_count && first < last - bucket_count + 1) first = last - bucket_count + 1;
  return first <= last ? sum(first, last) : 0;
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
    const std::uint64_t in_bucket = sum(bucket, bucket);
    const auto width = static_cast<std::uint64_t>(bucket_width.count());
    const auto into = static_cast<std::uint64_t>(t.time_since_epoch().count()) % width;
    earlier += std::min(in_bucket, recent) * into / width;
  }
  return earlier;
}

void answer_counter::prefetch() const noexcept {
  __builtin_prefetch(&total_, 1);
}

/// 64 counters and their rings in one allocation: a pick reads and writes one cache line of
/// a counter (total_ and recent_), and with the counters of a large service side by side those
/// lines share pages, so that 10,000 backends cost no TLB miss per pick and far fewer cache
/// misses than counters scattered between their 2.5 KB rings. A slab lives as long as any of
/// its counters is referenced (shared_ptr aliasing).
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
        answer_counter(&slab_->rings[i * answer_counter::bucket_count]);
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
