#pragma once
// Health with hysteresis, as load balancers judge it (HAProxy's `fall`/`rise`, gdnsd's
// up/down thresholds): `fall` consecutive failed checks take a backend down, `rise`
// consecutive good ones bring it back, so one lost probe does not flap DNS answers. A
// failure that proves the service gone (nothing listens on the port, a connection refused)
// takes it down at once.

#include <cstdint>

namespace loadns::agent {

class fall_rise {
 public:
  /// `fall` and `rise` >= 1.
  fall_rise(unsigned fall, unsigned rise) noexcept : fall_(fall), rise_(rise) {}

  /// Takes one check's outcome; `definite` marks a failure that needs no confirmation.
  /// Returns true when the health changed (the first outcome always counts as a change: it
  /// is the first judgement, made at once, with no confirmation either way).
  bool observe(bool ok, bool definite = false) noexcept;

  [[nodiscard]] bool known() const noexcept { return known_; }
  [[nodiscard]] bool healthy() const noexcept { return healthy_; }

 private:
  unsigned fall_;
  unsigned rise_;
  unsigned streak_ = 0;  // consecutive outcomes against the current state
  bool known_ = false;
  bool healthy_ = true;
};

}  // namespace loadns::agent
