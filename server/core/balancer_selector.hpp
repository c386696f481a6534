#pragma once
// balancer::selector, one thread's order of the candidates of one (service, family) for one
// snapshot: least_load's radix heap, least_connections' sorted list, round_robin's cursor, and
// the slow-start scales. balancer.cpp builds selectors (once per snapshot and thread) and
// picks from them; it alone includes this header, so that the packet path's calls into it are
// inlined there as before it had a file of its own. No allocation, no lock.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/balancer.hpp"
#include "server/core/slow_start.hpp"

namespace loadns::core {

/// The candidates of one (service, family) as this thread orders them, for one snapshot.
///
/// least_load keeps them in a monotone priority queue (a radix heap with a "bag" for the
/// minimum), keyed by predicted load scaled so that one answer to the largest share is one
/// unit: backends of equal share then have integer keys (connections + answers), equal loads
/// are exact ties, and the common steady state (many backends at the same level) costs O(1)
/// per pick however many backends there are: take a random member of the bag; once counted,
/// it goes back one bucket up; when the bag is empty, the lowest bucket becomes the bag.
/// Keys are what this thread last saw, a lower bound of the truth (loads only grow within a
/// snapshot; other threads add answers too), so a member is re-read before it is chosen.
struct balancer::selector {
  static constexpr std::uint32_t nil = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::uint64_t key_max = std::uint64_t{1} << 62;
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  /// Uniform in [0, n) from 32 random bits, without division (Lemire's multiply-shift).
  static std::uint32_t random_index(std::uint64_t r, std::size_t n) noexcept {
    return static_cast<std::uint32_t>(((r & 0xffff'ffffULL) * n) >> 32);
  }

  /// What predicted load is made of; one per candidate.
  struct info {
    answer_counter* counter;       ///< may be null (a snapshot built without counters)
    std::uint64_t base;            ///< answers given before the report (in its connections)
    const answer_counter* shared;  ///< other servers' answers; may be null
    std::uint64_t shared_base;     ///< of those, the ones given before the report
    double connections;            ///< as reported
    double scale;                  ///< largest share / this share: one answer = `scale` key units
  };

  bool built = false;
  policy pol = policy::least_load;
  std::uint32_t cursor = 0;               ///< round_robin: next start
  std::uint32_t tie_run = 0;              ///< least_connections: length of the lowest-load run
  std::vector<std::uint32_t> candidates;  ///< indices into svc.backends[fam]
  std::vector<info> infos;                ///< per candidate position

  // least_load: the radix heap over candidate positions.
  std::vector<std::uint64_t> keys;        ///< cached key per position
  std::vector<std::uint32_t> next;        ///< list link per position (buckets 0..63)
  std::vector<std::uint32_t> bag;         ///< positions whose key == last
  std::vector<std::uint32_t> below;       ///< positions whose key < last (multi-answer leftovers)
  std::vector<std::uint32_t> chosen;      ///< the last pick's positions, out of the heap
  std::uint32_t taken = 0;                ///< how many of `chosen` wait for settle()
  std::array<std::uint32_t, 64> heads{};  ///< bucket b: key ^ last has its top bit at b
  std::uint64_t mask = 0;                 ///< bit b set: bucket b is not empty
  std::uint64_t last = 0;                 ///< the key of the bag; never decreases
  std::size_t next_at = npos;  ///< the bag member the next pick takes, drawn (and prefetched) early

  /// Slow start (slow_start.hpp): each candidate's share, and whether and since when it ramps.
  struct share_info {
    double share;
    bool ramps;
    clock::time_point since;
  };
  std::vector<share_info> shares;  ///< per candidate position
  clock::duration window{};        ///< the service's slow_start
  /// When the ramps must be computed again (least_load); max when no candidate ramps.
  clock::time_point rescale_at = clock::time_point::max();

  /// Sets every candidate's scale from its share times its ramp at `now` (the largest of
  /// those is one key unit per answer: shares count relative to each other, so backends that
  /// all ramp alike are loaded as if none did), and when to do it again.
  void set_scales(clock::time_point now) noexcept {
    rescale_at = clock::time_point::max();
    double largest = 0;
    for (std::size_t pos = 0; pos < shares.size(); ++pos) {
      share_info& s = shares[pos];
      double ramped = s.share;
      if (s.ramps && now - s.since < window) {
        ramped *= slow_start_ramp(now - s.since, window);
        rescale_at = now + slow_start_step(window);
      } else {
        s.ramps = false;  // past its window: stays so for this snapshot
      }
      infos[pos].scale = ramped;  // inverted below
      largest = std::max(largest, ramped);
    }
    for (auto& i : infos) i.scale = largest / i.scale;
  }

  /// The ramps moved on: new scales, so new keys, so the heap is set up again. O(candidates),
  /// once per slow_start_step() while a candidate ramps; allocates nothing.
  void rescale(clock::time_point now) noexcept {
    set_scales(now);
    for (std::uint32_t pos = 0; pos < keys.size(); ++pos) keys[pos] = actual_key(pos);
    rebuild();
  }

  /// The predicted load of `pos` now, in key units.
  std::uint64_t actual_key(std::uint32_t pos) const noexcept {
    const info& i = infos[pos];
    std::uint64_t given = i.counter ? i.counter->total() - i.base : 0;
    if (i.shared) given += i.shared->total() - i.shared_base;
    const double k = (i.connections + static_cast<double>(given)) * i.scale;
    return k >= static_cast<double>(key_max) ? key_max : static_cast<std::uint64_t>(k);
  }

  void insert(std::uint32_t pos) noexcept {
    const std::uint64_t key = keys[pos];
    if (key == last) {
      bag.push_back(pos);  // capacity reserved for every candidate: never allocates
    } else if (key < last) {
      below.push_back(pos);
    } else {
      const int b = 63 - std::countl_zero(key ^ last);
      next[pos] = heads[static_cast<std::size_t>(b)];
      heads[static_cast<std::size_t>(b)] = pos;
      mask |= std::uint64_t{1} << b;
    }
  }

  /// Empties the lowest bucket into the bag and the buckets below it. Every member of bucket
  /// b shares the bits above b with `last`, so the smallest of them is the minimum of all.
  void refill() noexcept {
    const auto b = static_cast<std::size_t>(std::countr_zero(mask));
    next_at = npos;
    std::uint32_t list = heads[b];
    heads[b] = nil;
    mask &= mask - 1;
    std::uint64_t low = std::numeric_limits<std::uint64_t>::max();
    for (std::uint32_t p = list; p != nil; p = next[p]) low = std::min(low, keys[p]);
    last = low;
    while (list != nil) {
      const std::uint32_t p = list;
      list = next[p];
      insert(p);
    }
  }

  /// Sets the heap up from `keys`: everything relative to the smallest key.
  void rebuild() noexcept {
    next_at = npos;
    bag.clear();
    below.clear();
    heads.fill(nil);
    mask = 0;
    last = keys.empty() ? 0 : *std::min_element(keys.begin(), keys.end());
    for (std::uint32_t p = 0; p < keys.size(); ++p) insert(p);
  }

  /// Removes and returns a position of least cached key, ties at random. The heap must not
  /// be empty.
  std::uint32_t take_min(balancer& owner) noexcept {
    if (bag.empty() && mask != 0) refill();
    if (!below.empty()) {
      // Rare and short (at most answers - 1 entries per response): a linear scan.
      std::size_t at = 0;
      for (std::size_t i = 1; i < below.size(); ++i) {
        if (keys[below[i]] < keys[below[at]]) at = i;
      }
      const std::uint32_t p = below[at];
      below[at] = below.back();
      below.pop_back();
      return p;
    }
    const std::size_t at =
        next_at < bag.size() ? next_at : random_index(owner.next_random(), bag.size());
    next_at = npos;
    const std::uint32_t p = bag[at];
    bag[at] = bag.back();
    bag.pop_back();
    return p;
  }

  /// Draws the bag member the next pick will take, at random as take_min() would, and starts
  /// fetching its counter: with thousands of backends the counters are not in cache, and
  /// waiting for one is most of a pick's cost otherwise.
  void prepare_next(balancer& owner) noexcept {
    if (bag.empty()) return;
    next_at = random_index(owner.next_random(), bag.size());
    if (const auto* c = infos[bag[next_at]].counter) c->prefetch();
  }

  /// take_min(), after making sure the key it went by is current: another thread may have
  /// answered with that backend since this one looked. Keys only grow, so a current minimum
  /// is the true one. Bounded in case other threads keep moving loads under us: then the
  /// result is a near-minimum, which is good enough.
  std::uint32_t take_settled(balancer& owner) noexcept {
    for (int round = 0;; ++round) {
      const std::uint32_t p = take_min(owner);
      const std::uint64_t now_key = actual_key(p);
      if (now_key <= keys[p] || round == 64 || empty()) return p;
      keys[p] = now_key;
      insert(p);
    }
  }

  /// Nothing left besides what was taken out.
  bool empty() const noexcept { return bag.empty() && below.empty() && mask == 0; }
};

}  // namespace loadns::core
