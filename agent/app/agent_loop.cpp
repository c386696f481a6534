#include "agent/app/agent_loop.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>

#include "agent/count/connection_counter.hpp"
#include "agent/report/reporter.hpp"

namespace loadns::agent {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds first_backoff{500};
constexpr milliseconds max_backoff{10'000};

// Logs what the counter does only when it changes: the method in use, or a failure.
class count_log {
 public:
  void note(const count_result& r) {
    const state now =
        r ? (r.method == count_method::netlink ? state::netlink : state::proc) : state::failing;
    if (now == state_) {
      return;
    }
    if (now == state::failing) {
      spdlog::error("counting failed ({}: {}); reports keep the last count", to_string(r.method),
                    r.error.message());
    } else if (now == state::proc) {
      spdlog::warn("counting with /proc/net/tcp{{,6}} (netlink sock_diag unavailable)");
    } else {
      spdlog::info("counting with netlink sock_diag");
    }
    state_ = now;
  }

 private:
  enum class state : std::uint8_t { none, netlink, proc, failing };
  state state_ = state::none;
};

}  // namespace

int run_agent(const config& cfg, stop_signals& signals) {
  connection_counter counter(cfg.filter, cfg.counter);
  reporter db(cfg.db.effective);
  count_log counting;
  std::minstd_rand jitter(static_cast<std::minstd_rand::result_type>(::getpid()));

  report r{cfg.service, cfg.name, cfg.address.to_string(), 0, cfg.capacity, false};
  bool have_count = false;
  bool report_due = false;

  enum class db_state : std::uint8_t { unknown, up, down, refused };
  db_state state = db_state::unknown;
  bool ever_connected = false;
  milliseconds backoff = first_backoff;
  auto next_count = clock::now();
  auto next_attempt = clock::now();

  for (;;) {
    auto now = clock::now();
    if (now >= next_count) {
      const count_result c = counter.count();
      counting.note(c);
      if (c) {
        r.connections = c.established;
        have_count = true;
        report_due = true;
      }
      next_count += cfg.interval;
      if (next_count <= now) {
        next_count = now + cfg.interval;  // we fell behind: skip, no burst
      }
    }

    if (report_due && have_count && now >= next_attempt) {
      const reporter::outcome o = db.send(r);
      if (o.ok()) {
        report_due = false;
        backoff = first_backoff;
        if (state != db_state::up) {
          if (!ever_connected) {
            spdlog::info("connected to the database; reporting {} connections every {} ms",
                         r.connections, cfg.interval.count());
          } else {
            spdlog::info("database reachable again; reports resumed ({} connections)",
                         r.connections);
          }
          ever_connected = true;
          state = db_state::up;
        }
        spdlog::debug("reported {} connections", r.connections);
      } else {
        const db_state now_state =
            o.what == reporter::outcome::kind::refused ? db_state::refused : db_state::down;
        if (state != now_state) {
          if (now_state == db_state::refused) {
            spdlog::error("report refused by the database: {}; retrying with backoff", o.error);
          } else {
            spdlog::warn(
                "{}: {}; counting goes on, retrying with backoff",
                state == db_state::up ? "database connection lost" : "database unreachable",
                o.error);
          }
          state = now_state;
        }
        // Full jitter on the upper half: agents restarted together do not retry together.
        const auto half = backoff.count() / 2;
        const auto wait =
            milliseconds(half + static_cast<long>(jitter() % static_cast<unsigned long>(half + 1)));
        now = clock::now();
        next_attempt = now + wait;
        backoff = std::min(backoff * 2, max_backoff);
      }
    }

    auto wake = next_count;
    if (report_due && have_count) {
      wake = std::min(wake, std::max(next_attempt, clock::now()));
    }
    if (const int sig = signals.wait_until(wake); sig != 0) {
      spdlog::info("{} received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }

  if (!cfg.drain_on_exit) {
    spdlog::info("exiting without draining (--no-drain-on-exit)");
    return 0;
  }
  // Drain: the latest count with draining = true, so the servers stop handing us out at once.
  // Two tries: the first may find a connection that died while we slept.
  if (const count_result c = counter.count(); c) {
    r.connections = c.established;
  }
  r.draining = true;
  reporter::outcome o;
  for (int attempt = 0; attempt < 2 && !o.ok(); ++attempt) {
    o = db.send(r);
  }
  if (o.ok()) {
    spdlog::info("reported draining ({} connections); exiting", r.connections);
  } else {
    spdlog::error("could not report draining: {}; exiting", o.error);
  }
  return 0;
}

}  // namespace loadns::agent
