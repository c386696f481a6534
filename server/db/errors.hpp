#pragma once
// The one place that decides what a database failure means for the refresher. Internal to
// server/db (includes libpqxx).

#include <exception>
#include <string>

#include <pqxx/connection>

namespace loadns::db {

enum class failure {
  /// The statement failed but the session is usable (a statement timeout, a missing grant,
  /// a schema not migrated yet): keep the connection, poll again at the next interval.
  statement,
  /// The connection is gone or its state unknown (broken link, a commit in doubt): drop it
  /// and reconnect.
  session,
};

/// What `e`, thrown while `conn` (null when there is none) was in use, means.
failure classify(const std::exception& e, const pqxx::connection* conn) noexcept;

/// `e`'s message on one line, in words for a log: libpqxx's generic text for a socket closed
/// under it becomes "the server closed the connection".
std::string describe(const std::exception& e);

/// `s` with newlines and tabs as spaces and no trailing blanks.
std::string one_line(std::string s);

}  // namespace loadns::db
