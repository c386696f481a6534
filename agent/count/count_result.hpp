#pragma once
// What one count returns. No exceptions: a counter runs every interval for the agent's life and
// a failure is an ordinary outcome (the agent logs the change and tries again).

#include <cstdint>
#include <string_view>
#include <system_error>

namespace loadns::agent {

enum class count_method : std::uint8_t { netlink, proc };

[[nodiscard]] constexpr std::string_view to_string(count_method m) noexcept {
  return m == count_method::netlink ? "netlink" : "proc";
}

struct count_result {
  std::uint64_t established = 0;  ///< matching ESTABLISHED sockets, IPv4 + IPv6
  std::uint64_t examined = 0;     ///< sockets the kernel handed us (after its own filter)
  count_method method = count_method::netlink;
  std::error_code error;  ///< set: the count is unusable

  [[nodiscard]] explicit operator bool() const noexcept { return !error; }
};

}  // namespace loadns::agent
