#pragma once
// Slow start: a backend that has just entered service (first report, enabled again, back from
// stale, unhealthy or draining: backends.serving_since) is measured against a growing part of
// its share, so that one cold process (empty caches, pools, JIT) does not take every new
// client at once until it reaches the others' load. least_load compares connections per
// share; with the share scaled by ramp(t), the newcomer's connections follow ramp(t) times the
// others' level. Shares count relative to each other, so when every backend is new they all
// ramp alike and clients are spread as usual. See docs/balancing.md "Slow start".

#include <chrono>

#include "server/core/snapshot.hpp"

namespace loadns::core {

/// Times further away than this are clamped to it, for both the window and a backend's time in
/// service: the steady clock counts nanoseconds in 64 bits (292 years), and a serving_since
/// of year 1 (an operator's way to skip a slow start) must not overflow it. Nothing ramps
/// for longer in practice.
inline constexpr std::chrono::milliseconds slow_start_horizon = std::chrono::hours(24 * 365 * 50);

/// The least part of its share a backend in slow start gets: enough to be tried at once.
inline constexpr double slow_start_floor = 0.1;

/// ramp(t) = max(0.1, t / window) while t < window, then 1. A window of zero (or less) turns
/// slow start off: 1. A negative t (serving_since ahead of the clock) counts as 0.
double slow_start_ramp(clock::duration in_service, clock::duration window) noexcept;

/// How long the balancer keeps a ramp's value before computing it again: a thousandth of the
/// window (the ramp moves by 0.1 percentage points in that time), at least 10 ms, at most 1 s.
/// The value kept is the one at the step's start, so a newcomer is under its ramp, never over.
clock::duration slow_start_step(clock::duration window) noexcept;

/// Whether `b` of `svc` is still in its slow start window at `now`.
bool in_slow_start(const backend& b, const service& svc, clock::time_point now) noexcept;

/// The ramp of `b` of `svc` at `now`: 1 outside slow start (off, no serving_since, or past
/// the window).
double slow_start_ramp(const backend& b, const service& svc, clock::time_point now) noexcept;

}  // namespace loadns::core
