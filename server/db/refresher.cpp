#include "server/db/refresher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>
#include <vector>

#include "server/core/snapshot_builder.hpp"
#include "common/conninfo.hpp"
#include "server/db/load_source.hpp"

namespace loadns::db {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr const char* notify_channel = "loadns_changed";

std::string one_line(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int poll_timeout_ms(steady::time_point deadline) {
  const auto left = duration_cast<milliseconds>(deadline - steady::now()).count();
  if (left <= 0) return 0;
  return left > 60'000 ? 60'000 : static_cast<int>(left) + 1;  // +1: never wake just early
}

}  // namespace

struct refresher::impl {
  impl(refresher_options o, core::snapshot_holder& h, core::counter_registry& c)
      : opt(std::move(o)), holder(h), counters(c) {}

  // LISTEN loadns_changed; libpqxx calls this from get_notifs() on the refresher thread.
  struct listener final : pqxx::notification_receiver {
    listener(pqxx::connection& c, impl& o)
        : pqxx::notification_receiver(c, notify_channel), owner(o) {}
    void operator()(const std::string&, int) override {
      owner.stats.notifications.fetch_add(1, std::memory_order_relaxed);
      owner.pending_notify = true;
    }
    impl& owner;
  };

  void run();
  bool connect();
  void disconnect() noexcept;
  void poll_database();
  void wait_until(steady::time_point deadline);
  void watchdog();
  /// Shuts the connection's socket down if a poll is in progress, so that a blocked libpq
  /// call returns (with broken_connection) instead of hanging on a dead peer.
  void interrupt_poll() noexcept;

  // Logging once per state change, not per poll.
  void on_connect_failed(const std::string& why);
  void on_connected();
  void on_lost(const std::string& why);
  void on_poll_error(const std::string& why);

  refresher_options opt;
  core::snapshot_holder& holder;
  core::counter_registry& counters;
  refresher_stats stats;

  std::string effective_conninfo;
  std::string redacted;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<listener> recv;
  bool pending_notify = false;
  std::uint64_t generation = 0;

  enum class link : std::uint8_t { never, up, down };
  link link_state = link::never;
  steady::time_point down_since{};
  std::string last_poll_error;   // empty: the last poll succeeded
  std::string last_build_error;  // empty: the last build succeeded
  bool listen_warned = false;

  std::thread thread;
  std::thread watchdog_thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};  // run() returned
  int wake_fd = -1;

  // The socket of a poll in progress (-1 when none) and when that poll started; guarded so the
  // watchdog never touches a descriptor the refresher thread has closed.
  std::mutex poll_mutex;
  std::condition_variable watchdog_cv;
  int active_sock = -1;
  steady::time_point poll_started{};
};

void refresher::impl::on_connect_failed(const std::string& why) {
  stats.connected.store(false, std::memory_order_relaxed);
  if (link_state == link::down) return;
  if (link_state == link::never) {
    spdlog::warn("database unreachable ({}): {}; retrying (no snapshot yet: answers SERVFAIL)",
                 redacted, one_line(why));
  } else {
    spdlog::warn("database unreachable ({}): {}; answering from the last snapshot, retrying",
                 redacted, one_line(why));
  }
  link_state = link::down;
  down_since = steady::now();
}

void refresher::impl::on_lost(const std::string& why) {
  stats.connected.store(false, std::memory_order_relaxed);
  if (link_state == link::down) return;
  // libpqxx's generic text when the socket closed under it (server shutdown or crash).
  const auto reason =
      why == "Connection to database failed" ? "the server closed the connection" : one_line(why);
  spdlog::warn("database connection lost: {}; answering from the last snapshot, reconnecting",
               reason);
  link_state = link::down;
  down_since = steady::now();
}

void refresher::impl::on_connected() {
  stats.connected.store(true, std::memory_order_relaxed);
  const char* host = conn->hostname();
  const char* port = conn->port();
  const std::string where =
      std::string(host != nullptr ? host : "?") + ":" + (port != nullptr ? port : "?");
  if (link_state == link::down && stats.polls.load(std::memory_order_relaxed) > 0) {
    const auto secs = std::chrono::duration<double>(steady::now() - down_since).count();
    spdlog::info("database connection resumed after {:.1f} s ({})", secs, where);
  } else {
    spdlog::info("database connected ({}, server {}, poll every {} ms)", where,
                 conn->server_version(), opt.poll_interval.count());
  }
  link_state = link::up;
}

