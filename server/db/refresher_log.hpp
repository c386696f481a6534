#pragma once
// What the refresher tells the operator, and counts: one log line when something changes (the
// database lost or back, polls failing or succeeding again, a snapshot refused or accepted
// again, a row left out or back in, the state file failing or written again), not one per
// poll; the counters of refresher_stats count every event. Used by the refresher thread alone.

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "server/core/snapshot_builder.hpp"
#include "server/db/refresher.hpp"

namespace loadns::db {

class refresher_log {
 public:
  /// `conninfo`: redacted, as the first failed connect names it.
  refresher_log(refresher_stats& stats, std::string conninfo)
      : stats_(stats), conninfo_(std::move(conninfo)) {}

  /// A connect failed; `serving`: a snapshot is published (from the state file before the
  /// first connection, else from the database).
  void connect_failed(const std::string& why, bool serving);
  void connected(const std::string& where, int server_version,
                 std::chrono::milliseconds poll_interval);
  /// The open connection failed.
  void lost(const std::string& why);
  /// LISTEN was refused (a hot standby): polling alone keeps the snapshot fresh.
  void listen_failed(const std::string& why, std::chrono::milliseconds poll_interval);
  void poll_failed(const std::string& why);
  void poll_succeeded();
  /// The rows a build left out.
  void skipped(const std::vector<core::skipped_row>& rows);
  void state_written(const std::string& path);
  void state_write_failed(const std::string& why);

 private:
  refresher_stats& stats_;
  std::string conninfo_;

  enum class link : std::uint8_t { never, up, down };
  link link_ = link::never;
  std::chrono::steady_clock::time_point down_since_{};
  bool listen_warned_ = false;
  std::string last_poll_error_;           // empty: the last poll succeeded
  std::set<std::string> skipped_before_;  // the rows the last build left out, as logged
  std::string last_state_error_;          // empty: the last write of the state file succeeded
};

}  // namespace loadns::db
