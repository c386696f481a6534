#pragma once
// Answers queries for one thread. Every thread that answers (a worker's TCP event loop, each
// UDP receive loop) has its own responder: its own snapshot reference, balancer state and
// counters, so that threads share nothing on the packet path but the snapshot holder and the
// per-backend answer counters.

#include <sys/socket.h>

#include <cstdint>
#include <span>

#include "server/core/answer.hpp"
#include "server/core/balancer.hpp"
#include "server/core/snapshot_holder.hpp"
#include "server/guard/rate_limiter.hpp"
#include "server/guard/server_cookie.hpp"
#include "server/net/options.hpp"
#include "server/net/query_stats.hpp"

namespace loadns::net {

class responder {  // one per answering thread; never shared
 public:
  responder(const options& opts, const core::snapshot_holder& holder, std::uint64_t seed);
  responder(const responder&) = delete;
  responder& operator=(const responder&) = delete;

  /// Answers one query into `out` (65535 bytes); shared by UDP and TCP. Returns the response
  /// length, 0 to drop. Counts it and logs it with --query-log. Over UDP, drops datagrams
  /// from port 0 and applies the rate limiter to clients without a valid server cookie.
  std::size_t handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
                     core::transport t, const sockaddr_storage& client) noexcept {
    return handle(query, out, t, client, clock_now());
  }

  /// What the guard reads the time for: cookie timestamps (seconds since the epoch) and the
  /// rate limiter's buckets (microseconds, monotonic). Coarse clocks, which move once a tick
  /// (a few milliseconds), so one reading serves a whole receive batch.
  struct clocks {
    std::uint32_t wall_seconds = 0;
    std::uint64_t monotonic_us = 0;
  };
  /// The clocks as handle() needs them: only those the options use are read.
  clocks clock_now() const noexcept;
  /// handle() with clocks read by the caller (once per UDP receive batch).
  std::size_t handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
                     core::transport t, const sockaddr_storage& client, const clocks& at) noexcept;

  /// Written by the owning thread only; read by metrics from another.
  const query_stats& stats() const noexcept { return stats_; }
  query_stats& stats() noexcept { return stats_; }
  const core::balancer& balancer() const noexcept { return balancer_; }

 private:
  void log_query(std::span<const std::uint8_t> query, core::transport t,
                 const sockaddr_storage& client, const core::answer_info& info,
                 std::size_t response_length) noexcept;

  const options& opts_;
  core::snapshot_reader snapshot_;
  core::balancer balancer_;
  query_stats stats_;
  guard::slip_counter slip_;
  guard::cookie_memo cookie_memo_;
};

}  // namespace loadns::net
