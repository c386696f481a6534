#pragma once
// Sends load reports to PostgreSQL: `SELECT loadns.report($1..$9)` as a prepared statement on
// one connection, re-established on the next report after any failure. The only agent code
// that includes libpqxx; its exceptions stop here.
//
// Every statement runs under statement_timeout and lock_timeout (--sql-timeout), so a
// `LOCK loadns.backends` or a long migration cannot hold the agent; and a stop signal that
// arrives during a call cancels it (PQcancel from a watcher thread), so the agent can still
// attempt its draining report before the service manager's stop timeout.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace loadns::agent {

/// One call of loadns.report(service, name, address, connections, capacity, draining,
/// healthy, check_detail, second_address).
struct report {
  std::string service;
  std::string name;
  std::string address;  ///< presentation form; the database casts it to inet
  std::uint64_t connections = 0;
  std::optional<std::int64_t> capacity;  ///< empty: NULL, the operator's value stays
  bool draining = false;
  bool healthy = true;
  std::optional<std::string> check_detail;    ///< the failed check in words; empty: NULL
  std::optional<std::string> second_address;  ///< the other family's address; empty: NULL
};

class reporter {
 public:
  /// `conninfo` as libpq takes it (see conninfo.hpp). Connects lazily. `sql_timeout` becomes
  /// the session's statement_timeout and lock_timeout. When `stop_fd` >= 0, a call in
  /// progress is cancelled as soon as it becomes readable (the agent's signalfd: a pending
  /// stop signal; it is polled, never read, here).
  reporter(std::string conninfo, std::chrono::milliseconds sql_timeout, int stop_fd = -1);
  ~reporter();
  reporter(const reporter&) = delete;
  reporter& operator=(const reporter&) = delete;

  struct outcome {
    enum class kind : std::uint8_t {
      ok,
      unreachable,  ///< no connection, or it broke: the database is away
      refused,      ///< the database answered with an error (missing schema, privilege, ...)
      timed_out,    ///< statement_timeout or lock_timeout expired (a lock held too long)
      cancelled,    ///< a stop signal cancelled the call
    };
    kind what = kind::unreachable;
    std::string error;      ///< what failed, one line, without the conninfo
    std::int64_t shed = 0;  ///< report()'s result: connections to shed (0 if NULL)

    [[nodiscard]] bool ok() const noexcept { return what == kind::ok; }
  };

  /// Connects if not connected, then sends `r`. Blocks at most about connect_timeout plus
  /// the SQL timeout. On a broken connection the connection is dropped, so the next call
  /// connects afresh.
  outcome send(const report& r) noexcept;

  [[nodiscard]] bool connected() const noexcept;

  /// Closes the connection (the next send() reconnects).
  void disconnect() noexcept;

 private:
  struct session;  // the libpqxx connection, kept out of this header
  void watch(int stop_fd) noexcept;

  std::string conninfo_;
  std::chrono::milliseconds sql_timeout_;
  std::unique_ptr<session> session_;

  // The cancel watcher: while busy_, a readable stop_fd cancels the call once.
  std::mutex mutex_;
  std::condition_variable changed_;
  bool busy_ = false;
  bool cancelled_ = false;
  bool quit_ = false;
  int wake_fd_ = -1;  // eventfd: ends the watcher's poll when a call ends or at shutdown
  std::thread watcher_;
};

}  // namespace loadns::agent
