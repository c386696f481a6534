#pragma once
// Durations as operators write them on the command lines of every loadns binary:
// "500ms", "2s", "1.5s", "1m", "1h"; a bare number is seconds.

#include <chrono>
#include <optional>
#include <string_view>

namespace loadns {

/// Milliseconds, or empty for anything else: negative, no digits, an unknown unit, blanks,
/// or more than a day (longer than anyone means here: a typo). Zero is allowed; callers that
/// need a positive interval check for it.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(
    std::string_view text) noexcept;

}  // namespace loadns
