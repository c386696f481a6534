#pragma once
// Record data from presentation form (RFC 1035 5.1) to wire form, for the types loadns serves.
// Used when a snapshot is built, never on the packet path: these allocate.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::dns {

/// A domain name in text to lower-case-preserving wire form. False when invalid or the root
/// (nothing loadns serves is the root).
bool name_from_text(std::string_view text, std::vector<std::uint8_t>& wire);

/// An IPv4 or IPv6 address in text, as PostgreSQL prints an inet (a /32 or /128 mask is
/// accepted, any other is not a host). `v6` says which; `bytes` holds it in network order,
/// IPv4 in the first four.
bool address_from_text(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& bytes);

/// Record data of `type` (A, AAAA, CNAME, MX, TXT; any case) to wire RDATA. Returns false
/// with `error` in words when the data is invalid or the type not served.
bool rdata_from_text(std::string_view type, std::string_view data, std::uint16_t& rrtype,
                     std::vector<std::uint8_t>& rdata, std::string& error);

/// `s` without leading and trailing blanks and tabs.
std::string_view trim_blanks(std::string_view s) noexcept;

}  // namespace loadns::dns
