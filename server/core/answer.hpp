#pragma once
// The answering policy: one decision ladder from a query's bytes to a response's bytes,
// shared by the UDP and TCP paths. No allocation, no exceptions, no locks, no I/O.

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/core/balancer.hpp"
#include "server/core/snapshot.hpp"

namespace loadns::core {

enum class transport : std::uint8_t { udp, tcp };

/// What answer() did, for metrics and the query log.
struct answer_info {
  std::uint16_t qtype = 0;  ///< 0 when no question could be read
  std::uint8_t rcode = 0;   ///< the full (extended) RCODE, e.g. 16 for BADVERS
  bool edns = false;        ///< the response carries an OPT record
  bool truncated = false;   ///< TC was set
};

/// Largest number of records of one service in one response.
inline constexpr std::size_t max_service_answers = 64;

/// Writes the response to `query` into `out` (the caller gives 65535 bytes); for UDP the
/// response is limited to the client's size (512 without EDNS, else its EDNS size clamped
/// to [512, 1232]) and truncated with TC when it does not fit. Returns the length; 0 = drop.
/// `snap` is null before the first snapshot (then: SERVFAIL). Backends come from `bal`.
std::size_t answer(std::span<const std::uint8_t> query, std::span<std::uint8_t> out, transport t,
                   const snapshot* snap, balancer& bal, answer_info& info) noexcept;

}  // namespace loadns::core
