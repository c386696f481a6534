#pragma once
// The agent's database connection string: the user's libpq conninfo (key=value or a
// postgresql:// URI, multi-host included), completed with defaults that keep the agent's
// single loop responsive when the database is away, and a redacted form for logs.

#include <optional>
#include <string>
#include <string_view>

namespace loadns::agent {

struct conninfo {
  /// What the reporter connects with: every option the user gave, plus, where not given,
  /// connect_timeout=5, keepalives (idle 10 s, interval 5 s, count 3), tcp_user_timeout=15000
  /// (ms), application_name=loadns-agent and target_session_attrs=read-write (agents write
  /// to the primary; README, "Several servers, one PostgreSQL").
  std::string effective;
  /// The same without secrets (password shown as ********), for logs and error messages.
  std::string redacted;
};

/// Parses `text` with libpq's own parser. Empty with `error` set when libpq rejects it.
[[nodiscard]] std::optional<conninfo> make_conninfo(std::string_view text, std::string& error);

}  // namespace loadns::agent
