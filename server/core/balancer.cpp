#include "server/core/balancer.hpp"

#include <algorithm>
#include <new>
#include <utility>

#include "server/core/balancer_selector.hpp"
#include "server/core/load.hpp"
#include "server/core/slow_start.hpp"

namespace loadns::core {
namespace {

constexpr std::size_t family_count = 2;

std::size_t family_index(family fam) noexcept {
  return static_cast<std::size_t>(fam);
}

}  // namespace

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
    sel.cursor = n ? selector::random_index(next_random(), n) : 0;

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
      const std::uint32_t start = selector::random_index(next_random(), run);
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
        const std::size_t r = j + selector::random_index(next_random(), n - j);
        std::swap(sel->candidates[j], sel->candidates[r]);
        out[j] = &all[sel->candidates[j]];
      }
      break;
  }
  return k;
}

}  // namespace loadns::core
