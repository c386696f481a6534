#pragma once
// Publishes snapshots from the refresher thread to the workers without a lock per packet:
// a worker compares one atomic generation with the one it cached and takes the mutex only
// when a new snapshot was published (once per poll at most).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "server/core/snapshot.hpp"

namespace loadns::core {

class snapshot_holder {
 public:
  /// Makes `snap` the current snapshot. Called by the refresher thread.
  void publish(std::shared_ptr<const snapshot> snap);

  /// The current snapshot, or null before the first one. Takes the mutex: not per packet.
  std::shared_ptr<const snapshot> current() const;

  /// Bumped on every publish; 0 until the first.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const snapshot> current_;
  std::atomic<std::uint64_t> generation_{0};
};

/// One per worker thread: keeps its own reference to the snapshot so that the per-packet read
/// is one atomic load and a pointer.
class snapshot_reader {
 public:
  explicit snapshot_reader(const snapshot_holder& holder) : holder_(holder) {}

  /// The newest published snapshot, or null before the first.
  const snapshot* get() noexcept {
    auto gen = holder_.generation();
    if (gen != seen_) [[unlikely]] {
      cached_ = holder_.current();
      seen_ = gen;
    }
    return cached_.get();
  }

 private:
  const snapshot_holder& holder_;
  std::uint64_t seen_ = 0;
  std::shared_ptr<const snapshot> cached_;
};

}  // namespace loadns::core
