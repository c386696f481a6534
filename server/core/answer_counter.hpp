#pragma once
// How many answers this server handed one backend, and when. least_load predicts a backend's
// load as (reported connections + answers given after the report was taken) / capacity; the
// report is read up to a poll interval after it was taken, so the answers cannot simply be
// counted from the moment a snapshot loads (that forgets the ones given in between and
// overloads a newcomer again). Instead each counter keeps a ring of short time buckets and
// sums the ones at or after the report's time.

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
  /// Width of one bucket: the resolution of since(). before() splits the report's bucket in
  /// proportion to time, which is exact for a steady answer rate; a burst inside the bucket
  /// is misplaced by up to one bucket, so a bucket must stay narrow next to the agents'
  /// report interval (default 2 s).
  static constexpr clock::duration bucket_width = std::chrono::milliseconds(250);
  /// Buckets kept: since() sees at most this far back (16 s), more than a default stale_after
  /// (10 s) plus a poll interval, so every serving backend's report is within it. An older
  /// report (a service with a longer stale_after and a lagging agent) counts the answers of
  /// the last 16 s only. 256 bytes per backend: the rings are the largest part of the
  /// server's memory at 10,000 backends.
  static constexpr std::size_t bucket_count = 64;
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

  /// Hints the CPU to fetch the line add() and total() touch. A balancer of a large service
  /// calls it for the backend it will probably answer with next, so that the cache miss
  /// overlaps other work instead of stalling the pick.
  void prefetch() const noexcept;

 private:
  // Slots hold a bucket's sequence number (low 16 bits of time / bucket_width) in the high
  // half and its count in the low half, so that recycling one is one compare-exchange.
  //
  // Layout, for a pick's sake: a pick reads and writes this object's first 24 bytes and the
  // slot of the current bucket. counter_registry makes counters in slabs, 64 objects side by
  // side and their rings bucket-major (stride_ = counters per slab), so that what the picks
  // of a 10,000-backend service touch is a few hundred KB of dense lines, not a cache and TLB
  // miss per counter. Neighbours share lines, so threads answering with neighbouring
  // backends contend a little; they contend on one backend's counter anyway.
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint32_t>* ring_;  ///< slot of bucket b: ring_[(b % bucket_count) * stride_]
  std::size_t stride_ = 1;
  std::unique_ptr<std::atomic<std::uint32_t>[]> own_ring_;  ///< ring_, unless in a slab

  friend class counter_registry;
  answer_counter(std::atomic<std::uint32_t>* ring, std::size_t stride) noexcept
      : ring_(ring), stride_(stride) {}

  std::atomic<std::uint32_t>& slot(std::uint64_t bucket) const noexcept {
    return ring_[(bucket % bucket_count) * stride_];
  }
};

/// Maps backend id -> counter across snapshots; used by the snapshot builder (one thread).
class counter_registry {
 public:
  /// The counter of `backend_id`, created empty on first sight.
  std::shared_ptr<answer_counter> get(std::int64_t backend_id);

  /// The counter of the answers that *other* servers gave `backend_id`, as they share them
  /// through PostgreSQL (server/db/sharer.hpp adds them at the time they were given), created
  /// empty on first sight. Kept apart from get()'s, whose answers this server shares.
  std::shared_ptr<answer_counter> get_shared(std::int64_t backend_id);

  /// Forgets the counters of backends no longer present (snapshots that still hold one keep
  /// it alive until they are released).
  void retain(std::span<const std::int64_t> live_ids);

  std::size_t size() const noexcept { return counters_.size(); }

 private:
  struct slab;  // counters made together, so that their hot lines sit side by side
  using counter_map = std::unordered_map<std::int64_t, std::shared_ptr<answer_counter>>;

  std::shared_ptr<answer_counter> get_in(counter_map& map, std::int64_t backend_id);

  counter_map counters_;
  counter_map shared_;          ///< get_shared()'s, in slabs of their own
  std::shared_ptr<slab> slab_;  ///< where the next counter is made
  std::shared_ptr<slab> shared_slab_;
};

}  // namespace loadns::core
