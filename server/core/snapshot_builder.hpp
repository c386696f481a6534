#pragma once
// Turns the rows of one poll (core::source) into an immutable snapshot: validates every row
// (row_checks.hpp), renders record data to wire form (dns/rdata_text.hpp), finds each name's
// zone, adds the empty non-terminals, and adds the backends with their states, candidates and
// answer counters (backends.hpp).
// A row the server cannot use (a service, backend or record) is left out with the reason, and
// the rest builds: one bad row never holds back the others' changes. A bad zone row fails the
// whole build (leaving the zone out would withdraw all its names), so the server keeps its
// last good snapshot.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/snapshot.hpp"
#include "server/core/source.hpp"

namespace loadns::core {

/// The tables rows come from, for loadns_rows_skipped_total{table}.
enum class table : std::uint8_t { zones, services, backends, records };
inline constexpr std::size_t table_count = 4;
std::string_view table_name(table t) noexcept;

/// A row left out of a snapshot.
struct skipped_row {
  core::table table = table::records;
  std::string row;     ///< which: its id or name and data, e.g. record 12 'a.example.com' TXT '"x"'
  std::string reason;  ///< why, in words
};

/// The most octets one RRset's records may take: 12 each (a compressed owner, type, class, TTL,
/// data length) plus their data. A response with it then fits the 65,535 octets of a DNS
/// message over TCP (RFC 1035 4.2.2) with the header, the longest question (259) and EDNS.
/// migrations/0012 refuses the rows that would pass it.
inline constexpr std::size_t max_rrset_octets = 65'000;

/// The weights a backend may have: between them every share, ratio of shares and predicted
/// load the balancer computes stays finite (a weight of 1e-320 against 1 is an infinite scale).
inline constexpr double min_weight = 1e-6;
inline constexpr double max_weight = 1e6;

/// The longest stale_after and slow_start loaded (100 years): the database's intervals go far
/// beyond what a bigint of milliseconds holds.
inline constexpr std::chrono::milliseconds max_interval{3'153'600'000'000};

struct build_result {
  std::shared_ptr<const snapshot> snap;  ///< null when the build failed (a bad zone row)
  std::string error;                     ///< why it failed, naming the zone row
  std::vector<skipped_row> skipped;      ///< rows left out of `snap`, in the order met
};

/// Builds a snapshot of `src`. `now` is this server's steady clock at the moment the poll read
/// the database's now(), so report ages become time points on the server's clock. Answer
/// counters come from `counters` (one per backend id, kept across snapshots). Never throws
/// for bad data; may throw std::bad_alloc.
build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters);

}  // namespace loadns::core
