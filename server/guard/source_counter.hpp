#pragma once
// Connections open per client network (IPv4 /24, IPv6 /56), for --tcp-max-per-source: a
// fixed table of atomic counters shared by every worker, indexed by a keyed hash of the
// network. Lock free and bounded whatever the number of sources; two networks that share a
// slot (rare: 65,536 slots, a secret hash key) share their cap, which errs toward refusing.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "server/guard/siphash.hpp"

namespace loadns::guard {

class source_counter {
 public:
  source_counter(unsigned cap, std::size_t slots, const siphash_key& key);
  source_counter(const source_counter&) = delete;
  source_counter& operator=(const source_counter&) = delete;

  /// Counts one more connection from `address` (4 or 16 octets) unless its network already
  /// has `cap`; returns the slot to release(), or -1 when refused. Any thread.
  std::ptrdiff_t acquire(std::span<const std::uint8_t> address) noexcept;
  /// Gives back what acquire() counted.
  void release(std::ptrdiff_t slot) noexcept;
  /// Connections counted for the network of `address` (tests, metrics).
  unsigned count(std::span<const std::uint8_t> address) const noexcept;

 private:
  std::size_t slot_of(std::span<const std::uint8_t> address) const noexcept;

  unsigned cap_;
  std::size_t mask_;
  siphash_key key_;
  std::unique_ptr<std::atomic<unsigned>[]> counts_;
};

}  // namespace loadns::guard
