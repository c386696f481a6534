#pragma once
// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed
// hash RFC 9018 names for DNS server cookies, and the hash of the per-source TCP table (keyed
// with a random secret, so a spoofing attacker cannot aim many sources at one slot).

#include <array>
#include <cstdint>
#include <span>

namespace loadns::guard {

using siphash_key = std::array<std::uint8_t, 16>;

/// SipHash-2-4 of `message` under `key`; the 64-bit result as the reference implementation
/// returns it (its little-endian octets are what it writes out). No allocation.
std::uint64_t siphash24(const siphash_key& key, std::span<const std::uint8_t> message) noexcept;

/// The same over the concatenation of `parts`, without copying them into one buffer.
std::uint64_t siphash24(const siphash_key& key,
                        std::span<const std::span<const std::uint8_t>> parts) noexcept;

}  // namespace loadns::guard
