#pragma once
// The pure half of keeping the snapshot fresh: a poll's rows in, a published snapshot out.
// The database session (server/db) reads the rows; this builds, publishes and keeps the answer
// counters of the backends still present. One thread (the refresher's) calls it.

#include <cstdint>
#include <string>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/prediction_error.hpp"
#include "server/core/snapshot.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/core/snapshot_holder.hpp"
#include "server/core/source.hpp"

namespace loadns::core {

class snapshot_publisher {
 public:
  /// `holder` and `counters` (and `errors`, when given) must outlive the publisher.
  /// `errors`, when given, is fed each new snapshot's reports against the predictions of
  /// the snapshot it replaces.
  snapshot_publisher(snapshot_holder& holder, counter_registry& counters,
                     prediction_errors* errors = nullptr)
      : holder_(holder), counters_(counters), errors_(errors) {}

  /// Builds a snapshot of `src` (`db_now`: this server's steady clock at the database's now()
  /// of the poll) and publishes it as the next generation, then forgets the answer counters
  /// of backends no longer present. Rows the builder leaves out go to `skipped` (when given).
  /// Returns an empty string; or, for a zone row the builder refuses, why (naming the row),
  /// having published nothing. May throw std::bad_alloc. `observe`: feed the prediction
  /// errors (false when the snapshot replaced was read from a state file, whose predictions
  /// no report can be held to).
  std::string publish(const source& src, clock::time_point db_now,
                      std::vector<skipped_row>* skipped = nullptr, bool observe = true);

  /// Snapshots published so far.
  std::uint64_t generation() const noexcept { return generation_; }

 private:
  snapshot_holder& holder_;
  counter_registry& counters_;
  prediction_errors* errors_;
  std::uint64_t generation_ = 0;
};

}  // namespace loadns::core
