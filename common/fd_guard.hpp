#pragma once
// Closes a file descriptor when it goes out of scope (negative: nothing to close).

#include <unistd.h>

namespace loadns {

class fd_guard {
 public:
  explicit fd_guard(int fd) noexcept : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

}  // namespace loadns
