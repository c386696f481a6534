#include "server/db/refresher.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "common/conninfo.hpp"
#include "server/core/snapshot_publisher.hpp"
#include "server/core/state_changes.hpp"
#include "server/db/errors.hpp"
#include "server/db/refresher_log.hpp"
#include "server/db/session.hpp"
#include "server/db/state_store.hpp"

namespace loadns::db {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bounded connects and prompt detection of a dead peer: libpq waits forever otherwise.
std::string with_defaults(const std::string& conninfo) {
  return conninfo_with_defaults(conninfo, {{"connect_timeout", "5"},
                                           {"keepalives", "1"},
                                           {"keepalives_idle", "10"},
                                           {"keepalives_interval", "3"},
                                           {"keepalives_count", "3"},
                                           {"tcp_user_timeout", "10000"},
                                           {"application_name", "loadns-server"}});
}

}  // namespace

struct refresher::impl {
  impl(refresher_options o, core::snapshot_holder& h, core::counter_registry& c)
      : opt(std::move(o)),
        log(stats, redact_conninfo(opt.conninfo)),
        db(with_defaults(opt.conninfo), opt.statement_timeout, stats.notifications),
        holder(h),
        publisher(h, c, &stats.prediction_errors) {
    if (!opt.state_dir.empty()) store.emplace(opt.state_dir, opt.state_interval);
  }

  void run();
  bool connect();
  void poll();
  void watchdog();
  void restore();
  void keep(const core::source& src, core::clock::time_point db_now);
  void wait(steady::time_point deadline) { db.wait(deadline, wake_fd, stopping); }

  refresher_options opt;
  refresher_stats stats;
  refresher_log log;  // one line per change, not per poll
  session db;
  core::snapshot_holder& holder;
  core::snapshot_publisher publisher;
  std::optional<state_store> store;

  std::thread thread;
  std::thread watchdog_thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> finished{false};        // run() returned
  std::atomic<bool> poll_requested{false};  // request_poll(): read the database now
  int wake_fd = -1;
  std::mutex watchdog_mutex;  // only for watchdog_cv: stop() wakes the watchdog
  std::condition_variable watchdog_cv;
};

bool refresher::impl::connect() {
  try {
    db.open();
  } catch (const std::exception& e) {
    log.connect_failed(describe(e), holder.current() != nullptr);
    return false;
  }
  log.connected(db.where(), db.server_version(), opt.poll_interval);
  // A hot standby refuses LISTEN, and would not receive the primary's notifications anyway:
  // there, polling alone keeps it fresh.
  try {
    db.listen();
  } catch (const std::exception& e) {
    if (classify(e, db.connection()) == failure::session) throw;
    log.listen_failed(describe(e), opt.poll_interval);
  }
  return true;
}

void refresher::impl::poll() {
  const auto t0 = steady::now();
  auto loaded = db.load();
  stats.polls.fetch_add(1, std::memory_order_relaxed);
  stats.last_poll_duration_us.store(
      std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count(),
      std::memory_order_relaxed);
  log.poll_succeeded();
  const auto before = holder.current();
  // A snapshot from disk predicted nothing the new reports can be held to.
  const bool from_disk = stats.snapshot_from_disk.load(std::memory_order_relaxed);
  if (from_disk) {  // said before it is published, as restore() does
    stats.snapshot_from_disk.store(false, std::memory_order_relaxed);
    spdlog::info("the database's snapshot replaces the one from the state file");
  }
  std::vector<core::skipped_row> skipped;
  publisher.publish(loaded.src, loaded.db_now, &skipped, !from_disk);
  log.skipped(skipped);
  keep(loaded.src, loaded.db_now);
  // Backends that left or rejoined the answers, and families that on_empty took over: one
  // line each, when it happens (not per poll).
  if (const auto after = holder.current(); after && after != before) {
    for (const auto& line : core::describe_changes(before.get(), *after)) spdlog::info("{}", line);
  }
}

// Serves the state file's rows until the first good poll; a file that is missing, damaged or
// foreign leaves the server without a snapshot (SERVFAIL) instead.
void refresher::impl::restore() {
  const auto loaded = store->load();
  if (loaded.missing) {
    spdlog::info("no state file {} yet: one is written after the first good poll", store->path());
    return;
  }
  if (!loaded.src) {
    spdlog::error("state file {} refused, not served: {}", store->path(), loaded.error);
    return;
  }
  // Flagged before it is published, so that whoever sees its answers sees the flag too.
  stats.snapshot_from_disk.store(true, std::memory_order_relaxed);
  std::vector<core::skipped_row> skipped;
  publisher.publish(*loaded.src, core::clock::now(), &skipped);
  log.skipped(skipped);
  const auto age = wall_ms_at(core::clock::now()) - loaded.saved_at_ms;
  spdlog::warn(
      "answering from the state file {} saved {:.1f} s ago ({} zones, {} services, {} backends, "
      "{} records) until the database answers",
      store->path(), static_cast<double>(age) / 1000.0, loaded.src->zones.size(),
      loaded.src->services.size(), loaded.src->backends.size(), loaded.src->records.size());
}

