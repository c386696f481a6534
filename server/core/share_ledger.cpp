#include "server/core/share_ledger.hpp"

#include <algorithm>

namespace loadns::core {

share_ledger::share_ledger(clock::duration flush_interval, clock::duration history)
    : half_flush_(flush_interval / 2), history_(history) {}

void share_ledger::collect(const snapshot& snap, own_answers& out) {
  out.clear();
  pending_.clear();
  for (const service& svc : snap.services) {
    for (const auto& list : svc.backends) {
      for (const backend& b : list) {
        if (!b.answer_count || b.second) continue;  // a dual-stack host's counter, once
        const std::uint64_t total = b.answer_count->total();
        pending_[b.id] = total;
        const auto it = flushed_.find(b.id);
        const std::uint64_t before = it == flushed_.end() ? 0 : it->second;
        if (total > before) {
          out.backends.push_back(b.id);
          out.answers.push_back(static_cast<std::int64_t>(total - before));
        }
      }
    }
  }
}

void share_ledger::commit() {
  // Backends gone from the snapshot are gone from pending_ too: forgotten here.
  flushed_.swap(pending_);
  pending_.clear();
}

void share_ledger::drop() {
  commit();
}

std::uint64_t share_ledger::apply(const snapshot& snap, const std::vector<shared_row>& rows,
                                  std::int64_t db_now_ms, clock::time_point local_now) {
  if (rows.empty()) return 0;
  by_id_.clear();
  for (const service& svc : snap.services) {
    for (const auto& list : svc.backends) {
      for (const backend& b : list) {
        if (b.shared) by_id_[b.id] = b.shared.get();
      }
    }
  }
  // Only flushes newer than those applied before this read (a read returns every row of a
  // flush; the query asks only for newer ones, this guards against a repeated read).
  std::unordered_map<std::string, std::int64_t> applied_before;
  for (const auto& [server, k] : known_) applied_before[server] = k.flush;

  std::uint64_t added = 0;
  for (const shared_row& r : rows) {
    auto& k = known_[r.server];
    const auto before = applied_before.find(r.server);
    if (before != applied_before.end() && r.flush <= before->second) continue;
    k.flush = std::max(k.flush, r.flush);
    k.last_heard = local_now;
    const auto it = by_id_.find(r.backend);
    if (it == by_id_.end() || r.answers <= 0) continue;  // not a backend of ours (yet)
    // The flush covers the period before flushed_at: place it in the middle, on our clock.
    const auto age =
        std::chrono::milliseconds(std::max<std::int64_t>(0, db_now_ms - r.flushed_at_ms));
    const clock::time_point at = local_now - age - half_flush_;
    if (local_now - at >= history_) continue;  // older than any report that still matters
    const auto n = static_cast<std::uint32_t>(std::min<std::int64_t>(r.answers, 1 << 30));
    it->second->add(at, n);
    added += n;
  }
  return added;
}

void share_ledger::expire(clock::time_point local_now) {
  std::erase_if(known_,
                [&](const auto& kv) { return local_now - kv.second.last_heard > history_; });
}

std::vector<std::string> share_ledger::known_servers() const {
  std::vector<std::string> out;
  out.reserve(known_.size());
  for (const auto& [server, k] : known_) out.push_back(server);
  return out;
}

std::vector<std::int64_t> share_ledger::known_flushes() const {
  std::vector<std::int64_t> out;
  out.reserve(known_.size());
  for (const auto& [server, k] : known_) out.push_back(k.flush);
  return out;
}

}  // namespace loadns::core
