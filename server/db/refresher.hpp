#pragma once
// The one thread that keeps the server's snapshot fresh: it LISTENs on loadns_changed, reads
// the database on every notification and at least once per poll interval, builds a snapshot
// and publishes it. The database is never on the packet path: when PostgreSQL is down, slow
// or serves bad data, the last good snapshot stays published and the thread reconnects.
// The jobs are apart: db::session talks to PostgreSQL, core::snapshot_publisher builds and
// publishes, db/errors.hpp classifies failures; this file schedules them, and
// db/refresher_log.hpp says what changed.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/core/answer_counter.hpp"
#include "server/core/prediction_error.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/core/snapshot_holder.hpp"

namespace loadns::db {

struct refresher_options {
  std::string conninfo;  ///< libpq conninfo or URI; multi-host lists are tried in order
  std::chrono::milliseconds poll_interval{1000};
  /// Server-side limit on each statement, so a hung query cannot stop publishing for long.
  std::chrono::milliseconds statement_timeout{5000};
  /// Least time between two polls that notifications start: a NOTIFY flood from any login
  /// costs at most 20 reads a second, and the pending notification is served at the gap's end.
  std::chrono::milliseconds notify_gap{50};
  /// Reconnect backoff: starts at the minimum, doubles per failure up to the cap.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  /// --state-dir: where the last good poll's rows are kept (db/state_store.hpp), and served
  /// from at start until the database answers; empty: nothing is kept.
  std::string state_dir;
  /// Least time between two writes of the state file.
  std::chrono::milliseconds state_interval{5000};
};

/// Counters for the metrics endpoint; written by the refresher thread, read by anyone.
struct refresher_stats {
  std::atomic<std::uint64_t> polls{0};        ///< successful reads of the database
  std::atomic<std::uint64_t> poll_errors{0};  ///< failed connects and reads
  std::atomic<std::uint64_t> notifications{0};
  /// Rows left out of the snapshots built, per core::table: each row once per build.
  std::array<std::atomic<std::uint64_t>, core::table_count> rows_skipped{};
  std::atomic<std::int64_t> last_poll_duration_us{0};  ///< reading the database, one poll
  std::atomic<bool> connected{false};
  /// The snapshot in use was built from the state file, not yet from the database.
  std::atomic<bool> snapshot_from_disk{false};
  std::atomic<std::uint64_t> state_writes{0};        ///< state files written
  std::atomic<std::uint64_t> state_write_errors{0};  ///< writes that failed
  /// Predicted minus reported connections at each new report, per service.
  core::prediction_errors prediction_errors;
};

class refresher {
 public:
  /// Nothing happens until start(). `holder` and `counters` must outlive the refresher;
  /// `counters` is used only from the refresher's thread.
  refresher(refresher_options options, core::snapshot_holder& holder,
            core::counter_registry& counters);
  /// Stops the thread (see stop()).
  ~refresher();
  refresher(const refresher&) = delete;
  refresher& operator=(const refresher&) = delete;

  /// Starts the thread, which connects in the background: a database that is down at start
  /// is waited for, and the server answers SERVFAIL until the first snapshot.
  void start();
  /// Wakes the thread and joins it. A poll in flight gets a second to finish before its
  /// connection is cut; a connection attempt may take up to connect_timeout. Idempotent.
  void stop();
  /// Asks for a read of the database now, as a NOTIFY would but without waiting for one
  /// (SIGHUP). Safe from any thread; a no-op before start().
  void request_poll() noexcept;

  const refresher_stats& stats() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace loadns::db
