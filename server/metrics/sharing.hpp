#pragma once
// The metrics of answer-count sharing (server/db/sharer.hpp): what it writes and reads, how
// long each takes, whom it hears from, and whether it works.

#include "server/db/sharer.hpp"
#include "server/metrics/exposition.hpp"

namespace loadns::metrics {

/// Appends the loadns_share_* families.
void render_sharing(exposition& e, const db::sharer_stats& s);

}  // namespace loadns::metrics
