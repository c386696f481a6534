#pragma once
// Hands report()'s shed count to the application: `--on-shed COMMAND` runs the command with
// LOADNS_SHED=count in its environment, and `--shed destroy` closes that many of the newest
// established connections on --port with sock_diag SOCK_DESTROY (what `ss -K` does). The
// latter needs CAP_NET_ADMIN and a kernel built with CONFIG_INET_DIAG_DESTROY; both are
// probed at start and a missing one is said once, clearly, and turns destroying off.

#include <cstdint>
#include <memory>
#include <string>

#include "agent/count/connection_counter.hpp"
#include "agent/health/command.hpp"
#include "agent/shed/newest.hpp"

namespace loadns::agent {

class shedder {
 public:
  /// `command` empty: no --on-shed. `destroy`: --shed destroy.
  shedder(std::string command, bool destroy, const socket_filter& filter,
          connection_counter& counter);

  /// Whether --shed destroy can work here; when not, `why` says what is missing. Call once
  /// at start (it logs nothing itself).
  [[nodiscard]] bool probe_destroy(std::string& why);

  /// Acts on a count > 0. Returns a line for the log saying what was done.
  std::string shed(std::int64_t count);

  /// With --shed destroy: lists the connections and notes the ones not seen before (call
  /// after every count: their age is the dump that first saw them, agent/shed/newest.hpp).
  void observe() noexcept;

  /// Reaps a finished --on-shed command (call now and then).
  void poll() noexcept;

  [[nodiscard]] bool active() const noexcept { return !command_.empty() || destroy_; }

 private:
  std::string command_;
  bool destroy_;
  const socket_filter& filter_;
  connection_counter& counter_;
  std::unique_ptr<command_process> running_;
  age_book ages_;
};

/// True when this process holds CAP_NET_ADMIN in its effective set.
[[nodiscard]] bool has_net_admin() noexcept;

}  // namespace loadns::agent
