#pragma once
// SIGTERM and SIGINT as readable events (signalfd), so the interval wait is a poll() that ends
// the moment a stop is asked for, with no handler racing the loop.

#include <chrono>

namespace loadns::agent {

class stop_signals {
 public:
  /// Blocks SIGTERM and SIGINT for this thread (call before starting any other thread) and
  /// opens a signalfd for them. Throws std::system_error if the kernel refuses.
  stop_signals();
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// Waits until `deadline` or a stop signal. Returns the signal number, or 0 at the deadline.
  int wait_until(std::chrono::steady_clock::time_point deadline) noexcept;

  /// The signalfd: readable while a stop signal is pending (the reporter polls it to cancel
  /// a blocked call; only wait_until() reads it).
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace loadns::agent
