#pragma once
// The agent's counter: netlink sock_diag, falling back to /proc/net/tcp{,6} when netlink
// fails, or one of them forced (`--counter`).

#include <optional>
#include <string_view>

#include "agent/count/count_result.hpp"
#include "agent/count/listener_set.hpp"
#include "agent/count/netlink_counter.hpp"
#include "agent/count/proc_counter.hpp"
#include "agent/count/socket_filter.hpp"

namespace loadns::agent {

enum class counter_mode : std::uint8_t { automatic, netlink, proc };

/// "auto", "netlink", "proc".
[[nodiscard]] std::optional<counter_mode> parse_counter_mode(std::string_view text) noexcept;

class connection_counter {
 public:
  connection_counter(const socket_filter& filter, counter_mode mode);

  /// One count. In automatic mode a netlink failure is answered by /proc for this count; the
  /// next count tries netlink again (the result's `method` says which one answered, so the
  /// caller can log the switch once). Forced modes use only their method.
  count_result count() noexcept;

  /// Fills `into` (reset first) with the listeners on the filter's ports, through the same
  /// method choice as count(): netlink, else /proc in automatic mode.
  std::error_code listeners(listener_set& into) noexcept;

  /// The netlink side, for shedding (sock_diag only: /proc cannot destroy a socket).
  [[nodiscard]] netlink_counter& netlink() noexcept { return netlink_; }

 private:
  counter_mode mode_;
  netlink_counter netlink_;
  proc_counter proc_;
};

}  // namespace loadns::agent
