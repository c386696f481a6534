#pragma once
// The question section entry (RFC 1035 4.1.2): the name as sent, for echoing verbatim (RFC
// 0x20 case randomisation), and its lower-case copy, for matching.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "server/dns/name.hpp"
#include "server/dns/reader.hpp"

namespace loadns::dns {

struct question {
  std::span<const std::uint8_t> wire;  ///< the name exactly as sent (points into the query)
  name_buffer lower{};                 ///< the name folded to lower case
  std::size_t lower_length = 0;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;

  std::span<const std::uint8_t> lower_name() const noexcept {
    return std::span<const std::uint8_t>(lower).first(lower_length);
  }
  /// The lower-case name as a key for hash lookups.
  std::string_view lower_key() const noexcept {
    return {reinterpret_cast<const char*>(lower.data()), lower_length};  // NOLINT: octets as chars
  }
};

/// Reads one question entry at `r` into `q`. False on error (the cause is in `r`).
bool read_question(reader& r, question& q) noexcept;

}  // namespace loadns::dns
