#pragma once
// Durations on the command line, written as the other loadns binaries take them:
// "500ms", "2s", "1.5s", "1m"; a bare number means seconds.

#include <chrono>
#include <optional>
#include <string_view>

namespace loadns::client {

/// Parses a non-negative duration with an optional unit (ms, s, m); nullopt when malformed
/// or longer than a day.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

}  // namespace loadns::client
