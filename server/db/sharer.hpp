#pragma once
// The thread that shares answer counts between the servers of a zone through PostgreSQL, the
// engine the deployment already runs (no protocol of our own between servers).
//
// Every flush interval (250 ms: at most 4 writes a second) it writes, in one statement, the
// answers this server gave each backend since its last flush into loadns.shared_answers (one
// row per backend that got any; the same statement deletes this server's rows older than the
// retention, and anyone's twice as old: the rows of servers that stopped), then reads the
// rows the other servers flushed since the last read, with the database's now(), and adds
// them to each backend's shared counter at the time they were given on this server's clock
// (core::share_ledger). The balancer aligns those to the report time exactly as it aligns its
// own answers (answer_counter::before), so every server predicts with every server's answers.
//
// Degrades, never breaks: the packet path only reads the counters' atomics; when the database
// is unreachable the shared counters stop growing and the server balances on its own answers
// (and what it had learnt), retrying in the background; a server that stops flushing is
// forgotten once its counts are older than any report that matters (answer_counter::history).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "server/core/snapshot_holder.hpp"

namespace loadns::db {

struct sharer_options {
  /// Where to write and read the counts: the primary when the snapshot is read from a
  /// standby (--share-db), else the same database as --db.
  std::string conninfo;
  /// This server's name in the table: host name and a random id per process by default.
  std::string server_id;
  std::chrono::milliseconds flush_interval{250};
  std::chrono::milliseconds statement_timeout{1000};
  /// Own rows older than this are deleted by their writer; anyone's older than twice this by
  /// any writer. Longer than answer_counter::history, the furthest back a prediction looks.
  std::chrono::milliseconds retention{30'000};
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{5000};
};

/// Counters for the metrics endpoint; written by the sharer thread, read by anyone.
struct sharer_stats {
  std::atomic<std::uint64_t> flushes{0};         ///< write statements that succeeded
  std::atomic<std::uint64_t> rows_written{0};    ///< backend rows written
  std::atomic<std::uint64_t> reads{0};           ///< read statements that succeeded
  std::atomic<std::uint64_t> rows_read{0};       ///< other servers' rows read
  std::atomic<std::uint64_t> answers_shared{0};  ///< other servers' answers added to counters
  std::atomic<std::uint64_t> errors{0};          ///< failed connects, writes and reads
  std::atomic<std::int64_t> last_flush_us{0};    ///< duration of the last write
  std::atomic<std::int64_t> last_read_us{0};     ///< duration of the last read
  std::atomic<std::uint64_t> servers{0};         ///< other servers heard from recently
  std::atomic<bool> connected{false};
};

/// A server's identity for the table: "<host name>/<random hex>", new for every process.
std::string default_server_id();

class sharer {
 public:
  /// Nothing happens until start(). `holder` must outlive the sharer.
  sharer(sharer_options options, const core::snapshot_holder& holder);
  ~sharer();
  sharer(const sharer&) = delete;
  sharer& operator=(const sharer&) = delete;

  void start();
  /// Wakes the thread and joins it (a statement in flight finishes or times out first).
  void stop();

  const sharer_stats& stats() const noexcept;
  const std::string& server_id() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace loadns::db