// Writes the rows of a good poll to the state file when they changed (state_store paces it).
// The rows served: a zone row the builder could not use is saved as its last good version.
void refresher::impl::keep(const core::source& src, core::clock::time_point db_now) {
  if (!store) return;
  try {
    std::optional<core::source> served;
    if (publisher.zone_rows() != src.zones) {
      served = src;
      served->zones = publisher.zone_rows();
    }
    const auto& rows = served ? *served : src;
    if (store->save(rows, wall_ms_at(db_now), core::clock::now())) log.state_written(store->path());
  } catch (const std::exception& e) {
    log.state_write_failed(e.what());
  }
}

void refresher::impl::run() {
  if (store) restore();
  auto backoff = opt.reconnect_min;
  auto next_poll = steady::now();
  steady::time_point last_poll{};
  while (!stopping.load(std::memory_order_acquire)) {
    try {
      if (!db.is_open()) {
        if (!connect()) {
          wait(steady::now() + backoff);
          backoff = std::min(backoff * 2, opt.reconnect_max);
          continue;
        }
        backoff = opt.reconnect_min;
        next_poll = steady::now();
      }
      const bool requested = poll_requested.exchange(false, std::memory_order_acq_rel);
      if (!requested && !db.notified() && steady::now() < next_poll) {
        wait(next_poll);
        continue;
      }
      if (!requested && steady::now() < next_poll && steady::now() < last_poll + opt.notify_gap) {
        db.wait(last_poll + opt.notify_gap, wake_fd, stopping, true);
        continue;
      }
      db.take_notification();
      const auto started = steady::now();
      last_poll = started;
      try {
        poll();
      } catch (const std::exception& e) {
        if (classify(e, db.connection()) == failure::session) throw;
        log.poll_failed(describe(e));
      }
      next_poll = started + opt.poll_interval;
    } catch (const std::exception& e) {
      if (stopping.load(std::memory_order_acquire)) break;
      log.lost(describe(e));
      db.close();
      try {
        wait(steady::now() + backoff);
      } catch (const std::exception&) {
        // Nothing: without a connection only the wake descriptor is polled.
      }
      backoff = std::min(backoff * 2, opt.reconnect_max);
    }
  }
  db.close();
  stats.connected.store(false, std::memory_order_relaxed);
}

void refresher::impl::watchdog() {
  // Past twice the statement timeout a poll is stuck on a peer that vanished: cut its socket.
  const auto limit = std::max(opt.statement_timeout * 2, milliseconds(2000));
  std::unique_lock lock(watchdog_mutex);
  while (!stopping.load(std::memory_order_acquire)) {
    watchdog_cv.wait_for(lock, milliseconds(250));
    if (db.interrupt_load(limit)) {
      spdlog::warn("database poll stuck for over {} ms; closing the connection", limit.count());
    }
  }
}

refresher::refresher(refresher_options options, core::snapshot_holder& holder,
                     core::counter_registry& counters) {
  if (options.poll_interval <= milliseconds(0)) {
    throw std::invalid_argument("poll interval must be > 0");
  }
  impl_ = std::make_unique<impl>(std::move(options), holder, counters);
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
  {
    std::lock_guard lock(s.watchdog_mutex);  // the watchdog is waiting, or sees stopping
  }
  s.watchdog_cv.notify_all();
  // A poll in flight normally ends within milliseconds; cutting it short leaves libpq/libpqxx
  // state half torn down, so it gets a grace period before its socket is shut.
  const auto grace = steady::now() + milliseconds(1000);
  while (!s.finished.load(std::memory_order_acquire) && steady::now() < grace) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (!s.finished.load(std::memory_order_acquire)) s.db.interrupt_load(steady::duration::zero());
  s.thread.join();
  s.watchdog_thread.join();
  ::close(s.wake_fd);
  s.wake_fd = -1;
}

void refresher::request_poll() noexcept {
  auto& s = *impl_;
  if (s.wake_fd < 0) return;
  s.poll_requested.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(s.wake_fd, &one, sizeof one);
}

const refresher_stats& refresher::stats() const noexcept {
  return impl_->stats;
}

}  // namespace loadns::db
