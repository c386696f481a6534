#pragma once
// The file half of --state-dir: reads and writes DIR/source.state (core/state_file.hpp is the
// format). Used by the refresher thread only, never on the packet path.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "server/core/snapshot.hpp"
#include "server/core/source.hpp"

namespace loadns::db {

/// Milliseconds since the Unix epoch at `t` on this server's steady clock (the wall clock now,
/// less the steady time since `t`).
std::int64_t wall_ms_at(core::clock::time_point t);

class state_store {
 public:
  /// `dir` must exist; the file is written at most once per `min_interval`.
  state_store(std::string dir, std::chrono::milliseconds min_interval);

  /// DIR/source.state.
  const std::string& path() const noexcept { return path_; }

  struct loaded {
    std::optional<core::source> src;  ///< ages measured at the wall clock now
    bool missing = false;             ///< no file: nothing to say but that
    std::string error;                ///< why the file was refused
    std::int64_t saved_at_ms = 0;
  };
  /// Reads and checks the file. Never throws for a bad or unreadable file: says why instead.
  loaded load() const;

  /// After a good poll: writes `src` (its ages measured at wall-clock `at_ms`) when its
  /// content differs from the last written and `min_interval` has passed since then.
  /// Atomic: a temporary file, fsync, rename over the old one, fsync of the folder; a crash
  /// leaves the old file or the new one. Returns whether it wrote; throws std::system_error.
  bool save(const core::source& src, std::int64_t at_ms, core::clock::time_point now);

 private:
  std::string dir_;
  std::string path_;
  std::chrono::milliseconds min_interval_;
  std::optional<core::source> written_;  // the rows in the file
  std::int64_t written_at_ms_ = 0;       // and the instant their ages were measured at
  bool attempted_ = false;
  core::clock::time_point last_write_{};  // the last attempt
};

}  // namespace loadns::db
