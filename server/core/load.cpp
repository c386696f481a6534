#include "server/core/load.hpp"

#include <algorithm>

#include "server/core/answer_counter.hpp"
#include "server/core/balancer.hpp"

namespace loadns::core {

double equal_share_of(const std::vector<backend>& all) noexcept {
  double sum = 0;
  std::size_t with_capacity = 0;
  for (const backend& b : all) {
    if (b.capacity && *b.capacity > 0) {
      sum += static_cast<double>(*b.capacity);
      ++with_capacity;
    }
  }
  return with_capacity ? sum / static_cast<double>(with_capacity) : 1.0;
}

double share_of(const backend& b, double equal_share) noexcept {
  if (b.capacity && *b.capacity > 0) return static_cast<double>(*b.capacity);
  return equal_share * (b.weight > 0 ? b.weight : 1.0);
}

double predicted_connections(const backend& b, clock::time_point at,
                             clock::time_point now) noexcept {
  const auto reported = static_cast<double>(std::max<std::int64_t>(b.connections, 0));
  const answer_counter* c = b.answer_count.get();
  if (c == nullptr) return reported;
  // before() of a time whose bucket is still open leaves that bucket out: up to now, the
  // total is exact.
  const std::uint64_t until = at >= now ? c->total() : c->before(at, now);
  const std::uint64_t from =
      b.reported_at ? c->before(*b.reported_at - balancer::connect_allowance, now) : 0;
  return reported + static_cast<double>(until > from ? until - from : 0);
}

std::optional<double> imbalance(const service& svc, clock::time_point now) noexcept {
  double sum = 0;
  double highest = 0;
  std::size_t serving = 0;
  for (const auto& all : svc.backends) {
    const double equal_share = equal_share_of(all);
    for (const backend& b : all) {
      if (b.state != backend_state::serving || b.second) continue;  // a host counts once
      const double u = predicted_connections(b, now, now) / share_of(b, equal_share);
      sum += u;
      highest = std::max(highest, u);
      ++serving;
    }
  }
  if (serving == 0) return std::nullopt;
  const double mean = sum / static_cast<double>(serving);
  return mean > 0 ? highest / mean : 1.0;
}

}  // namespace loadns::core