void refresher::impl::on_poll_error(const std::string& why) {
  stats.poll_errors.fetch_add(1, std::memory_order_relaxed);
  const auto line = one_line(why);
  if (line == last_poll_error) return;
  spdlog::warn("database poll failed: {}; keeping the last snapshot", line);
  last_poll_error = line;
}

bool refresher::impl::connect() {
  try {
    auto c = std::make_unique<pqxx::connection>(effective_conninfo);
    {
      pqxx::nontransaction tx(*c);
      tx.exec("SET statement_timeout = " + std::to_string(opt.statement_timeout.count()));
    }
    conn = std::move(c);
  } catch (const std::exception& e) {
    stats.poll_errors.fetch_add(1, std::memory_order_relaxed);
    on_connect_failed(e.what());
    return false;
  }
  on_connected();
  // LISTEN fails on a hot standby ("cannot execute LISTEN during recovery"), and a standby
  // would not receive the primary's notifications anyway: there, polling alone keeps it fresh.
  try {
    recv = std::make_unique<listener>(*conn, *this);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const std::exception& e) {
    if (!listen_warned) {
      spdlog::warn("LISTEN {} failed ({}); changes are picked up by polling every {} ms",
                   notify_channel, one_line(e.what()), opt.poll_interval.count());
      listen_warned = true;
    }
  }
  return true;
}

void refresher::impl::disconnect() noexcept {
  {
    std::lock_guard lock(poll_mutex);
    active_sock = -1;
  }
  recv.reset();  // before its connection; libpqxx swallows UNLISTEN errors on a dead link
  conn.reset();
  pending_notify = false;
}

void refresher::impl::interrupt_poll() noexcept {
  std::lock_guard lock(poll_mutex);
  if (active_sock >= 0) ::shutdown(active_sock, SHUT_RDWR);
}

void refresher::impl::poll_database() {
  const auto t0 = steady::now();
  {
    std::lock_guard lock(poll_mutex);
    active_sock = conn->sock();
    poll_started = t0;
  }
  struct clear_active {
    impl& self;
    ~clear_active() {
      std::lock_guard lock(self.poll_mutex);
      self.active_sock = -1;
    }
  } guard{*this};

  auto loaded = load_source_at(*conn);
  stats.polls.fetch_add(1, std::memory_order_relaxed);
  stats.last_poll_duration_us.store(
      std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count(),
      std::memory_order_relaxed);
  if (!last_poll_error.empty()) {
    spdlog::info("database poll succeeds again");
    last_poll_error.clear();
  }

  auto built = core::build_snapshot(loaded.src, loaded.db_now, generation + 1, counters);
  if (!built.snap) {
    stats.snapshots_rejected.fetch_add(1, std::memory_order_relaxed);
    if (built.error != last_build_error) {
      spdlog::error("snapshot rejected, keeping the last good one: {}", built.error);
      last_build_error = built.error;
    }
    return;
  }
  if (!last_build_error.empty()) {
    spdlog::info("snapshot accepted again");
    last_build_error.clear();
  }
  ++generation;
  std::array<std::uint64_t, 5> by_state{};
  std::vector<std::int64_t> live;
  for (const auto& svc : built.snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) {
        const auto i = static_cast<std::size_t>(b.state);
        if (i < by_state.size()) ++by_state[i];
        live.push_back(b.id);
      }
    }
  }
  holder.publish(std::move(built.snap));
  counters.retain(live);
  for (std::size_t i = 0; i < by_state.size(); ++i) {
    stats.backends_by_state[i].store(by_state[i], std::memory_order_relaxed);
  }
  stats.last_snapshot_unix_ms.store(
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count(),
      std::memory_order_relaxed);
}

// Sleeps until `deadline`, a notification, or stop(). Notifications are read (and dispatched to
// the listener) here; a broken connection surfaces as pqxx::broken_connection.
void refresher::impl::wait_until(steady::time_point deadline) {
  // A notification that arrived during the last poll was read off the socket by libpq with the
  // results and waits in its queue: the socket will not signal it again.
  if (conn) conn->get_notifs();
  while (!stopping.load(std::memory_order_acquire) && !pending_notify) {
    std::array<pollfd, 2> fds{};
    fds[0] = pollfd{wake_fd, POLLIN, 0};
    nfds_t n = 1;
    const int sock = conn ? conn->sock() : -1;
    if (sock >= 0) fds[n++] = pollfd{sock, POLLIN, 0};
    const int timeout = poll_timeout_ms(deadline);
    if (timeout == 0) return;
    const int r = ::poll(fds.data(), n, timeout);
    if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    if (r > 0 && n == 2 && fds[1].revents != 0) conn->get_notifs();
    if (steady::now() >= deadline) return;
  }
}

