#include "server/db/sharer.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/conninfo.hpp"
#include "server/core/share_ledger.hpp"

namespace loadns::db {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// One statement per flush: this server's aged rows out (and anyone's twice as old: servers
// that stopped), the new counts in. Rows are never updated: a flush is a new number.
constexpr const char* flush_sql = R"(
WITH aged AS (
  DELETE FROM loadns.shared_answers
   WHERE flushed_at < now() - $3::interval
     AND (server = $1 OR flushed_at < now() - 2 * $3::interval))
INSERT INTO loadns.shared_answers (server, flush, backend_id, answers)
SELECT $1, $2, u.backend_id, u.answers
  FROM unnest($4::bigint[], $5::integer[]) AS u(backend_id, answers))";

// The other servers' flushes newer than the last one applied of each, within the history a
// prediction looks at, and the database's now() (one row even when there is nothing new).
// $5 narrows the index scan to rows flushed since shortly before the last read: a write
// started earlier than that and committed since would have run longer than the statement
// timeout allows.
constexpr const char* read_sql = R"(
SELECT (extract(epoch FROM now()) * 1000)::bigint, r.server, r.flush, r.backend_id, r.answers,
       (extract(epoch FROM r.flushed_at) * 1000)::bigint
  FROM (SELECT 1) AS one
  LEFT JOIN (
    SELECT a.server, a.flush, a.backend_id, a.answers, a.flushed_at
      FROM loadns.shared_answers a
      LEFT JOIN unnest($2::text[], $3::bigint[]) AS k(server, flush) ON k.server = a.server
     WHERE a.flushed_at > greatest(now() - $4::interval, to_timestamp($5::bigint / 1000.0))
       AND a.server <> $1
       AND a.flush > coalesce(k.flush, 0)) AS r ON true)";

std::string one_line(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

template <typename T>
std::string int_array(const std::vector<T>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string interval_of(milliseconds ms) {
  return std::to_string(ms.count()) + " milliseconds";
}

}  // namespace

std::string default_server_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "unknown");
  std::random_device rd;
  const std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd();
  return fmt::format("{}/{:012x}", host, r & 0xffff'ffff'ffffULL);
}

struct sharer::impl {
  impl(sharer_options o, const core::snapshot_holder& h)
      : opt(std::move(o)), holder(h), ledger(opt.flush_interval) {}

  void run();
  bool connect();
  void cycle();
  void flush(const core::snapshot& snap);
  void read(const core::snapshot& snap);
  void wait_until(steady::time_point deadline);
  void on_error(const std::string& what, const std::string& why);

  sharer_options opt;
  const core::snapshot_holder& holder;
  core::share_ledger ledger;
  sharer_stats stats;
  std::string effective_conninfo;
  std::string redacted;
  std::unique_ptr<pqxx::connection> conn;
  std::int64_t flush_number = 0;
  std::int64_t last_read_db_ms = 0;  ///< the database's now() at the last read
  steady::time_point last_flush_ok{};
  core::own_answers own;
  std::vector<core::shared_row> rows;
  std::string last_error;  // empty: the last cycle succeeded; logged once per change
  bool ever_connected = false;

  std::thread thread;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
};

void sharer::impl::on_error(const std::string& what, const std::string& why) {
  stats.errors.fetch_add(1, std::memory_order_relaxed);
  const auto line = what + ": " + one_line(why);
  if (line == last_error) return;
  spdlog::warn(
      "sharing answer counts ({}): {}; balancing on this server's own counts until it "
      "works again",
      redacted, line);
  last_error = line;
}

bool sharer::impl::connect() {
  try {
    auto c = std::make_unique<pqxx::connection>(effective_conninfo);
    pqxx::nontransaction tx(*c);
    tx.exec("SET statement_timeout = " + std::to_string(opt.statement_timeout.count()));
    tx.commit();
    conn = std::move(c);
  } catch (const std::exception& e) {
    on_error("connect", e.what());
    return false;
  }
  stats.connected.store(true, std::memory_order_relaxed);
  if (!last_error.empty() || !ever_connected) {
    spdlog::info("sharing answer counts through {} as {}", redacted, opt.server_id);
  }
  ever_connected = true;
  last_error.clear();
  return true;
}

void sharer::impl::flush(const core::snapshot& snap) {
  ledger.collect(snap, own);
  const auto now = steady::now();
  if (last_flush_ok != steady::time_point{} &&
      now - last_flush_ok > core::answer_counter::history) {
    // The database was away for longer than any prediction looks back: these answers are in
    // the backends' reports by now, and flushing them as new would count them again.
    ledger.drop();
    last_flush_ok = now;
    return;
  }
  if (own.backends.empty()) {
    ledger.commit();
    last_flush_ok = now;
    return;
  }
  const auto started = steady::now();
  pqxx::nontransaction tx(*conn);
  tx.exec_params(flush_sql, opt.server_id, flush_number + 1, interval_of(opt.retention),
                 int_array(own.backends), int_array(own.answers));
  ++flush_number;
  ledger.commit();
  last_flush_ok = steady::now();
  stats.last_flush_us.store(duration_cast<microseconds>(last_flush_ok - started).count(),
                            std::memory_order_relaxed);
  stats.flushes.fetch_add(1, std::memory_order_relaxed);
  stats.rows_written.fetch_add(own.backends.size(), std::memory_order_relaxed);
}

