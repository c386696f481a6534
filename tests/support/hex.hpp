#pragma once
// Hex strings to octets and back, for the test vectors of the RFCs.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loadns::test {

/// Octets of hex (two digits an octet, either case).
inline std::vector<std::uint8_t> from_hex(std::string_view s) {
  auto nibble = [](char c) {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(nibble(s[i]) << 4 | nibble(s[i + 1])));
  }
  return out;
}

/// Lower-case hex of octets.
inline std::string to_hex(std::span<const std::uint8_t> b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

}  // namespace loadns::test
