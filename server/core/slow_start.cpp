#include "server/core/slow_start.hpp"

#include <algorithm>

namespace loadns::core {

double slow_start_ramp(clock::duration in_service, clock::duration window) noexcept {
  if (window <= clock::duration::zero() || in_service >= window) return 1.0;
  const double t =
      std::chrono::duration<double>(std::max(in_service, clock::duration::zero())).count();
  const double w = std::chrono::duration<double>(window).count();
  return std::max(slow_start_floor, t / w);
}

clock::duration slow_start_step(clock::duration window) noexcept {
  return std::clamp<clock::duration>(window / 1000, std::chrono::milliseconds(10),
                                     std::chrono::seconds(1));
}

bool in_slow_start(const backend& b, const service& svc, clock::time_point now) noexcept {
  return svc.slow_start > clock::duration::zero() && b.serving_since &&
         now - *b.serving_since < svc.slow_start;
}

double slow_start_ramp(const backend& b, const service& svc, clock::time_point now) noexcept {
  if (!in_slow_start(b, svc, now)) return 1.0;
  return slow_start_ramp(now - *b.serving_since, svc.slow_start);
}

}  // namespace loadns::core
