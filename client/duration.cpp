#include "client/duration.hpp"

#include <charconv>
#include <cmath>

namespace loadns::client {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  double value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, value, std::chars_format::fixed);
  if (ec != std::errc{} || end == first || !std::isfinite(value) || value < 0) {
    return {};
  }
  const std::string_view unit(end, static_cast<std::size_t>(last - end));
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else {
    return {};
  }
  const double ms = std::round(value * scale);
  if (ms > 86'400'000.0) {
    return {};
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

}  // namespace loadns::client
