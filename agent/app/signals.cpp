#include "agent/app/signals.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace loadns::agent {

stop_signals::stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_sigmask");
  }
  fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "signalfd");
  }
  // A database connection that dies mid-write must be an error, not a silent exit.
  ::signal(SIGPIPE, SIG_IGN);
}

stop_signals::~stop_signals() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

int stop_signals::wait_until(std::chrono::steady_clock::time_point deadline) noexcept {
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    // Round up so the wait never ends just before the deadline and spins.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, 60'000)));
    if (n < 0 && errno != EINTR) {
      return 0;
    }
    if (n > 0) {
      signalfd_siginfo info{};
      if (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        return static_cast<int>(info.ssi_signo);
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return 0;
    }
  }
}

}  // namespace loadns::agent