void sharer::impl::read(const core::snapshot& snap) {
  const auto started = steady::now();
  pqxx::nontransaction tx(*conn);
  const auto servers = ledger.known_servers();
  const auto flushes = ledger.known_flushes();
  const std::int64_t since_ms =
      last_read_db_ms > 0 ? last_read_db_ms - 2 * opt.statement_timeout.count() : 0;
  const auto result = tx.exec_params(
      read_sql, opt.server_id, text_array(servers), int_array(flushes),
      interval_of(duration_cast<milliseconds>(core::answer_counter::history)), since_ms);
  const auto local_now = steady::now();
  rows.clear();
  std::int64_t db_now_ms = 0;
  for (const auto& row : result) {
    db_now_ms = row[0].as<std::int64_t>();
    if (row[1].is_null()) continue;
    rows.push_back({row[1].as<std::string>(), row[2].as<std::int64_t>(), row[3].as<std::int64_t>(),
                    row[4].as<std::int64_t>(), row[5].as<std::int64_t>()});
  }
  last_read_db_ms = db_now_ms;
  // now() is the statement's start; the rows were read a round trip before local_now at most.
  const auto added = ledger.apply(snap, rows, db_now_ms, started + (local_now - started) / 2);
  ledger.expire(local_now);
  stats.last_read_us.store(duration_cast<microseconds>(local_now - started).count(),
                           std::memory_order_relaxed);
  stats.reads.fetch_add(1, std::memory_order_relaxed);
  stats.rows_read.fetch_add(rows.size(), std::memory_order_relaxed);
  stats.answers_shared.fetch_add(added, std::memory_order_relaxed);
  stats.servers.store(ledger.servers(), std::memory_order_relaxed);
}

void sharer::impl::cycle() {
  const auto snap = holder.current();
  if (!snap) return;  // nothing to count yet
  try {
    flush(*snap);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const std::exception& e) {
    on_error("write", e.what());
    return;
  }
  try {
    read(*snap);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const std::exception& e) {
    on_error("read", e.what());
    return;
  }
  if (!last_error.empty()) {
    spdlog::info("sharing answer counts through {} works again", redacted);
    last_error.clear();
  }
}

void sharer::impl::wait_until(steady::time_point deadline) {
  std::unique_lock lock(mutex);
  cv.wait_until(lock, deadline, [&] { return stopping; });
}

void sharer::impl::run() {
  auto backoff = opt.reconnect_min;
  auto next = steady::now();
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (stopping) break;
    }
    if (!conn) {
      if (!connect()) {
        wait_until(steady::now() + backoff);
        backoff = std::min(backoff * 2, opt.reconnect_max);
        continue;
      }
      backoff = opt.reconnect_min;
    }
    next = std::max(next + opt.flush_interval, steady::now());
    try {
      cycle();
    } catch (const std::exception& e) {
      on_error("connection lost", e.what());
      conn.reset();
      stats.connected.store(false, std::memory_order_relaxed);
    }
    wait_until(next);
  }
  conn.reset();
  stats.connected.store(false, std::memory_order_relaxed);
}

sharer::sharer(sharer_options options, const core::snapshot_holder& holder)
    : impl_(std::make_unique<impl>(std::move(options), holder)) {
  auto& o = impl_->opt;
  if (o.flush_interval <= milliseconds(0))
    throw std::invalid_argument("flush interval must be > 0");
  if (o.server_id.empty()) o.server_id = default_server_id();
  impl_->effective_conninfo =
      conninfo_with_defaults(o.conninfo, {{"connect_timeout", "3"},
                                          {"keepalives", "1"},
                                          {"keepalives_idle", "10"},
                                          {"keepalives_interval", "3"},
                                          {"keepalives_count", "3"},
                                          {"tcp_user_timeout", "3000"},
                                          {"application_name", "loadns-server share"}});
  impl_->redacted = redact_conninfo(o.conninfo);
}

sharer::~sharer() {
  stop();
}

void sharer::start() {
  if (impl_->thread.joinable()) return;
  impl_->thread = std::thread([this] { impl_->run(); });
}

void sharer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const sharer_stats& sharer::stats() const noexcept {
  return impl_->stats;
}

const std::string& sharer::server_id() const noexcept {
  return impl_->opt.server_id;
}

}  // namespace loadns::db
