#pragma once
// The 12-octet message header (RFC 1035 4.1.1), read and written by offset and mask: no
// structs laid over the wire, no bitfields, no alignment or endianness assumptions.

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/dns/types.hpp"

namespace loadns::dns::header {

inline constexpr std::size_t size = 12;

inline constexpr std::size_t id_offset = 0;
inline constexpr std::size_t flags_offset = 2;
inline constexpr std::size_t qdcount_offset = 4;
inline constexpr std::size_t ancount_offset = 6;
inline constexpr std::size_t nscount_offset = 8;
inline constexpr std::size_t arcount_offset = 10;

// Flags word (octets 2-3).
inline constexpr std::uint16_t qr = 0x8000;
inline constexpr std::uint16_t opcode_mask = 0x7800;
inline constexpr unsigned opcode_shift = 11;
inline constexpr std::uint16_t aa = 0x0400;
inline constexpr std::uint16_t tc = 0x0200;
inline constexpr std::uint16_t rd = 0x0100;
inline constexpr std::uint16_t ra = 0x0080;
inline constexpr std::uint16_t z = 0x0040;
inline constexpr std::uint16_t ad = 0x0020;  ///< RFC 4035 3.2.3
inline constexpr std::uint16_t cd = 0x0010;  ///< RFC 4035 3.2.2
inline constexpr std::uint16_t rcode_mask = 0x000F;

/// The 16-bit field at `offset`; the caller guarantees msg.size() >= header::size.
inline std::uint16_t get(std::span<const std::uint8_t> msg, std::size_t offset) noexcept {
  return static_cast<std::uint16_t>((msg[offset] << 8) | msg[offset + 1]);
}
inline void set(std::span<std::uint8_t> msg, std::size_t offset, std::uint16_t v) noexcept {
  msg[offset] = static_cast<std::uint8_t>(v >> 8);
  msg[offset + 1] = static_cast<std::uint8_t>(v);
}

inline std::uint16_t id(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, id_offset);
}
inline std::uint16_t flags(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, flags_offset);
}
inline std::uint8_t opcode_of(std::uint16_t flags) noexcept {
  return static_cast<std::uint8_t>((flags & opcode_mask) >> opcode_shift);
}
inline std::uint16_t qdcount(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, qdcount_offset);
}
inline std::uint16_t ancount(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, ancount_offset);
}
inline std::uint16_t nscount(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, nscount_offset);
}
inline std::uint16_t arcount(std::span<const std::uint8_t> msg) noexcept {
  return get(msg, arcount_offset);
}

}  // namespace loadns::dns::header
