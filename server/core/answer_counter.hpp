#pragma once
// How many answers this server handed one backend, and when. least_load predicts a backend's
// load as (reported connections + answers given after the report was taken) / capacity; the
// report is read up to a poll interval after it was taken, so the answers cannot simply be
// counted from the moment a snapshot loads (that forgets the ones given in between and
// overloads a newcomer again). Instead each counter keeps a ring of short time buckets and
// sums the ones at or after the report's time.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>

namespace loadns::core {

using clock = std::chrono::steady_clock;  // the same alias as in snapshot.hpp

/// Answers this server handed one backend, kept in short time buckets; shared by all worker
/// threads (atomics, no lock), outlives snapshots.
class answer_counter {
 public:
  /// Width of one bucket: the resolution of since().
  static constexpr clock::duration bucket_width = std::chrono::milliseconds(100);
  /// Buckets kept: since() sees at most this far back (32 s), more than a default stale_after
  /// (10 s) plus a poll interval; an older report's backend is stale anyway.
  static constexpr std::size_t bucket_count = 320;
  static constexpr clock::duration history = bucket_width * bucket_count;

  /// A counter with its own history ring. counter_registry makes them in slabs instead.
  answer_counter();
  answer_counter(const answer_counter&) = delete;
  answer_counter& operator=(const answer_counter&) = delete;

  /// Counts `n` answers given at `now`. Lock-free; safe from any thread.
  void add(clock::time_point now, std::uint32_t n = 1) noexcept;

  /// Answers given at or after `since` (bucket resolution: the whole bucket holding `since`
  /// counts, so the error is on the side of too many), looking back at most `history`.
  std::uint64_t since(clock::time_point since, clock::time_point now) const noexcept;

  /// Answers given since the counter was created.
  std::uint64_t total() const noexcept { return total_.load(std::memory_order_acquire); }

  /// Answers given before `t`, as of `now`: those of the buckets before the one holding `t`,
  /// plus that bucket's share before `t` once it is closed. A constant once computed (every
  /// later answer lands in a newer bucket), so total() minus this is the number of answers
  /// given after `t`, read with one atomic load per pick.
  std::uint64_t before(clock::time_point t, clock::time_point now) const noexcept;

  /// Hints the CPU to fetch what add() and total() touch. A balancer of a large service
  /// calls it for the backend it will probably answer with next, so that the cache miss
  /// overlaps other work instead of stalling the pick.
  void prefetch() const noexcept;

 private:
  // Slots hold a bucket's sequence number (low 32 bits of time / bucket_width) in the high
  // half and its count in the low half, so that recycling one is one compare-exchange.
  //
  // Layout for a pick's sake: a pick touches only the first cache line (total_ and the
  // newest bucket, recent_), and make_shared keeps these lines close together, so that a
  // service of 10,000 backends does not cost a cache and TLB miss per counter part. When the
  // newest bucket closes, its count moves to the ring (once per 100 ms at most); rolls_ and
  // moving_ let since() see a consistent picture while that happens.
  alignas(64) std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> recent_{0};
  std::atomic<std::uint32_t> moving_{0};                    ///< rolls in progress
  std::atomic<std::uint32_t> rolls_{0};                     ///< rolls completed
  std::atomic<std::uint64_t>* ring_;                        ///< older buckets, bucket_count slots
  std::unique_ptr<std::atomic<std::uint64_t>[]> own_ring_;  ///< ring_, unless in a slab

  friend class counter_registry;
  explicit answer_counter(std::atomic<std::uint64_t>* ring) noexcept : ring_(ring) {}

  void add_to_ring(std::uint64_t bucket, std::uint64_t n) noexcept;
  std::uint64_t sum(std::uint64_t first, std::uint64_t last) const noexcept;
};

/// Maps backend id -> counter across snapshots; used by the snapshot builder (one thread).
class counter_registry {
 public:
  /// The counter of `backend_id`, created empty on first sight.
  std::shared_ptr<answer_counter> get(std::int64_t backend_id);

  /// Forgets the counters of backends no longer present (snapshots that still hold one keep
  /// it alive until they are released).
  void retain(std::span<const std::int64_t> live_ids);

  std::size_t size() const noexcept { return counters_.size(); }

 private:
  struct slab;  // counters made together, so that their hot lines sit side by side

  std::unordered_map<std::int64_t, std::shared_ptr<answer_counter>> counters_;
  std::shared_ptr<slab> slab_;  ///< where the next counter is made
};

}  // namespace loadns::core
