#pragma once
// A and AAAA for one nonce name, answered with one host and counted once. getaddrinfo and Go's
// LookupHost ask both families for every name and connect over one of them; if each query
// chose and counted on its own, every client would spend an answer on a host of the family it
// never uses, and least_load would see load that never arrives. So the first query of a nonce
// name chooses and counts, and the table remembers the host for a few seconds; the other
// family's query of the same name within that window is answered with the same host's other
// address when it has one (a dual-stack row, see backend::twin) and is not counted again.
// See docs/balancing.md.
//
// Shared by every answering thread (A and AAAA of one name may reach different SO_REUSEPORT
// sockets): a fixed array of 64-bit atomic slots, direct-mapped by a seeded hash of the name,
// each written and read whole with relaxed loads and stores. No lock, no allocation after
// construction, bounded memory. Races are benign by design: two queries of one name that
// arrive at once on two threads may both miss and both count (the host is then counted twice,
// today's behaviour), and a slot may be overwritten by another name before the other family
// asks (then the second query chooses and counts on its own). Neither ever names a host that
// may not answer the family: a hit is checked against the snapshot's candidates.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "server/core/snapshot.hpp"

namespace loadns::core {

class family_pairs {
 public:
  /// How long a name's host is remembered. getaddrinfo sends A and AAAA together (glibc in
  /// parallel on one socket, others one after the other): the pair arrives within a round
  /// trip or two of the resolver's, far below this; an answer's TTL does not matter, as a
  /// nonce name is asked once.
  static constexpr std::uint32_t window_ms = 3'000;

  /// A table of `slots` entries (rounded up to a power of two, 8 octets each) whose hash is
  /// keyed by `seed`: which names share a slot cannot be chosen from outside.
  family_pairs(std::size_t slots, std::uint64_t seed);
  family_pairs(const family_pairs&) = delete;
  family_pairs& operator=(const family_pairs&) = delete;

  /// The key of a query name: a seeded hash of its lower-case wire form (the name includes
  /// the service it is a nonce of). 0x20 case does not matter: A and AAAA are sent with
  /// different random case by resolvers that use it.
  std::uint64_t key_of(std::span<const std::uint8_t> lower_wire) const noexcept;

  /// The host a query of the other family chose for `key` within the window, as its index in
  /// `svc.backends[fam]`, when that host has an address of `fam` that may answer now (one of
  /// the family's candidates); nullopt otherwise (never seen, expired, overwritten, chosen for
  /// `fam` itself, no longer at its place in the list, or no such address). `svc` may be the
  /// service as a later snapshot holds it: a reload between the two queries (every poll
  /// makes one) does not lose the pair while the service's backends stay in place.
  /// `now_ms`: any millisecond clock, the same for every call (now_ms()).
  std::optional<std::uint32_t> find(std::uint64_t key, const service& svc, family fam,
                                    std::uint32_t now_ms) const noexcept;

  /// Remembers that a query of `fam` for `key` chose `svc.backends[fam][index]`.
  void remember(std::uint64_t key, const service& svc, family fam, std::uint32_t index,
                std::uint32_t now_ms) noexcept;

  /// Milliseconds of the coarse monotonic clock (a read of the kernel's last tick, no system
  /// call; a few milliseconds precise, plenty for a window of seconds).
  static std::uint32_t now_ms() noexcept;

  std::size_t slots() const noexcept { return mask_ + 1; }

 private:
  // A slot, from the high bits down: 20 bits of the key (the tag: the slot index uses the
  // low bits), 8 bits of the chosen backend's id (an index names a host in the snapshot it was
  // chosen in; in a later one, where rows came or went, the id's bits tell that another host
  // took the place, but for 1 in 256: then another host of the service is answered
  // uncounted, a harmless slip), 16 bits of the time in milliseconds (modulo 65.5 s), 1 bit
  // of family and 19 of index + 1 (0: empty). A host at an index beyond 19 bits is not
  // remembered.
  static constexpr std::uint32_t max_index = (std::uint32_t{1} << 19) - 2;

  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  std::size_t mask_;
  std::uint64_t seed_;
};

}  // namespace loadns::core
