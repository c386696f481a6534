#pragma once
// Per-thread query counters (one set per responder). Each is written by its thread only and
// read by the metrics thread, so a relaxed load+store (no locked instruction) is enough.

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "server/core/snapshot.hpp"

namespace loadns::net {

class relaxed_counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// The rcodes and query types metrics break down by; anything else counts as "other".
inline constexpr std::array<std::string_view, 9> rcode_names = {"NOERROR",  "FORMERR",   "SERVFAIL",
                                                                "NXDOMAIN", "NOTIMP",    "REFUSED",
                                                                "BADVERS",  "BADCOOKIE", "other"};
inline constexpr std::array<std::string_view, 10> qtype_names = {
    "A", "AAAA", "SOA", "NS", "CNAME", "MX", "TXT", "ANY", "none", "other"};
inline constexpr std::array<std::string_view, 2> transport_names = {"udp", "tcp"};
/// Outcomes of a COOKIE option, in guard::cookie_verdict order after `none`.
inline constexpr std::array<std::string_view, 4> cookie_outcome_names = {"client_only", "invalid",
                                                                         "valid", "malformed"};

std::size_t rcode_slot(unsigned rcode) noexcept;
std::size_t qtype_slot(unsigned qtype) noexcept;

struct query_stats {
  /// [transport][rcode slot][qtype slot]
  std::array<std::array<std::array<relaxed_counter, qtype_names.size()>, rcode_names.size()>,
             transport_names.size()>
      queries;
  std::array<relaxed_counter, transport_names.size()> dropped;  ///< no response (malformed)
  relaxed_counter rrl_dropped;  ///< responses the rate limiter withheld
  relaxed_counter rrl_slipped;  ///< responses the rate limiter cut to TC
  std::array<relaxed_counter, cookie_outcome_names.size()> cookies;  ///< queries with COOKIE
  /// Responses a service's on_empty shaped, by core::on_empty_action.
  std::array<relaxed_counter, core::on_empty_action_names.size()> on_empty;
  relaxed_counter tcp_accepted;
  relaxed_counter tcp_rejected;  ///< over --tcp-max-connections with no idle session to close
  relaxed_counter tcp_evicted;   ///< idle sessions closed to make room at --tcp-max-connections
  relaxed_counter tcp_source_rejected;  ///< refused at --tcp-max-per-source
  relaxed_counter tcp_frame_timeouts;   ///< closed for a query frame unfinished in time
  relaxed_counter tcp_timeouts;         ///< closed for idleness or slowness
};

}  // namespace loadns::net
