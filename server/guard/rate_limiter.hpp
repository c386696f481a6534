#pragma once
// Response rate limiting in the manner of NSD's rrl.c and BIND's RRL: responses to one client
// network (an IPv4 /24, an IPv6 /56) about the same thing with the same rcode share a token
// bucket of `rate` responses per second, so that a spoofed source cannot turn this server into
// an amplifier aimed at it, while answers to everyone else go out untouched.
//
// The table is shared by every answering thread and lock free: one 64-bit word per slot, a
// fixed number of slots, updated by compare-and-swap. Memory is bounded whatever the number of
// sources; under a spoofed-source flood, a key competes for two slots and displaces the one
// least in debt, so the buckets of sources being limited survive a flood of new ones.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "server/guard/siphash.hpp"
#include "server/guard/table_hash.hpp"

namespace loadns::guard {

/// What a response is about, as the limiter tells responses apart (NSD's answer classes).
struct response_class {
  std::uint8_t rcode = 0;
  /// The name the response is about (wire form, any case: folded here): the service for its
  /// nonce names, the zone for NXDOMAIN (so that random names share one bucket), else the
  /// query name; empty for errors (REFUSED, FORMERR, ...), which share a bucket per rcode.
  std::span<const std::uint8_t> name;
  /// The name is known to be lower case already (a snapshot's own names): not folded again.
  bool lower = false;
};

class rate_limiter {
 public:
  /// `rate` responses per second per bucket, bursts of up to `rate`; `slots` rounded up to
  /// a power of two (8 octets each); `key` seeds the table's hash (random in production, so
  /// an attacker cannot predict which sources collide).
  rate_limiter(unsigned rate, std::size_t slots, const siphash_key& key);
  rate_limiter(const rate_limiter&) = delete;
  rate_limiter& operator=(const rate_limiter&) = delete;

  /// True when a response of class `c` to `address` (4 or 16 octets, network order) may be
  /// sent at `now_us` (microseconds on a monotonic clock), and takes its token; false when
  /// the bucket is empty. Any thread; no allocation, no lock.
  bool allow(std::span<const std::uint8_t> address, const response_class& c,
             std::uint64_t now_us) noexcept;

  unsigned rate() const noexcept { return rate_; }
  std::size_t slots() const noexcept { return mask_ + 1; }

 private:
  std::uint64_t key_hash(std::span<const std::uint8_t> address,
                         const response_class& c) const noexcept;

  unsigned rate_;
  std::uint64_t interval_us_;   ///< one token's worth of time: 1 s / rate
  std::uint64_t tolerance_us_;  ///< how far ahead of now a bucket's debt may run: the burst
  std::size_t mask_;
  table_hash hash_;  ///< keyed: which sources share slots is not predictable
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
};

/// Which of the refused responses go out truncated (RFC 2181 9, TC set, no records) so that
/// a real client behind a limited address retries over TCP, where it cannot be spoofed: every
/// `slip`th one (0: none, 1: all). One per thread, no sharing.
class slip_counter {
 public:
  explicit slip_counter(unsigned slip) noexcept : slip_(slip) {}
  /// True when this refused response is to slip out truncated.
  bool slip() noexcept {
    if (slip_ == 0) return false;
    if (++count_ < slip_) return false;
    count_ = 0;
    return true;
  }

 private:
  unsigned slip_;
  unsigned count_ = 0;
};

/// The network a client's address belongs to, as the limiter counts it: IPv4 /24, IPv6 /56;
/// also the unit of the per-source TCP connection cap. Octets beyond the prefix are zero.
struct source_network {
  std::array<std::uint8_t, 8> octets{};  ///< [0]: 4 or 6, then the prefix octets
  bool operator==(const source_network&) const = default;
};
source_network network_of(std::span<const std::uint8_t> address) noexcept;

}  // namespace loadns::guard
