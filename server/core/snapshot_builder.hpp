#pragma once
// Turns the rows of one poll (core::source) into an immutable snapshot: validates every row
// (row_checks.hpp), renders record data to wire form (dns/rdata_text.hpp), finds each name's
// zone, adds the empty non-terminals, and adds the backends with their states, candidates and
// answer counters (backends.hpp).
// A row the server cannot use is left out with the reason, and the rest builds: one bad row
// never holds back the others' changes. A bad zone row is replaced by its last good version
// (the caller keeps build_result::zone_rows for the next build), so that its names stay
// served; a zone with no good version yet is not served, nor are the rows whose zone column
// names it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
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
  std::shared_ptr<const snapshot> snap;  ///< never null
  std::vector<skipped_row> skipped;      ///< rows left out of `snap`, in the order met
  /// `src.zones` with each row left out replaced by the last good version served in its place
  /// (when it had one): what the next build takes as `last_good`, and the state file keeps.
  std::vector<zone_row> zone_rows;
};

/// Builds a snapshot of `src`. `now` is this server's steady clock at the moment the poll read
/// the database's now(), so report ages become time points on the server's clock. Answer
/// counters come from `counters` (one per backend id, kept across snapshots). `last_good`: the
/// previous build's zone_rows, whose good row of a name is served in place of one that cannot
/// be. Never throws for bad data; may throw std::bad_alloc.
build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters, std::span<const zone_row> last_good = {});

}  // namespace loadns::core
