#pragma once
// What a backend's load is, in one place for the balancer and the metrics: the share its load
// is measured against, the connections least_load predicts for it, and how evenly a service's
// serving backends are loaded. Pure functions over a snapshot; the answer counters they read
// are atomics, so any thread may call them, but none of them is meant for the packet path
// (imbalance() walks every backend of a service).

#include <optional>
#include <vector>

#include "server/core/snapshot.hpp"

namespace loadns::core {

/// What a share of load is measured against for backends without a capacity (a NULL
/// capacity means an equal share): the mean capacity of the backends of `all` that have one,
/// 1 when none has. So a service can mix backends with and without a capacity: one without
/// is loaded like an average one, not compared in connections against the others'
/// connections per capacity. The mean is over every backend, whatever its state, so that it
/// does not move when one fills up or goes stale.
double equal_share_of(const std::vector<backend>& all) noexcept;

/// What `b`'s load is measured against: its capacity, or else `equal_share` times its weight.
double share_of(const backend& b, double equal_share) noexcept;

/// The connections least_load predicts for `b` at `at` (<= `now`, both on the steady clock):
/// the reported connections plus the answers given from the report's time (less
/// balancer::connect_allowance) until `at`. Without a report, every answer counts; without a
/// counter, the reported connections alone.
double predicted_connections(const backend& b, clock::time_point at,
                             clock::time_point now) noexcept;

/// Max over mean predicted utilisation (predicted connections / share) of the serving
/// backends of `svc`, both families: 1 when they are evenly loaded (or all empty), 2 when
/// the fullest carries twice the mean. nullopt when no backend is serving.
std::optional<double> imbalance(const service& svc, clock::time_point now) noexcept;

}  // namespace loadns::core
