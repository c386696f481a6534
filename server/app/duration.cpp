#include "server/app/duration.hpp"

#include <charconv>
#include <cstdint>

namespace loadns::app {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || rest == text.data()) return std::nullopt;
  std::string_view unit(rest, static_cast<std::size_t>(end - rest));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }
  // A day is the longest interval anyone means here; above that is a typo.
  constexpr std::uint64_t max_ms = 86'400'000;
  if (value == 0 || value > max_ms / scale) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * scale));
}

}  // namespace loadns::app
