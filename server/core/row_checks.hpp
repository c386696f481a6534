#pragma once
// What one row of a table must hold to be served, and the values it becomes: a zone row's SOA
// and NS RRsets, a service row's settings, a record against the name it joins. Pure functions
// of a row; the snapshot builder (snapshot_builder.cpp) finds each name's zone, builds the
// names and leaves out the rows these refuse. Backend rows: backends.hpp.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/snapshot.hpp"
#include "server/core/source.hpp"
#include "server/core/zone_index.hpp"

namespace loadns::core {

/// RFC 2181 8: a TTL is 0..2^31-1; larger values are read as 0 by receivers, so cap them.
inline std::uint32_t capped_ttl(std::uint32_t t) {
  return std::min<std::uint32_t>(t, 0x7FFFFFFF);
}

/// `s` in single quotes, as messages name a row's words.
std::string quoted(std::string_view s);

/// A record row for messages: its id (when it has one), name, type and data (long data cut).
std::string record_label(const record_row& row);

/// Fills the SOA and NS RRsets and the negative TTL of `z` from `row`; why it cannot (an
/// invalid mname, rname or nameserver, no nameservers), or empty.
std::string zone_records(const zone_row& row, zone& z);

/// Fills the settings of `svc` from `row` (TTL, answers, policy, stale_after, min_serving,
/// on_empty, slow_start); why it cannot, or empty.
std::string service_settings(const service_row& row, service& svc);

/// Why a record of `rrtype` with `rdata` cannot join the name's node `n` as it stands, or
/// empty. The rows met first (lower ids) stay: a row that conflicts with them is left out.
std::string record_conflict(const name_node& n, std::uint16_t rrtype,
                            const std::vector<std::uint8_t>& rdata);

}  // namespace loadns::core
