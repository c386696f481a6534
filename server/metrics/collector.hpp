#pragma once
// Gathers the server's figures into one Prometheus page. Reads only atomics and the current
// snapshot: scraping never slows queries.

#include <string>

#include "server/core/snapshot_holder.hpp"
#include "server/db/refresher.hpp"
#include "server/db/sharer.hpp"
#include "server/net/server.hpp"

namespace loadns::metrics {

struct sources {
  const net::server& dns;
  const core::snapshot_holder& snapshots;
  const db::refresher_stats& database;
  const db::sharer_stats* sharing = nullptr;  ///< null: counts are not shared (--share-db off)
};

/// The /metrics page.
std::string render(const sources& s);

}  // namespace loadns::metrics
