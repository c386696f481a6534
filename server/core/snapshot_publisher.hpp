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
  /// of backends no longer present. Rows the builder leaves out go to `skipped` (when given);
  /// a zone row left out is served as it was last published (zone_rows()). May throw
  /// std::bad_alloc. `observe`: feed the prediction errors (false when the snapshot replaced
  /// was read from a state file, whose predictions no report can be held to).
  void publish(const source& src, clock::time_point db_now,
               std::vector<skipped_row>* skipped = nullptr, bool observe = true);

  /// Snapshots published so far.
  std::uint64_t generation() const noexcept { return generation_; }

  /// The zone rows of the last snapshot published: `src.zones` of that publish(), each row it
  /// could not use replaced by the last good version served in its place (build_result).
  const std::vector<zone_row>& zone_rows() const noexcept { return zone_rows_; }

 private:
  snapshot_holder& holder_;
  counter_registry& counters_;
  prediction_errors* errors_;
  std::uint64_t generation_ = 0;
  std::vector<zone_row> zone_rows_;
};

}  // namespace loadns::core