void refresher::impl::run() {
  auto backoff = opt.reconnect_min;
  auto next_poll = steady::now();
  while (!stopping.load(std::memory_order_acquire)) {
    try {
      if (!conn) {
        if (!connect()) {
          wait_until(steady::now() + backoff);
          backoff = std::min(backoff * 2, opt.reconnect_max);
          continue;
        }
        backoff = opt.reconnect_min;
        next_poll = steady::now();
      }
      if (!pending_notify && steady::now() < next_poll) {
        wait_until(next_poll);
        continue;
      }
      pending_notify = false;
      const auto started = steady::now();
      try {
        poll_database();
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const pqxx::in_doubt_error&) {
        throw;
      } catch (const std::exception& e) {
        // The query failed but the session is usable (a statement timeout, a missing grant,
        // a schema not migrated yet): poll again at the next interval.
        if (conn && conn->is_open()) {
          on_poll_error(e.what());
        } else {
          throw;
        }
      }
      next_poll = started + opt.poll_interval;
    } catch (const std::exception& e) {
      if (stopping.load(std::memory_order_acquire)) break;
      stats.poll_errors.fetch_add(1, std::memory_order_relaxed);
      on_lost(e.what());
      disconnect();
      try {
        wait_until(steady::now() + backoff);
      } catch (const std::exception&) {
        // Nothing: without a connection only the wake descriptor is polled.
      }
      backoff = std::min(backoff * 2, opt.reconnect_max);
    }
  }
  disconnect();
  stats.connected.store(false, std::memory_order_relaxed);
}

void refresher::impl::watchdog() {
  // A poll may block in libpq on a peer that vanished without a reset (statement_timeout is
  // enforced by that very peer). Past twice the statement timeout, cut the socket.
  const auto limit = std::max(opt.statement_timeout * 2, milliseconds(2000));
  std::unique_lock lock(poll_mutex);
  while (!stopping.load(std::memory_order_acquire)) {
    watchdog_cv.wait_for(lock, milliseconds(250));
    if (active_sock >= 0 && steady::now() - poll_started > limit) {
      spdlog::warn("database poll stuck for over {} ms; closing the connection", limit.count());
      ::shutdown(active_sock, SHUT_RDWR);
      poll_started = steady::now();  // once per stuck poll
    }
  }
}

refresher::refresher(refresher_options options, core::snapshot_holder& holder,
                     core::counter_registry& counters)
    : impl_(std::make_unique<impl>(std::move(options), holder, counters)) {
  auto& o = impl_->opt;
  if (o.poll_interval <= milliseconds(0)) throw std::invalid_argument("poll interval must be > 0");
  // Bounded connects and prompt detection of a dead peer: libpq waits forever otherwise.
  impl_->effective_conninfo =
      conninfo_with_defaults(o.conninfo, {{"connect_timeout", "5"},
                                          {"keepalives", "1"},
                                          {"keepalives_idle", "10"},
                                          {"keepalives_interval", "3"},
                                          {"keepalives_count", "3"},
                                          {"tcp_user_timeout", "10000"},
                                          {"application_name", "loadns-server"}});
  impl_->redacted = redact_conninfo(o.conninfo);
}

refresher::~refresher() {
  stop();
}

void refresher::start() {
  auto& s = *impl_;
  if (s.thread.joinable()) return;
  s.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.wake_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  s.stopping.store(false, std::memory_order_release);
  s.finished.store(false, std::memory_order_release);
  s.thread = std::thread([&s] {
    try {
      s.run();
    } catch (const std::exception& e) {
      spdlog::critical("database refresher stopped: {}", e.what());
    }
    s.finished.store(true, std::memory_order_release);
  });
  s.watchdog_thread = std::thread([&s] { s.watchdog(); });
}

void refresher::stop() {
  auto& s = *impl_;
  if (!s.thread.joinable()) return;
  s.stopping.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(s.wake_fd, &one, sizeof one);
  s.watchdog_cv.notify_all();
  // A poll in flight normally ends within milliseconds; cutting it short leaves libpq/libpqxx
  // state half torn down, so it gets a grace period before its socket is shut.
  const auto grace = steady::now() + milliseconds(1000);
  while (!s.finished.load(std::memory_order_acquire) && steady::now() < grace) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (!s.finished.load(std::memory_order_acquire)) s.interrupt_poll();
  s.thread.join();
  s.watchdog_thread.join();
  ::close(s.wake_fd);
  s.wake_fd = -1;
}

const refresher_stats& refresher::stats() const noexcept {
  return impl_->stats;
}

}  // namespace loadns::db
