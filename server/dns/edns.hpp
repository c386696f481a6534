#pragma once
// EDNS(0) (RFC 6891): the OPT pseudo-record read from a query and written into a response.

#include <array>
#include <cstddef>
#include <cstdint>

#include "server/dns/reader.hpp"
#include "server/dns/writer.hpp"

namespace loadns::dns {

namespace option {
inline constexpr std::uint16_t nsid = 3;      ///< RFC 5001
inline constexpr std::uint16_t cookie = 10;   ///< RFC 7873
inline constexpr std::uint16_t padding = 12;  ///< RFC 7830
}  // namespace option

/// The largest UDP payload this server advertises and sends: the DNS flag day 2020 value,
/// which avoids IP fragmentation on practically every path.
inline constexpr std::uint16_t advertised_udp_size = 1232;
/// The UDP size every client accepts (RFC 1035 2.3.4), also the floor for smaller EDNS
/// values (RFC 6891 6.2.5).
inline constexpr std::uint16_t classic_udp_size = 512;

/// The OPT record of a query.
struct edns {
  bool present = false;
  std::uint16_t udp_size = 0;  ///< requestor's payload size, as sent
  std::uint8_t extended_rcode = 0;
  std::uint8_t version = 0;
  bool dnssec_ok = false;          ///< the DO bit (RFC 3225)
  bool nsid = false;               ///< an NSID option was present (RFC 5001)
  std::uint8_t cookie_length = 0;  ///< 0: no COOKIE option; else 8 or 16..40
  std::array<std::uint8_t, 40> cookie{};
};

/// Reads the OPT record's fields after its owner name and TYPE: CLASS (the UDP size), TTL
/// (extended RCODE, version, flags), RDLENGTH and the options. Options are walked only for
/// version 0 (a later version may define them differently, RFC 6891 6.1.3); unknown ones are
/// skipped (RFC 6891 6.1.2). False on error (the cause is in `r`).
bool read_opt(reader& r, edns& e) noexcept;

/// The COOKIE option of a response: the client's cookie and ours (RFC 7873 4, RFC 9018 4).
inline constexpr std::size_t reply_cookie_size = 24;

/// What the OPT record of a response carries.
struct edns_reply {
  std::uint16_t udp_size = advertised_udp_size;
  std::uint8_t extended_rcode = 0;  ///< upper 8 bits of a 12-bit RCODE
  bool dnssec_ok = false;           ///< copied from the query (RFC 3225 3)
  bool has_cookie = false;          ///< a COOKIE option follows (RFC 7873 5.2)
  std::array<std::uint8_t, reply_cookie_size> cookie{};
};

/// Octets write_opt() writes without options.
inline constexpr std::size_t opt_record_size = 11;
/// Octets the COOKIE option adds: code, length, value.
inline constexpr std::size_t cookie_option_size = 4 + reply_cookie_size;

/// Octets write_opt() writes for `reply`.
inline constexpr std::size_t opt_size(const edns_reply& reply) noexcept {
  return opt_record_size + (reply.has_cookie ? cookie_option_size : 0);
}

/// Writes an OPT record: root owner, version 0, only the DO flag of the defined ones (RFC
/// 6891 6.1.4: undefined flags are cleared), and the COOKIE option when there is one.
void write_opt(writer& w, const edns_reply& reply) noexcept;

}  // namespace loadns::dns
