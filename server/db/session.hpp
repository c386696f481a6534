#pragma once
// The refresher's database session: connect, LISTEN loadns_changed, wait for a notification
// with a deadline, read a poll's rows. libpqxx only; no snapshot logic. Internal to server/db.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <pqxx/connection>

#include "server/db/load_source.hpp"

namespace loadns::db {

class session {
 public:
  using steady = std::chrono::steady_clock;

  /// `conninfo` as libpq takes it; `notifications` counts the NOTIFYs received.
  session(std::string conninfo, std::chrono::milliseconds statement_timeout,
          std::atomic<std::uint64_t>& notifications);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Connects and sets the statement timeout. Throws what libpqxx throws.
  void open();
  /// LISTENs for changes. Throws what libpqxx throws; on a hot standby LISTEN fails ("cannot
  /// execute LISTEN during recovery") with the session still usable (see errors.hpp).
  void listen();
  bool is_open() const noexcept { return conn_ != nullptr; }
  /// The connection, for classify() (errors.hpp); null when closed.
  const pqxx::connection* connection() const noexcept { return conn_.get(); }
  /// Drops the connection (and the LISTEN) and any notification not yet taken.
  void close() noexcept;

  /// "host:port" of the open connection, and the server's version number.
  std::string where() const;
  int server_version() const;

  /// Sleeps until `deadline`, a notification, or `wake_fd` (an eventfd) readable: stop or a
  /// requested poll; the wake-up is consumed. Reads the
  /// notifications that arrive; a broken connection throws pqxx::broken_connection.
  /// With `ignore_notifications` only the deadline or `wake_fd` ends it (coalescing a flood).
  void wait(steady::time_point deadline, int wake_fd, const std::atomic<bool>& stopping,
            bool ignore_notifications = false);
  /// A notification arrived since the last take_notification(); clears it.
  bool take_notification() noexcept;
  bool notified() const noexcept { return notified_; }

  /// Reads one poll's rows (see load_source_at). Throws what libpqxx throws.
  loaded_source load();

  /// From another thread: shuts the socket down if a load() has run for longer than `limit`
  /// (a peer that vanished without a reset: statement_timeout is enforced by that very peer),
  /// or at once when `limit` is zero, so the blocked libpq call returns with
  /// broken_connection. True if it did.
  bool interrupt_load(steady::duration limit) noexcept;

 private:
  struct listener;

  std::string conninfo_;
  std::chrono::milliseconds statement_timeout_;
  std::atomic<std::uint64_t>& notifications_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<listener> listener_;
  bool notified_ = false;

  // The socket of a load in progress (-1 when none) and when it started; guarded so that
  // interrupt_load() never touches a descriptor this session's thread has closed.
  std::mutex load_mutex_;
  int loading_socket_ = -1;
  steady::time_point load_started_{};
};

}  // namespace loadns::db
