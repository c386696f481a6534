#pragma once
// The bookkeeping of shared answer counts, apart from the database: what this server has
// handed each backend since its last flush, and where the answers the other servers flushed
// land on this server's clock. server/db/sharer.hpp moves both through PostgreSQL.
//
// Why: least_load predicts a backend's load as its reported connections plus the answers given
// since the report. With several nameservers (a zone has at least two, RFC 1034 4.1) each one
// hands out only part of those answers; counting its own alone lets every server send a
// newcomer up to the whole gap before the next report shows it, so N servers give it up to N
// times its share. Adding the others' answers, at the time they were given, makes the
// prediction what one server's is: every answer since the report.
//
// Used from the sharer's thread only. The counters it adds to are atomics that the workers
// read; nothing here is on the packet path.

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/snapshot.hpp"

namespace loadns::core {

/// Answers to write in one flush: parallel arrays, one entry per backend that got any.
struct own_answers {
  std::vector<std::int64_t> backends;
  std::vector<std::int64_t> answers;
  void clear() noexcept {
    backends.clear();
    answers.clear();
  }
};

/// One row another server flushed: `answers` given to `backend` in the flush period that
/// ended at `flushed_at` (milliseconds since the epoch, on the database's clock).
struct shared_row {
  std::string server;
  std::int64_t flush = 0;
  std::int64_t backend = 0;
  std::int64_t answers = 0;
  std::int64_t flushed_at_ms = 0;
};

class share_ledger {
 public:
  /// `flush_interval`: how often servers flush; a flushed count is placed in the middle of the
  /// period it covers. `history`: how long another server's counts matter (and a server that
  /// flushed nothing for that long is forgotten).
  explicit share_ledger(clock::duration flush_interval,
                        clock::duration history = answer_counter::history);

  /// Fills `out` with the answers this server gave each backend of `snap` since the last
  /// commit(). A backend seen for the first time counts all its answers so far.
  void collect(const snapshot& snap, own_answers& out);
  /// The answers of the last collect() were written: the next collect() starts from there.
  /// Without it (a failed write), they are offered again.
  void commit();
  /// The last collect() is dropped: its answers are too old to place (the database was away
  /// longer than `history`). The next collect() starts from now.
  void drop();

  /// Adds the other servers' rows to the shared counters of `snap`'s backends, each at its
  /// time on this server's clock: `db_now_ms` is the database's now() read with them, at
  /// `local_now` on this server's steady clock. Rows of a flush already applied are skipped.
  /// Returns the answers added.
  std::uint64_t apply(const snapshot& snap, const std::vector<shared_row>& rows,
                      std::int64_t db_now_ms, clock::time_point local_now);

  /// Forgets servers that flushed nothing within `history` of `local_now`.
  void expire(clock::time_point local_now);

  /// The other servers heard from within `history`, and the last flush applied of each, as
  /// parallel arrays for the next read (only newer flushes are asked for).
  std::vector<std::string> known_servers() const;
  std::vector<std::int64_t> known_flushes() const;
  std::size_t servers() const noexcept { return known_.size(); }

 private:
  struct known_server {
    std::int64_t flush = 0;
    clock::time_point last_heard{};
  };

  clock::duration half_flush_;
  clock::duration history_;
  std::unordered_map<std::int64_t, std::uint64_t> flushed_;  ///< backend -> total at commit
  std::unordered_map<std::int64_t, std::uint64_t> pending_;  ///< backend -> total at collect
  std::unordered_map<std::string, known_server> known_;
  std::unordered_map<std::int64_t, answer_counter*> by_id_;  ///< scratch for apply()
};

}  // namespace loadns::core
