#include "common/duration.hpp"

#include <cstdint>

namespace loadns {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  // Integer and fraction parts in fixed point (micro-units) so "1.5s" is exact.
  std::size_t pos = 0;
  std::uint64_t whole = 0;
  std::uint64_t fraction = 0;  // millionths
  std::size_t digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    whole = whole * 10 + static_cast<std::uint64_t>(text[pos] - '0');
    if (whole > 1'000'000'000ULL) {  // keeps whole * ms_per_unit far from overflow
      return std::nullopt;
    }
    ++pos;
    ++digits;
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::uint64_t scale = 100'000;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction += static_cast<std::uint64_t>(text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++digits;
    }
  }
  if (digits == 0) {
    return std::nullopt;
  }

  const std::string_view unit = text.substr(pos);
  std::uint64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "s" || unit.empty()) {
    ms_per_unit = 1'000;
  } else if (unit == "m" || unit == "min") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }

  const std::uint64_t ms = whole * ms_per_unit + fraction * ms_per_unit / 1'000'000;
  constexpr std::uint64_t one_day_ms = 86'400'000;
  if (ms > one_day_ms) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

}  // namespace loadns
