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

// A slot is 16 bits of the bucket's sequence number over 16 bits of its count: 4 bytes, so
// that 10,000 backends' rings take 2.6 MB. The tag wraps every 65,536 buckets (4.5 hours),
// so a slot left unwritten for close to a whole number of wraps is misread: within the
// last 48 s before one it looks newer and new answers skip it (they count in total(), not
// in since()), and at one it looks current and its old count is summed. Either lasts one
// pass of the ring, 16 s, and only for a backend that got no answer for hours; its load
// is then predicted off by those answers until its next report.
constexpr std::uint32_t count_mask = 0xffff;
constexpr unsigned tag_shift = 16;

constexpr std::uint32_t tag_of(std::uint64_t bucket) noexcept {
  return static_cast<std::uint32_t>(bucket & 0xffff);
}

// The count of slot `v` if it holds `bucket`, else 0 (an older bucket not yet recycled, or
// never written).
constexpr std::uint64_t count_in(std::uint32_t v, std::uint64_t bucket) noexcept {
  return (v >> tag_shift) == tag_of(bucket) ? (v & count_mask) : 0;
}

}  // namespace

answer_counter::answer_counter()
    : own_ring_(std::make_unique<std::atomic<std::uint32_t>[]>(bucket_count)) {
  ring_ = own_ring_.get();
}

void answer_counter::add(clock::time_point now, std::uint32_t n) noexcept {
  const std::uint64_t bucket = bucket_of(now);
  const std::uint32_t tag = tag_of(bucket);
  auto& s = slot(bucket);
  std::uint32_t v = s.load(std::memory_order_relaxed);
  for (;;) {
    if ((v >> tag_shift) == tag) {
      // The current bucket. A full one (65,535 answers in 250 ms: 262,000 a second to one
      // backend from one server) stays full rather than carry into the tag; the answers still
      // count in total().
      const std::uint32_t count = v & count_mask;
      if (count == count_mask) break;
      const std::uint32_t add = std::min(n, count_mask - count);
      if (s.compare_exchange_weak(v, v + add, std::memory_order_relaxed)) break;
      continue;  // `v` reloaded
    }
    // Recycled for a newer bucket already (our `now` is a whole ring behind another
    // thread's): the answer still counts in total(). Tags compare modulo 2^16, and only a
    // few laps ahead count as newer: a slot left from hours ago is old, whatever its tag.
    const std::uint32_t ahead = ((v >> tag_shift) - tag) & 0xffff;
    if (v != 0 && ahead != 0 && ahead < 4 * bucket_count) break;
    // An old lap's bucket: start it afresh. On failure `v` is reloaded and we look again.
    const std::uint32_t fresh = (tag << tag_shift) | std::min(n, count_mask);
    if (s.compare_exchange_weak(v, fresh, std::memory_order_relaxed)) break;
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
    sum += count_in(slot(b).load(std::memory_order_relaxed), b);
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
    const std::uint64_t in_bucket = count_in(slot(bucket).load(std::memory_order_relaxed), bucket);
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
  std::array<std::atomic<std::uint32_t>, size * answer_counter::bucket_count> rings{};
  std::size_t used = 0;
};

std::shared_ptr<answer_counter> counter_registry::get(std::int64_t backend_id) {
  return get_in(counters_, backend_id);
}

std::shared_ptr<answer_counter> counter_registry::get_shared(std::int64_t backend_id) {
  return get_in(shared_, backend_id);
}

std::shared_ptr<answer_counter> counter_registry::get_in(counter_map& map,
                                                         std::int64_t backend_id) {
  auto& slot = map[backend_id];
  if (!slot) {
    // Each map fills slabs of its own, so that a pick's own counters stay side by side.
    auto& current = &map == &shared_ ? shared_slab_ : slab_;
    if (!current || current->used == slab::size) current = std::make_shared<slab>();
    const std::size_t i = current->used;
    auto* counter = new (current->storage.data() + i * sizeof(answer_counter))
        answer_counter(&current->rings[i], slab::size);
    ++current->used;
    slot = std::shared_ptr<answer_counter>(current, counter);
  }
  return slot;
}

void counter_registry::retain(std::span<const std::int64_t> live_ids) {
  const std::unordered_set<std::int64_t> live(live_ids.begin(), live_ids.end());
  std::erase_if(counters_, [&](const auto& kv) { return !live.contains(kv.first); });
  std::erase_if(shared_, [&](const auto& kv) { return !live.contains(kv.first); });
}

}  // namespace loadns::core
