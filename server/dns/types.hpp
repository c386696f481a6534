#pragma once
// Numbers from the IANA DNS parameters registry that the server uses.

#include <cstdint>

namespace loadns::dns {

/// RCODEs (RFC 1035 4.1.1); values above 15 need an OPT record for their upper 8 bits
/// (RFC 6891 6.1.3).
enum class rcode : std::uint16_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,    ///< RFC 6891 6.1.3
  badcookie = 23,  ///< RFC 7873 8
};

enum class opcode : std::uint8_t { query = 0, iquery = 1, status = 2, notify = 4, update = 5 };

/// RR types: plain integers, because unknown values are routine on the wire.
namespace type {
inline constexpr std::uint16_t a = 1;
inline constexpr std::uint16_t ns = 2;
inline constexpr std::uint16_t cname = 5;
inline constexpr std::uint16_t soa = 6;
inline constexpr std::uint16_t mx = 15;
inline constexpr std::uint16_t txt = 16;
inline constexpr std::uint16_t aaaa = 28;
inline constexpr std::uint16_t opt = 41;
inline constexpr std::uint16_t tkey = 249;
inline constexpr std::uint16_t tsig = 250;
inline constexpr std::uint16_t ixfr = 251;
inline constexpr std::uint16_t axfr = 252;
inline constexpr std::uint16_t mailb = 253;
inline constexpr std::uint16_t maila = 254;
inline constexpr std::uint16_t any = 255;
}  // namespace type

namespace qclass {
inline constexpr std::uint16_t in = 1;
inline constexpr std::uint16_t ch = 3;
inline constexpr std::uint16_t any = 255;
}  // namespace qclass

}  // namespace loadns::dns
