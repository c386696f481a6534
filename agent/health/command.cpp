#include "agent/health/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header

namespace loadns::agent {

command_process::command_process(const std::string& command,
                                 const std::vector<std::string>& extra_env) {
  // The agent's environment, less any variable `extra_env` sets (getenv takes the first of
  // two entries, so an inherited LOADNS_SHED must not shadow the count).
  const auto overridden = [&](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    for (const auto& e : extra_env) {
      if (std::string_view(e).substr(0, e.find('=')) == name) {
        return true;
      }
    }
    return false;
  };
  std::vector<std::string> env_text;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(*e)) {
      env_text.emplace_back(*e);
    }
  }
  env_text.insert(env_text.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_text) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawnattr_t attr;
  posix_spawn_file_actions_t files;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&files);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // the agent ignores SIGPIPE; the command should not
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  const int rc = posix_spawn(&pid_, sh.c_str(), &files, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    pid_ = -1;
    error_ = std::string("cannot start /bin/sh: ") + std::strerror(rc);
    return;
  }
  // A pidfd turns "wait with a timeout" into a poll (Linux 5.3); without one, wait() polls.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
}

command_process::~command_process() {
  kill();
  if (pidfd_ >= 0) {
    ::close(pidfd_);
  }
}

bool command_process::reap(bool block) noexcept {
  if (reaped_ || pid_ <= 0) {
    return reaped_;
  }
  int status = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped_ = true;
    status_ = status;
  }
  return reaped_;
}

bool command_process::finished() noexcept {
  return reap(false);
}

bool command_process::wait(std::chrono::milliseconds timeout) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    if (left <= 0 || pid_ <= 0) {
      return false;
    }
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left));
    } else {
      ::usleep(static_cast<useconds_t>(std::min<long long>(left, 10) * 1000));
    }
  }
  return true;
}

void command_process::kill() noexcept {
  if (pid_ <= 0 || reaped_) {
    return;
  }
  ::kill(-pid_, SIGKILL);  // the shell and whatever it started
  reap(true);
}

bool command_process::succeeded() const noexcept {
  return reaped_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
}

std::string command_process::status_text() const {
  if (!reaped_) {
    return "still running";
  }
  if (WIFEXITED(status_)) {
    return "exited " + std::to_string(WEXITSTATUS(status_));
  }
  if (WIFSIGNALED(status_)) {
    return "killed by signal " + std::to_string(WTERMSIG(status_));
  }
  return "ended";
}

}  // namespace loadns::agent
