#pragma once
// balancer::pick() and then balancer::count() for every backend chosen, as answer() does when
// each record fits: what the balancer tests mean by one response.

#include <cstddef>
#include <span>

#include "server/core/balancer.hpp"

namespace loadns::core::testing {

inline std::size_t pick_counted(balancer& bal, const snapshot& snap, const service& svc, family fam,
                                std::span<const backend*> out, clock::time_point now) {
  const std::size_t n = bal.pick(snap, svc, fam, out, now);
  for (std::size_t i = 0; i < n; ++i) balancer::count(*out[i], now);
  return n;
}

}  // namespace loadns::core::testing
