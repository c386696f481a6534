#include "server/net/responder.hpp"

#include <spdlog/spdlog.h>
#include <time.h>

#include <string>

#include "server/dns/header.hpp"
#include "server/dns/name.hpp"
#include "server/dns/query.hpp"
#include "server/net/socket_options.hpp"

namespace loadns::net {
namespace {

/// The client's address octets (4 or 16, network order) and port, without conversion.
struct peer {
  std::span<const std::uint8_t> address;
  std::uint16_t port = 0;
};
peer peer_of(const sockaddr_storage& client) noexcept {
  if (client.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(client);  // NOLINT: sockaddr family
    return {std::span<const std::uint8_t>(in6.sin6_addr.s6_addr), ntohs(in6.sin6_port)};
  }
  const auto& in = reinterpret_cast<const sockaddr_in&>(client);  // NOLINT: sockaddr family
  return {std::span(reinterpret_cast<const std::uint8_t*>(&in.sin_addr.s_addr), 4),  // NOLINT
          ntohs(in.sin_port)};
}

/// Coarse clocks: a read of the kernel's last tick (a few nanoseconds, no system call),
/// precise to a few milliseconds, which is all cookie timestamps and token buckets need.
std::uint32_t wall_seconds() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::uint32_t>(ts.tv_sec);  // RFC 9018 4.3: modulo 2^32
}
std::uint64_t monotonic_us() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000;
}

}  // namespace

responder::responder(const options& opts, const core::snapshot_holder& holder, std::uint64_t seed)
    : opts_(opts), snapshot_(holder), balancer_(seed, opts.pairs), slip_(opts.rrl_slip) {}

responder::clocks responder::clock_now() const noexcept {
  clocks c;
  if (opts_.cookies != nullptr) c.wall_seconds = wall_seconds();
  if (opts_.limiter != nullptr) c.monotonic_us = monotonic_us();
  return c;
}

std::size_t responder::handle(std::span<const std::uint8_t> query, std::span<std::uint8_t> out,
                              core::transport t, const sockaddr_storage& client,
                              const clocks& at) noexcept {
  const auto proto = static_cast<std::size_t>(t);
  const peer from = peer_of(client);
  // Port 0 is reserved (RFC 6335 6): no real client sends from it, and an answer to it is
  // either undeliverable or aimed at a victim by a forged source. Drop.
  if (t == core::transport::udp && from.port == 0) [[unlikely]] {
    stats_.dropped[proto].add();
    return 0;
  }
  core::answer_info info;
  const core::client_info who{from.address, opts_.cookies, at.wall_seconds, &cookie_memo_};
  std::size_t len = core::answer(query, out, t, snapshot_.get(), balancer_, info, who);
  if (len == 0) {
    stats_.dropped[proto].add();
  } else {
    stats_.queries[proto][rcode_slot(info.rcode)][qtype_slot(info.qtype)].add();
    if (info.mode != core::family_mode::serving) {
      stats_.on_empty[static_cast<std::size_t>(core::action_of(info.mode))].add();
    }
  }
  if (info.cookie != guard::cookie_verdict::none) {
    stats_.cookies[static_cast<std::size_t>(info.cookie) - 1].add();
  }
  // Rate limiting applies to UDP only (a TCP client has proved its address by the
  // handshake), and not to a client whose valid server cookie proves the same (RFC 7873 5.2.5).
  if (len != 0 && opts_.limiter != nullptr && t == core::transport::udp &&
      info.cookie != guard::cookie_verdict::valid &&
      !opts_.limiter->allow(from.address, {info.rcode, info.subject, info.subject_lower},
                            at.monotonic_us)) {
    if (slip_.slip()) {
      len = core::truncate_to_question(out, len, info);
      stats_.rrl_slipped.add();
    } else {
      len = 0;
      stats_.rrl_dropped.add();
    }
  }
  if (opts_.query_log) [[unlikely]] {
    log_query(query, t, client, info, len);
  }
  return len;
}

void responder::log_query(std::span<const std::uint8_t> query, core::transport t,
                          const sockaddr_storage& client, const core::answer_info& info,
                          std::size_t response_length) noexcept {
  // Logging allocates; it is a debugging aid, off by default.
  try {
    std::string name = "(no question)";
    dns::query parsed;
    if (query.size() >= dns::header::size) {
      dns::read_query(query, parsed);
      if (parsed.question_ok) name = dns::to_text(parsed.q.wire);  // as sent, 0x20 case kept
    }
    spdlog::info("query from {} over {}: {} type {} -> rcode {}, {} bytes{}",
                 endpoint_address(client).to_string(), transport_names[static_cast<std::size_t>(t)],
                 name, info.qtype, info.rcode, response_length,
                 response_length == 0 ? " (dropped)"
                 : info.truncated     ? " (truncated)"
                                      : "");
  } catch (...) {  // NOLINT(bugprone-empty-catch): a lost log line must not lose the answer
  }
}

}  // namespace loadns::net
