#include "agent/count/connection_counter.hpp"

namespace loadns::agent {

std::optional<counter_mode> parse_counter_mode(std::string_view text) noexcept {
  if (text == "auto") {
    return counter_mode::automatic;
  }
  if (text == "netlink") {
    return counter_mode::netlink;
  }
  if (text == "proc") {
    return counter_mode::proc;
  }
  return std::nullopt;
}

connection_counter::connection_counter(const socket_filter& filter, counter_mode mode)
    : mode_(mode), netlink_(filter), proc_(filter) {}

count_result connection_counter::count() noexcept {
  if (mode_ == counter_mode::proc) {
    return proc_.count();
  }
  count_result r = netlink_.count();
  if (r || mode_ == counter_mode::netlink) {
    return r;
  }
  count_result fallback = proc_.count();
  // Both failed: report the netlink error, the primary method's.
  return fallback ? fallback : r;
}

std::error_code connection_counter::listeners(listener_set& into) noexcept {
  into.reset();
  if (mode_ == counter_mode::proc) {
    return proc_.listeners(into);
  }
  const std::error_code ec = netlink_.listeners(into);
  if (!ec || mode_ == counter_mode::netlink) {
    return ec;
  }
  into.reset();
  return proc_.listeners(into) ? ec : std::error_code{};
}

}  // namespace loadns::agent
