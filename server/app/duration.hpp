#pragma once
// Durations on the command line: "250ms", "1s", "2m", "1h"; a bare number means seconds.

#include <chrono>
#include <optional>
#include <string_view>

namespace loadns::app {

/// Parses a positive duration; empty on anything else (negative, unknown unit, overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace loadns::app
