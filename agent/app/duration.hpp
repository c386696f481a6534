#pragma once
// Durations as operators write them on command lines: "500ms", "2s", "1.5s", "1m", "1h"; a
// bare number is seconds.

#include <chrono>
#include <optional>
#include <string_view>

namespace loadns::agent {

/// Milliseconds, or empty for anything else (negative, no digits, unknown unit, overflow,
/// blanks).
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(
    std::string_view text) noexcept;

}  // namespace loadns::agent
