#pragma once
// The answering policy: one decision ladder from a query's bytes to a response's bytes,
// shared by the UDP and TCP paths. No allocation, no exceptions, no locks, no I/O.

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/core/balancer.hpp"
#include "server/core/snapshot.hpp"
#include "server/guard/cookie_secrets.hpp"
#include "server/guard/server_cookie.hpp"

namespace loadns::core {

enum class transport : std::uint8_t { udp, tcp };

/// What answer() did, for metrics and the query log.
struct answer_info {
  std::uint16_t qtype = 0;  ///< 0 when no question could be read
  std::uint8_t rcode = 0;   ///< the full (extended) RCODE, e.g. 16 for BADVERS
  bool edns = false;        ///< the response carries an OPT record
  bool truncated = false;   ///< TC was set
  /// How the service's family was answered: anything but `serving` means too few backends
  /// served and the service's on_empty shaped the response (counted per action).
  family_mode mode = family_mode::serving;
  /// What the query's COOKIE option proved; `malformed` when it was answered with FORMERR.
  guard::cookie_verdict cookie = guard::cookie_verdict::none;
  /// What the response is about, for rate limiting (NSD's answer classes): the service for
  /// its nonce names, the zone for NXDOMAIN, else the query name as sent (points into the
  /// query or the snapshot); empty before a zone matched (errors share a class per rcode).
  std::span<const std::uint8_t> subject;
  /// `subject` is a snapshot's name (lower case), not the query's (any case).
  bool subject_lower = false;
  /// Octets of header and echoed question at the start of the response.
  std::uint16_t question_end = 0;
  /// Octets of the OPT record at the end of the response (0: none).
  std::uint16_t opt_length = 0;
};

/// Who asked, for DNS cookies (RFC 7873).
struct client_info {
  std::span<const std::uint8_t> address;           ///< 4 or 16 octets, network order
  const guard::cookie_secrets* cookies = nullptr;  ///< null: COOKIE options are not answered
  std::uint32_t now = 0;  ///< seconds since the epoch, for cookie timestamps (RFC 9018 4.3)
  guard::cookie_memo* memo = nullptr;  ///< the answering thread's, to spare repeated hashes
};

/// Largest number of records of one service in one response.
inline constexpr std::size_t max_records_per_response = 64;

/// Writes the response to `query` into `out` (the caller gives 65535 bytes); for UDP the
/// response is limited to the client's size (512 without EDNS, else its EDNS size clamped
/// to [512, 1232]) and truncated with TC when it does not fit. Returns the length; 0 = drop.
/// `snap` is null before the first snapshot (then: SERVFAIL). Backends come from `bal`.
/// A COOKIE option is answered (RFC 7873 5.2) when `client.cookies` is set.
std::size_t answer(std::span<const std::uint8_t> query, std::span<std::uint8_t> out, transport t,
                   const snapshot* snap, balancer& bal, answer_info& info,
                   const client_info& client = {}) noexcept;

/// Cuts the response of `length` octets answer() wrote into `out` down to its header, question
/// and OPT record (with the cookie: the client can come back with it), TC set, no other
/// records (RFC 2181 9): what a rate-limited client gets instead of the answer, so that a
/// real one retries over TCP. Returns the new length.
std::size_t truncate_to_question(std::span<std::uint8_t> out, std::size_t length,
                                 const answer_info& info) noexcept;

}  // namespace loadns::core
