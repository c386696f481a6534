#include "agent/app/agent_loop.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>

#include "agent/count/connection_counter.hpp"
#include "agent/health/fall_rise.hpp"
#include "agent/health/health_check.hpp"
#include "agent/report/reporter.hpp"
#include "agent/shed/shedder.hpp"

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

// The next tick of a periodic deadline; a loop that fell behind skips ticks, no burst.
clock::time_point next_tick(clock::time_point tick, milliseconds period, clock::time_point now) {
  tick += period;
  return tick <= now ? now + period : tick;
}

}  // namespace

int run_agent(const config& cfg, stop_signals& signals) {
  connection_counter counter(cfg.filter, cfg.counter);
  reporter db(cfg.db.effective, cfg.sql_timeout, signals.fd());
  count_log counting;
  std::minstd_rand jitter(static_cast<std::minstd_rand::result_type>(::getpid()));

  std::optional<health_check> check;
  if (cfg.check.mode != check_mode::none) {
    check.emplace(cfg.check, cfg.filter, cfg.addresses(), cfg.check_timeout, counter);
  }
  fall_rise health(cfg.fall, cfg.rise);

  shedder shed(cfg.on_shed, cfg.shed == shed_action::destroy, cfg.filter, counter);
  if (std::string why; !shed.probe_destroy(why)) {
    spdlog::error("{}", why);
  }

  report r;
  r.service = cfg.service;
  r.name = cfg.name;
  r.address = cfg.address.to_string();
  r.capacity = cfg.capacity;
  if (cfg.second_address) {
    r.second_address = cfg.second_address->to_string();
  }
  bool have_count = false;
  bool report_due = false;

  enum class db_state : std::uint8_t { unknown, up, down, refused };
  db_state state = db_state::unknown;
  bool ever_connected = false;
  milliseconds backoff = first_backoff;
  auto next_count = clock::now();
  auto next_check = clock::now();
  auto next_attempt = clock::now();

  for (;;) {
    auto now = clock::now();
    if (check && now >= next_check) {
      const check_outcome c = check->run();
      if (health.observe(c.ok, c.definite)) {
        r.healthy = health.healthy();
        r.check_detail = r.healthy ? std::nullopt : std::optional<std::string>(c.detail);
        if (r.healthy) {
          spdlog::info("health: healthy ({} check)", cfg.check.text());
        } else {
          spdlog::warn("health: unhealthy: {}", c.detail);
        }
        // At once, not at the next interval: the servers leave an unhealthy backend out as
        // soon as the report lands. A fresh count goes with it.
        report_due = true;
        next_count = now;
        if (state == db_state::up) {
          next_attempt = now;
        }
      }
      now = clock::now();
      next_check = next_tick(next_check, cfg.check_interval, now);
    }

    if (now >= next_count) {
      const count_result c = counter.count();
      counting.note(c);
      if (c) {
        r.connections = c.established;
        have_count = true;
        report_due = true;
        shed.observe();  // --shed destroy: which connections are new since the last count
      }
      next_count = next_tick(next_count, cfg.interval, now);
    }

    // The first report waits for the first judgement of health (made in the first turn).
    const bool ready = have_count && (!check || health.known());
    if (report_due && ready && now >= next_attempt) {
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
        spdlog::debug("reported {} connections{}", r.connections, r.healthy ? "" : ", unhealthy");
        if (o.shed > 0) {
          if (shed.active()) {
            // The count reported with it: what report() judged the share against.
            spdlog::info("report asks to shed {} connections: {} ({} reported)", o.shed,
                         shed.shed(o.shed), r.connections);
          } else {
            spdlog::debug("report asks to shed {} connections (no --on-shed or --shed)", o.shed);
          }
        }
      } else if (o.what != reporter::outcome::kind::cancelled) {
        const db_state now_state =
            o.what == reporter::outcome::kind::unreachable ? db_state::down : db_state::refused;
        if (state != now_state) {
          if (o.what == reporter::outcome::kind::timed_out) {
            spdlog::error("report timed out ({} ms --sql-timeout): {}; retrying with backoff",
                          cfg.sql_timeout.count(), o.error);
          } else if (now_state == db_state::refused) {
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
    shed.poll();

    auto wake = next_count;
    if (check) {
      wake = std::min(wake, next_check);
    }
    if (report_due && ready) {
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
  // A second try only when the first failed fast (a connection found dead): a lock wait
  // already spent the SQL timeout, and the service manager's stop timeout is running.
  if (const count_result c = counter.count(); c) {
    r.connections = c.established;
  }
  r.draining = true;
  const auto started = clock::now();
  reporter::outcome o = db.send(r);
  if (!o.ok() && o.what == reporter::outcome::kind::unreachable &&
      clock::now() - started < milliseconds(1'000)) {
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
