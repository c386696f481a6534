#pragma once
// Polling with a deadline, the tests' way to wait for a condition instead of sleeping a
// guessed time.

#include <chrono>
#include <thread>

namespace loadns::test {

/// Polls `condition` every `every` until it holds or `timeout` passes; returns whether it
/// held. `every` sets the resolution of what a test may measure with it.
template <typename F>
bool eventually(std::chrono::milliseconds timeout, F condition,
                std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace loadns::test
