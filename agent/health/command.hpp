#pragma once
// Runs an operator's shell command (`--check exec:COMMAND`, `--on-shed COMMAND`) as
// `/bin/sh -c COMMAND` in a process group of its own, with the signal mask cleared (the agent
// blocks SIGTERM/SIGINT for its signalfd, and a mask survives exec) and stdin from /dev/null.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace loadns::agent {

class command_process {
 public:
  /// Starts the command with `extra_env` ("NAME=value") added to the agent's environment.
  /// On failure running() is false and error() says why.
  command_process(const std::string& command, const std::vector<std::string>& extra_env);
  /// Kills the process group if still running, and reaps it.
  ~command_process();
  command_process(const command_process&) = delete;
  command_process& operator=(const command_process&) = delete;

  /// Waits until the command exits or `timeout` passes. True when it exited (see status()).
  bool wait(std::chrono::milliseconds timeout) noexcept;

  /// True once reaped: non-blocking check.
  bool finished() noexcept;

  /// SIGKILL to the whole process group, then reap.
  void kill() noexcept;

  [[nodiscard]] bool started() const noexcept { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  /// "exited 0", "exited 3", "killed by signal 9": for messages.
  [[nodiscard]] std::string status_text() const;
  /// True when the command exited with status 0.
  [[nodiscard]] bool succeeded() const noexcept;

 private:
  bool reap(bool block) noexcept;

  pid_t pid_ = -1;
  int pidfd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string error_;
};

}  // namespace loadns::agent
