#pragma once
// Hex strings to octets, for the test vectors of the RFCs.

#include <cstdint>
#include <string_view>
#include <vector>

namespace loadns::test {

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

}  // namespace loadns::test
