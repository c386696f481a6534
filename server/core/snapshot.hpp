#pragma once
// The immutable picture of zones, services and backends that every query is answered from.
// Built once per poll by snapshot_builder from a core::source, then shared read-only by all
// worker threads; nothing in it changes after it is published except the answer counters,
// which are atomics owned by the balancer and outlive snapshots.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/zone_index.hpp"

namespace loadns::core {

using clock = std::chrono::steady_clock;

enum class policy : std::uint8_t { least_load, least_connections, round_robin, random };
/// services.policy's words for each policy.
inline constexpr std::array<std::string_view, 4> policy_names = {"least_load", "least_connections",
                                                                 "round_robin", "random"};

/// Effective state (decided by classify() in backends.hpp), in precedence order: the first
/// that applies, as in the backend_status view. Only `serving` backends are chosen, unless
/// too few of a family are left (then the service's on_empty decides: see family_mode).
enum class backend_state : std::uint8_t { disabled, draining, stale, unhealthy, full, serving };
/// backend_status.state and the metrics' label for each backend_state.
inline constexpr std::array<std::string_view, 6> backend_state_names = {
    "disabled", "draining", "stale", "unhealthy", "full", "serving"};

/// What a service does when fewer than min_serving backends of a family serve
/// (services.on_empty).
enum class on_empty_action : std::uint8_t { fail_open, nodata, servfail };
/// services.on_empty's words and the metrics' label for each on_empty_action.
inline constexpr std::array<std::string_view, 3> on_empty_action_names = {"fail_open", "nodata",
                                                                          "servfail"};

enum class family : std::uint8_t { v4 = 0, v6 = 1 };

class answer_counter;  // server/core/answer_counter.hpp

/// No twin: the backend has an address of one family only.
inline constexpr std::uint32_t no_twin = 0xFFFF'FFFF;

/// One backend as one family answers it. A dual-stack host (a row with a second_address) is
/// one load unit seen from both families: it is in both of its service's lists, as two
/// entries with the same id, state and answer counters, each with its own family's address,
/// each the other's `twin`. The entry made from second_address has `second` set: code that
/// counts hosts rather than addresses (metrics, sharing, logs) skips it.
struct backend {
  std::int64_t id = 0;
  std::string name;
  family fam = family::v4;
  std::array<std::uint8_t, 16> address{};  ///< network order; v4 uses the first 4 bytes
  std::string address_text;
  /// Index of the same host in the other family's list of the service; no_twin if none.
  std::uint32_t twin = no_twin;
  /// This entry is a dual-stack host's second address: the host is counted at its twin.
  bool second = false;
  bool enabled = true;
  bool draining = false;
  std::optional<std::int64_t> capacity;
  double weight = 1.0;
  std::int64_t connections = 0;
  /// When the agent took its last report, on this server's steady clock (converted with the
  /// database's now() read in the same poll). Empty: no agent, load counted from answers alone.
  std::optional<clock::time_point> reported_at;
  /// The agent's judgement of its service: false when it reported healthy => false (NULL,
  /// no agent's word, counts as healthy). `check` holds its words for the failed check.
  bool healthy = true;
  std::string check;
  /// When it last entered service (backends.serving_since), on this server's steady clock
  /// (converted like reported_at); slow start ramps from it. Empty: NULL, no slow start.
  std::optional<clock::time_point> serving_since;
  backend_state state = backend_state::serving;
  /// Answers this server handed this backend; shared by all threads, kept across snapshots.
  std::shared_ptr<answer_counter> answer_count;
  /// Answers the other servers of the zone handed it, at the times they gave them, as they
  /// share them through PostgreSQL (server/db/sharer.hpp); kept across snapshots. Null in
  /// snapshots built without it (tests): then only this server's own answers count.
  std::shared_ptr<answer_counter> shared;
};

/// How queries of one family are answered, decided once per snapshot (decide_candidates()).
enum class family_mode : std::uint8_t {
  serving,    ///< from the serving backends (none at all: NODATA, nothing is missing)
  fail_open,  ///< too few serve, on_empty fail_open: from every enabled backend (panic mode)
  nodata,     ///< too few serve, on_empty nodata (or fail_open with none enabled): NODATA
  servfail,   ///< too few serve, on_empty servfail: SERVFAIL
};

/// The on_empty action behind a mode other than `serving`.
constexpr on_empty_action action_of(family_mode m) noexcept {
  return m == family_mode::servfail ? on_empty_action::servfail
         : m == family_mode::nodata ? on_empty_action::nodata
                                    : on_empty_action::fail_open;
}

/// The backends of one family that answer, decided once per snapshot (decide_candidates()).
struct family_candidates {
  std::vector<std::uint32_t> indices;  ///< into service::backends[family], in database order
  family_mode mode = family_mode::serving;
  std::uint32_t serving = 0;  ///< backends of the family in state `serving`
};

struct service {
  std::string name;  ///< lower case, no trailing dot
  std::uint32_t ttl = 60;
  std::uint16_t records_per_response = 1;  ///< the services.answers column
  bool accept_nonce = true;
  policy pol = policy::least_load;
  std::chrono::milliseconds stale_after{10'000};
  /// Fewer serving backends of a family than this (0: never) and `on_empty` applies.
  std::uint32_t min_serving = 1;
  on_empty_action on_empty = on_empty_action::fail_open;
  /// Slow start window (services.slow_start; zero: off): see slow_start.hpp.
  std::chrono::milliseconds slow_start{0};
  std::size_t index = 0;  ///< position in snapshot::services; keys per-thread balancer state
  /// Backends of each family (indexed by family), in database order.
  std::array<std::vector<backend>, 2> backends;
  /// Per family: who the balancer chooses from.
  std::array<family_candidates, 2> candidates;
};

struct snapshot {
  std::uint64_t generation = 0;
  clock::time_point built_at{};
  std::vector<service> services;
  zone_index zones;  ///< zones, their names, static records, and the services they hold
};

}  // namespace loadns::core
