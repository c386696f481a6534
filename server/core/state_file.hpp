#pragma once
// The state file of --state-dir: one poll's rows (core::source, the snapshot builder's input)
// in a small versioned binary format, so that a server restarted while PostgreSQL is down can
// answer from its last good snapshot. Pure functions over bytes; server/db/state_store does
// the file I/O. docs/operations.md says when the file is written and read.
//
// Layout, every integer little-endian:
//   "LOADNSSF"        8 octets, the magic
//   version           u32 (state_file_version)
//   payload length    u64
//   payload           the rows, below
//   checksum          u64, FNV-1a over every octet before it (header and payload)
// Payload: saved_at (i64, ms since the Unix epoch), then zones, services, backends and records,
// each a u32 count and the rows field by field in source.hpp's order. Strings are a u32 length
// and the octets; optionals an octet 0/1 and the value when 1; doubles their IEEE-754 bits.
// Report ages and times in service are stored as wall-clock instants (saved_at - age) and
// turned back into ages against the reader's clock, so a backend's staleness is judged by the
// time that really passed, restarts included.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/core/source.hpp"

namespace loadns::core {

/// Raised when a field is added to source.hpp: an older file is then refused, not misread.
inline constexpr std::uint32_t state_file_version = 1;

/// The file's bytes for `src`, read at wall-clock `saved_at_ms` (ms since the Unix epoch: the
/// instant the report ages of `src` were measured at).
std::string encode_state(const source& src, std::int64_t saved_at_ms);

/// Whether `a` (ages measured at wall-clock `a_ms`) and `b` (at `b_ms`) hold the same rows,
/// report and service times as instants within `tolerance_ms` of each other: the ages the
/// clock adds between two polls, and the jitter of measuring them, are no change; a new
/// report, or anything else that changed, is.
bool same_state(const source& a, std::int64_t a_ms, const source& b, std::int64_t b_ms,
                std::int64_t tolerance_ms = 1000);

struct decoded_state {
  std::optional<source> src;  ///< empty when refused
  std::string error;          ///< why it was refused: damaged, truncated, foreign
  std::int64_t saved_at_ms = 0;
};

/// Reads a state file's bytes, with report ages and times in service measured at wall-clock
/// `now_ms` (report ages never negative). Refuses anything but exactly one intact file of
/// this version.
decoded_state decode_state(std::string_view bytes, std::int64_t now_ms);

}  // namespace loadns::core
