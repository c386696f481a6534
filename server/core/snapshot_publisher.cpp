#include "server/core/snapshot_publisher.hpp"

#include <vector>

#include "server/core/snapshot_builder.hpp"

namespace loadns::core {

void snapshot_publisher::publish(const source& src, clock::time_point db_now,
                                 std::vector<skipped_row>* skipped, bool observe) {
  auto built = build_snapshot(src, db_now, generation_ + 1, counters_, zone_rows_);
  if (skipped != nullptr) *skipped = std::move(built.skipped);
  ++generation_;
  zone_rows_ = std::move(built.zone_rows);
  std::vector<std::int64_t> live;
  for (const auto& svc : built.snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) live.push_back(b.id);
    }
  }
  // Before publishing: the snapshot in use made the predictions the new reports are held to.
  if (errors_ != nullptr && observe) errors_->observe(holder_.current().get(), *built.snap, db_now);
  holder_.publish(std::move(built.snap));
  counters_.retain(live);
}

}  // namespace loadns::core
