#pragma once
// What an operator wants in the log when a new snapshot replaces the old one: which backends
// changed effective state (with the agent's words when its health check failed), and which
// service families started or stopped answering by their on_empty. One line per change, so
// that a flapping backend is visible, and nothing when a poll changed nothing.

#include <cstddef>
#include <string>
#include <vector>

#include "server/core/snapshot.hpp"

namespace loadns::core {

/// The changes from `before` (null: the first snapshot, when only backends and families that
/// are not serving are worth a line) to `after`, as log lines. At most `limit` lines, the last
/// of them saying how many more there were (a fleet registering at once is one event).
std::vector<std::string> describe_changes(const snapshot* before, const snapshot& after,
                                          std::size_t limit = 20);

}  // namespace loadns::core
