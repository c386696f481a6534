#pragma once
// What the fault tests share: a steady stream of good queries counted from a background thread
// (the "answers continue throughout" half of every case), metrics scraped from the server, the
// server's peak memory, a running loadns-agent, and a streaming-replication standby.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/server_process.hpp"

namespace loadns::test::faults {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Seconds since `t0`, for printed figures.
inline double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

/// The zone and services every fault case starts from (addresses from 192.0.2.0/24).
extern const char* const seed_sql;

/// Server options for the binary under test reading `conninfo`.
server_options server_options_for(std::string conninfo);

/// Counts of a query_load.
struct load_counts {
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;                ///< NOERROR with at least one answer record
  std::uint64_t failed = 0;                  ///< timeout, wrong id or another rcode
  std::chrono::milliseconds longest_gap{0};  ///< longest time without an answered query
  load_counts operator-(const load_counts& o) const {
    return {sent - o.sent, answered - o.answered, failed - o.failed, longest_gap};
  }
};

/// A background client sending one query for `name` (type A) every `pace`, each with its own
/// timeout, over UDP or TCP (a fresh connection per query over TCP). Bounded: it stops by
/// itself after `max_duration`. Stopped and joined by stop() or the destructor.
class query_load {
 public:
  query_load(std::uint16_t port, std::string name, transport t = transport::udp,
             std::chrono::milliseconds pace = 5ms, std::chrono::milliseconds timeout = 1000ms,
             std::chrono::milliseconds max_duration = 120s);
  ~query_load();
  query_load(const query_load&) = delete;
  query_load& operator=(const query_load&) = delete;

  load_counts counts() const;
  /// Resets the longest gap, so that a phase can measure its own.
  void reset_gap();
  /// The A addresses of the last answered query.
  std::vector<std::string> last_addresses() const;
  void stop();

 private:
  void run(std::uint16_t port, transport t, std::chrono::milliseconds pace,
           std::chrono::milliseconds timeout, std::chrono::milliseconds max_duration);

  std::string name_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  load_counts counts_;
  steady::time_point last_answer_;
  std::vector<std::string> last_addresses_;
  std::thread thread_;
};

/// The value of the first sample on the server's /metrics whose name and labels start with
/// `series` (e.g. `loadns_tcp_rejected_total` or `loadns_queries_total{transport="udp"`),
/// summed over every matching sample; nullopt when /metrics did not answer.
std::optional<double> metric(std::uint16_t metrics_port, std::string_view series);

/// VmHWM (peak resident set) and VmRSS of a process, in kB; 0 when unreadable.
std::uint64_t peak_rss_kb(pid_t pid);
std::uint64_t rss_kb(pid_t pid);

/// Occurrences of `what` in `text`.
std::size_t occurrences(std::string_view text, std::string_view what);

/// The A (or AAAA) addresses one UDP query for `name` returns, sorted; nullopt without an
/// answer.
std::optional<std::vector<std::string>> addresses(std::uint16_t port, std::string_view name,
                                                  std::uint16_t type = rr_type::a);

/// A running loadns-agent (the real binary), output to a log file; SIGKILLed at the end.
class agent_process {
 public:
  explicit agent_process(const std::vector<std::string>& args);
  ~agent_process();
  agent_process(const agent_process&) = delete;
  agent_process& operator=(const agent_process&) = delete;
  bool running();
  std::string log() const;

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

/// A hot standby of `primary` (streaming replication, `scripts/pg-cluster standby`), destroyed
/// with its folder when the object goes.
class standby_cluster {
 public:
  explicit standby_cluster(const pg_cluster& primary);
  ~standby_cluster();
  standby_cluster(const standby_cluster&) = delete;
  standby_cluster& operator=(const standby_cluster&) = delete;

  std::uint16_t port() const noexcept { return port_; }
  void stop();
  void start();
  /// psql as postgres on database loadns of the standby; stdout, throws on error.
  std::string psql(std::string_view sql) const;

 private:
  std::string script(const std::vector<std::string>& args) const;
  std::filesystem::path base_dir_;
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
};

}  // namespace loadns::test::faults
