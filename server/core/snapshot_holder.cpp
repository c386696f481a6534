#include "server/core/snapshot_holder.hpp"

namespace loadns::core {

void snapshot_holder::publish(std::shared_ptr<const snapshot> snap) {
  {
    std::lock_guard lock(mutex_);
    current_ = std::move(snap);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const snapshot> snapshot_holder::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace loadns::core
