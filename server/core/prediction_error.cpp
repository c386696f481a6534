#include "server/core/prediction_error.hpp"

#include <algorithm>
#include <unordered_map>

#include "server/core/answer_counter.hpp"
#include "server/core/balancer.hpp"
#include "server/core/load.hpp"

namespace loadns::core {

void prediction_errors::add_locked(histogram& h, double error) noexcept {
  const auto it = std::lower_bound(upper_bounds.begin(), upper_bounds.end(), error);
  if (it == upper_bounds.end()) {
    ++h.above;
  } else {
    ++h.buckets[static_cast<std::size_t>(it - upper_bounds.begin())];
  }
  ++h.count;
  h.sum += error;
}

void prediction_errors::add(std::string_view service, double error) {
  std::lock_guard lock(mutex_);
  auto it = by_service_.find(service);
  if (it == by_service_.end()) it = by_service_.emplace(std::string(service), histogram{}).first;
  add_locked(it->second, error);
}

void prediction_errors::observe(const snapshot* previous, const snapshot& next,
                                clock::time_point now) {
  // What the previous snapshot predicted is only known while the answers since its report are
  // still in the counters' history.
  const auto oldest = now - answer_counter::history + answer_counter::bucket_width;
  std::vector<std::pair<std::size_t, double>> found;  // (service index in next, error)

  // Services are found by name (the database's collation orders them, not byte order);
  // backends of a service come ordered by id in both snapshots: a merge walk.
  std::unordered_map<std::string_view, const service*> earlier;
  if (previous != nullptr) {
    for (const service& svc : previous->services) earlier.emplace(svc.name, &svc);
  }
  for (std::size_t s = 0; s < next.services.size(); ++s) {
    const service& svc = next.services[s];
    const auto match = earlier.find(svc.name);
    if (match == earlier.end()) continue;
    const service* prev_svc = match->second;
    for (std::size_t f = 0; f < svc.backends.size(); ++f) {
      const auto& was = prev_svc->backends[f];
      auto p = was.begin();
      for (const backend& b : svc.backends[f]) {
        while (p != was.end() && p->id < b.id) ++p;
        if (p == was.end()) break;
        if (p->id != b.id || p->state != backend_state::serving || b.second) continue;
        if (!b.reported_at || !p->reported_at) continue;
        if (*b.reported_at - *p->reported_at <= min_report_step) continue;  // the same report
        if (*p->reported_at - balancer::connect_allowance < oldest) continue;
        // Both reports' backends share one answer counter (kept across snapshots).
        const double predicted = predicted_connections(*p, *b.reported_at, now);
        found.emplace_back(
            s, predicted - static_cast<double>(std::max<std::int64_t>(b.connections, 0)));
      }
    }
  }

  std::lock_guard lock(mutex_);
  std::map<std::string, histogram, std::less<>> kept;
  for (const service& svc : next.services) {
    auto node = by_service_.extract(svc.name);
    if (node) {
      kept.insert(std::move(node));
    } else {
      kept.emplace(svc.name, histogram{});
    }
  }
  by_service_.swap(kept);
  for (const auto& [s, error] : found)
    add_locked(by_service_.find(next.services[s].name)->second, error);
}

std::vector<std::pair<std::string, prediction_errors::histogram>> prediction_errors::read() const {
  std::lock_guard lock(mutex_);
  return {by_service_.begin(), by_service_.end()};
}

}  // namespace loadns::core
