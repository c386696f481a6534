#include "agent/health/fall_rise.hpp"

namespace loadns::agent {

bool fall_rise::observe(bool ok, bool definite) noexcept {
  if (!known_) {
    known_ = true;
    healthy_ = ok;
    streak_ = 0;
    return true;
  }
  if (ok == healthy_) {
    streak_ = 0;  // an outcome that agrees breaks any streak against the state
    return false;
  }
  ++streak_;
  const bool flip = ok ? streak_ >= rise_ : (definite || streak_ >= fall_);
  if (!flip) {
    return false;
  }
  healthy_ = ok;
  streak_ = 0;
  return true;
}

}  // namespace loadns::agent
