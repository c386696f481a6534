#include "server/db/refresher_log.hpp"

#include <spdlog/spdlog.h>

namespace loadns::db {

void refresher_log::connect_failed(const std::string& why, bool serving) {
  stats_.poll_errors.fetch_add(1, std::memory_order_relaxed);
  stats_.connected.store(false, std::memory_order_relaxed);
  if (link_ == link::down) return;
  if (link_ == link::never && !serving) {
    spdlog::warn("database unreachable ({}): {}; retrying (no snapshot yet: answers SERVFAIL)",
                 conninfo_, why);
  } else if (link_ == link::never) {
    spdlog::warn("database unreachable ({}): {}; answering from the state file, retrying",
                 conninfo_, why);
  } else {
    spdlog::warn("database unreachable ({}): {}; answering from the last snapshot, retrying",
                 conninfo_, why);
  }
  link_ = link::down;
  down_since_ = std::chrono::steady_clock::now();
}

void refresher_log::lost(const std::string& why) {
  stats_.poll_errors.fetch_add(1, std::memory_order_relaxed);
  stats_.connected.store(false, std::memory_order_relaxed);
  if (link_ == link::down) return;
  spdlog::warn("database connection lost: {}; answering from the last snapshot, reconnecting", why);
  link_ = link::down;
  down_since_ = std::chrono::steady_clock::now();
}

void refresher_log::connected(const std::string& where, int server_version,
                              std::chrono::milliseconds poll_interval) {
  stats_.connected.store(true, std::memory_order_relaxed);
  if (link_ == link::down && stats_.polls.load(std::memory_order_relaxed) > 0) {
    const auto secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - down_since_).count();
    spdlog::info("database connection resumed after {:.1f} s ({})", secs, where);
  } else {
    spdlog::info("database connected ({}, server {}, poll every {} ms)", where, server_version,
                 poll_interval.count());
  }
  link_ = link::up;
}

void refresher_log::listen_failed(const std::string& why, std::chrono::milliseconds poll_interval) {
  if (listen_warned_) return;
  spdlog::warn("LISTEN loadns_changed failed ({}); changes are picked up by polling every {} ms",
               why, poll_interval.count());
  listen_warned_ = true;
}

void refresher_log::poll_failed(const std::string& why) {
  stats_.poll_errors.fetch_add(1, std::memory_order_relaxed);
  if (why == last_poll_error_) return;
  spdlog::warn("database poll failed: {}; keeping the last snapshot", why);
  last_poll_error_ = why;
}

void refresher_log::poll_succeeded() {
  if (last_poll_error_.empty()) return;
  spdlog::info("database poll succeeds again");
  last_poll_error_.clear();
}

// One line per row when a build first leaves it out, and one when it is back (or gone); the
// counter counts it in every build.
void refresher_log::skipped(const std::vector<core::skipped_row>& rows) {
  std::set<std::string> now;
  for (const auto& r : rows) {
    stats_.rows_skipped[static_cast<std::size_t>(r.table)].fetch_add(1, std::memory_order_relaxed);
    std::string line = "loadns.";
    line += core::table_name(r.table);
    line += ": ";
    line += r.row;
    line += ": ";
    line += r.reason;
    if (!skipped_before_.contains(line)) {
      spdlog::warn("row skipped, the rest of the snapshot loads: {}", line);
    }
    now.insert(std::move(line));
  }
  for (const auto& line : skipped_before_) {
    if (!now.contains(line)) spdlog::info("row no longer skipped: {}", line);
  }
  skipped_before_ = std::move(now);
}

void refresher_log::state_written(const std::string& path) {
  stats_.state_writes.fetch_add(1, std::memory_order_relaxed);
  if (last_state_error_.empty()) return;
  spdlog::info("state file {} written again", path);
  last_state_error_.clear();
}

void refresher_log::state_write_failed(const std::string& why) {
  stats_.state_write_errors.fetch_add(1, std::memory_order_relaxed);
  if (why == last_state_error_) return;
  spdlog::error("cannot write the state file: {}; it keeps the last rows written", why);
  last_state_error_ = why;
}

}  // namespace loadns::db
