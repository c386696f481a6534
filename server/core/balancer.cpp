#include "server/core/balancer.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <new>
#include <utility>

#include "server/core/load.hpp"
#include "server/core/slow_start.hpp"

namespace loadns::core {
namespace {

constexpr std::size_t family_count = 2;

std::size_t family_index(family fam) noexcept {
  return static_cast<std::size_t>(fam);
}

/// Uniform in [0, n) from 32 random bits, without division (Lemire's multiply-shift).
std::uint32_t random_index(std::uint64_t r, std::size_t n) noexcept {
  return static_cast<std::uint32_t>(((r & 0xffff'ffffULL) * n) >> 32);
}

}  // namespace

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

balancer::balancer(std::uint64_t seed, family_pairs* pairs)
    : rng_(seed ^ 0x9e37'79b9'7f4a'7c15ULL), pairs_(pairs) {}

balancer::~balancer() = default;

std::uint64_t balancer::next_random() noexcept {
  // splitmix64: fast, good enough to break ties and spread round-robin starts.
  std::uint64_t z = (rng_ += 0x9e37'79b9'7f4a'7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
  return z ^ (z >> 31);
}

balancer::selector* balancer::selector_for(const snapshot& snap, const service& svc, family fam,
                                           clock::time_point now) noexcept {
  if (svc.index >= snap.services.size() || &snap.services[svc.index] != &svc) return nullptr;
  try {
    if (&snap != seen_ || snap.generation != seen_generation_) {
      // A new snapshot: every selector is rebuilt on its first use (allocation happens here,
      // once per snapshot and thread, never per query; vectors keep their capacity).
      selectors_.resize(snap.services.size() * family_count);
      for (auto& s : selectors_) s.built = false;
      seen_ = &snap;
      seen_generation_ = snap.generation;
    }
    selector& sel = selectors_[svc.index * family_count + family_index(fam)];
    if (sel.built) return &sel;

    const auto& all = svc.backends[family_index(fam)];
    // Who may answer was decided once for the snapshot (decide_candidates()); this thread
    // copies it because some policies reorder their own list.
    const family_candidates& decided = svc.candidates[family_index(fam)];
    sel.candidates.assign(decided.indices.begin(), decided.indices.end());
    sel.pol = svc.pol;
    const std::size_t n = sel.candidates.size();
    sel.infos.clear();
    sel.keys.clear();
    sel.taken = 0;
    sel.tie_run = 0;
    sel.cursor = n ? random_index(next_random(), n) : 0;

    if (sel.pol == policy::least_load || sel.pol == policy::least_connections) {
      const double equal_share = equal_share_of(all);
      sel.infos.reserve(n);
      sel.shares.clear();
      sel.shares.reserve(n);
      sel.window = svc.slow_start;
      for (std::uint32_t idx : sel.candidates) {
        const backend& b = all[idx];
        selector::info i{};
        i.counter = b.answer_count.get();
        // Answers given before the report are in its connection count already (or were
        // never connections); only the later ones are added, and the last few before it
        // (connect_allowance). No report: all answers count.
        i.base = (i.counter && b.reported_at)
                     ? i.counter->before(*b.reported_at - connect_allowance, now)
                     : 0;
        // The other servers' answers are aligned to the report the same way: together with
        // this server's they are every answer the backend was handed since (see
        // server/db/sharer.hpp). A late share of answers given before the report counts as
        // after it, a little too much load, never too little.
        i.shared = b.shared.get();
        i.shared_base = (i.shared && b.reported_at)
                            ? i.shared->before(*b.reported_at - connect_allowance, now)
                            : 0;
        i.connections = static_cast<double>(std::max<std::int64_t>(b.connections, 0));
        sel.infos.push_back(i);
        const bool ramps = in_slow_start(b, svc, now);
        sel.shares.push_back(
            {share_of(b, equal_share), ramps, ramps ? *b.serving_since : clock::time_point{}});
      }
      // least_connections keeps the ramps of the snapshot's first pick (it sorts once).
      sel.set_scales(now);
    }
    if (sel.pol == policy::least_load) {
      // Capacity for every candidate in each list: pick() never allocates.
      sel.keys.resize(n);
      sel.next.assign(n, selector::nil);
      sel.bag.clear();
      sel.bag.reserve(n);
      sel.below.clear();
      sel.below.reserve(n);
      sel.chosen.resize(n);
      for (std::uint32_t pos = 0; pos < n; ++pos) sel.keys[pos] = sel.actual_key(pos);
      sel.rebuild();
    } else if (sel.pol == policy::least_connections) {
      // Reported connections only: fixed for the whole snapshot, so sort once.
      std::vector<std::uint32_t> order(n);
      for (std::uint32_t pos = 0; pos < n; ++pos) order[pos] = pos;
      auto key = [&](std::uint32_t pos) {
        return sel.infos[pos].connections * sel.infos[pos].scale;
      };
      std::stable_sort(order.begin(), order.end(),
                       [&](std::uint32_t a, std::uint32_t b) { return key(a) < key(b); });
      std::vector<std::uint32_t> sorted(n);
      std::vector<selector::info> infos(n);
      for (std::size_t i = 0; i < n; ++i) {
        sorted[i] = sel.candidates[order[i]];
        infos[i] = sel.infos[order[i]];
      }
      sel.candidates = std::move(sorted);
      sel.infos = std::move(infos);
      while (sel.tie_run < n && key(sel.tie_run) == key(0)) ++sel.tie_run;
    }
    sel.built = true;
    return &sel;
  } catch (const std::bad_alloc&) {
    seen_ = nullptr;  // try again on the next query
    return nullptr;
  }
}

void balancer::settle(const snapshot& snap) noexcept {
  selector* sel = std::exchange(unsettled_, nullptr);
  const std::uint32_t taken = std::exchange(sel->taken, 0);
  if (&snap != seen_ || snap.generation != seen_generation_) return;
  for (std::uint32_t j = 0; j < taken; ++j) {
    const std::uint32_t pos = sel->chosen[j];
    sel->keys[pos] = std::max(sel->keys[pos], sel->actual_key(pos));
    sel->insert(pos);
  }
  if (sel->below.size() > 64) sel->rebuild();  // keep the linear scan short
}

std::size_t balancer::pick(const snapshot& snap, const service& svc, family fam,
                           std::span<const backend*> out, clock::time_point now) noexcept {
  if (unsettled_ != nullptr) settle(snap);
  const auto& all = svc.backends[family_index(fam)];
  if (out.empty() || all.empty()) return 0;
  selector* sel = selector_for(snap, svc, fam, now);
  if (sel == nullptr) {
    // Out of memory building the selector (or a service not in this snapshot): answer with
    // the first candidates rather than nothing.
    const auto& decided = svc.candidates[family_index(fam)].indices;
    const std::size_t k = std::min(out.size(), decided.size());
    for (std::size_t j = 0; j < k; ++j) out[j] = &all[decided[j]];
    return k;
  }
  const std::size_t n = sel->candidates.size();
  const std::size_t k = std::min(out.size(), n);
  if (k == 0) return 0;

  switch (sel->pol) {
    case policy::least_load:
      if (now >= sel->rescale_at) sel->rescale(now);
      // k distinct backends in increasing load: take the k lowest out; the next pick puts
      // them back with the loads the caller counted meanwhile (settle(); one that is still
      // below the others' level waits in `below`, so that the next response finds it first).
      for (std::size_t j = 0; j < k; ++j) {
        const std::uint32_t pos = sel->take_settled(*this);
        sel->chosen[j] = pos;
        out[j] = &all[sel->candidates[pos]];
      }
      sel->taken = static_cast<std::uint32_t>(k);
      unsettled_ = sel;
      sel->prepare_next(*this);
      break;
    case policy::least_connections: {
      // The lowest reported load, ties at random, and no compensation for the answers given
      // since: every answer of a poll interval goes to the same backend (the herd).
      const std::size_t run = sel->tie_run;
      const std::uint32_t start = random_index(next_random(), run);
      for (std::size_t j = 0; j < k; ++j) {
        const std::size_t at = j < run ? (start + j) % run : j;
        out[j] = &all[sel->candidates[at]];
      }
      break;
    }
    case policy::round_robin:
      for (std::size_t j = 0; j < k; ++j) {
        out[j] = &all[sel->candidates[(sel->cursor + j) % n]];
      }
      sel->cursor = static_cast<std::uint32_t>((sel->cursor + 1) % n);
      break;
    case policy::random:
      // A partial Fisher-Yates shuffle of this thread's candidate list: k distinct, uniform.
      for (std::size_t j = 0; j < k; ++j) {
        const std::size_t r = j + random_index(next_random(), n - j);
        std::swap(sel->candidates[j], sel->candidates[r]);
        out[j] = &all[sel->candidates[j]];
      }
      break;
  }
  return k;
}

}  // namespace loadns::core
