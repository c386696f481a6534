#include "server/core/balancer.hpp"

#include <algorithm>
#include <limits>
#include <new>
#include <utility>

namespace loadns::core {
namespace {

constexpr std::size_t family_count = 2;

std::size_t family_index(family fam) noexcept {
  return static_cast<std::size_t>(fam);
}

/// What a share of load is measured against: the backend's capacity, else its weight (equal
/// shares when neither is set).
double share_of(const backend& b) noexcept {
  if (b.capacity && *b.capacity > 0) return static_cast<double>(*b.capacity);
  return b.weight > 0 ? b.weight : 1.0;
}

}  // namespace

/// The candidates of one (service, family) as this thread orders them, for one snapshot.
struct balancer::selector {
  /// A least_load heap entry: the predicted load this thread last saw (a lower bound of the
  /// true one, since loads only grow within a snapshot) and a random salt that breaks ties.
  struct entry {
    double key;
    std::uint32_t salt;
    std::uint32_t pos;  ///< index into candidates / infos
  };
  /// What predicted load is made of; one per candidate.
  struct info {
    answer_counter* counter;  ///< may be null (a snapshot built without counters)
    std::uint64_t base;       ///< answers given before the report (not in the prediction)
    double connections;       ///< as reported
    double inv_share;         ///< 1 / capacity or weight
  };

  bool built = false;
  bool fail_open = false;
  policy pol = policy::least_load;
  std::uint32_t cursor = 0;               ///< round_robin: next start
  std::uint32_t tie_run = 0;              ///< least_connections: length of the lowest-load run
  std::size_t heap_size = 0;              ///< least_load: live entries in `heap`
  std::vector<std::uint32_t> candidates;  ///< indices into svc.backends[fam]
  std::vector<info> infos;
  std::vector<entry> heap;
  std::vector<std::uint32_t> chosen;  ///< least_load scratch for multi-answer picks

  double load(std::uint32_t pos) const noexcept {
    const info& i = infos[pos];
    const std::uint64_t given = i.counter ? i.counter->total() - i.base : 0;
    return (i.connections + static_cast<double>(given)) * i.inv_share;
  }

  static bool less(const entry& a, const entry& b) noexcept {
    return a.key < b.key || (a.key == b.key && a.salt < b.salt);
  }

  void sift_down(std::size_t i) noexcept {
    const entry e = heap[i];
    const std::size_t n = heap_size;
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap[child + 1], heap[child])) ++child;
      if (!less(heap[child], e)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = e;
  }

  void sift_up(std::size_t i) noexcept {
    const entry e = heap[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!less(e, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = e;
  }

  /// Brings the true minimum to the root: the root's key may be stale because another
  /// thread answered with that backend since; refresh it and sift until the root is current.
  /// Keys only grow, so a current root is the minimum. Bounded in case other threads keep
  /// moving loads under us: then the root is a near-minimum, which is good enough.
  void settle(balancer& owner) noexcept {
    for (int round = 0; round < 64; ++round) {
      entry& top = heap[0];
      const double actual = load(top.pos);
      if (actual <= top.key) return;
      top.key = actual;
      top.salt = static_cast<std::uint32_t>(owner.next_random());
      sift_down(0);
    }
  }
};

balancer::balancer(std::uint64_t seed) : rng_(seed ^ 0x9e37'79b9'7f4a'7c15ULL) {}

balancer::~balancer() = default;

std::uint64_t balancer::next_random() noexcept {
  // splitmix64: fast, good enough to break ties and spread round-robin starts.
  std::uint64_t z = (rng_ += 0x9e37'79b9'7f4a'7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58'476d'1ce4'e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d0'49bb'1331'11ebULL;
  return z ^ (z >> 31);
}

namespace {

/// Uniform in [0, n) without division (Lemire's multiply-shift).
std::uint32_t below(std::uint64_t r, std::size_t n) noexcept {
  return static_cast<std::uint32_t>(((r & 0xffff'ffffULL) * n) >> 32);
}

}  // namespace

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
    sel.candidates.clear();
    for (std::uint32_t i = 0; i < all.size(); ++i) {
      if (all[i].state == backend_state::serving) sel.candidates.push_back(i);
    }
    // Fail open (SPEC 4): no serving backend left, so use every enabled one rather than
    // answer nothing. The builder says so in fail_open; an empty serving set means the same.
    sel.fail_open = svc.fail_open[family_index(fam)] || sel.candidates.empty();
    if (sel.fail_open) {
      sel.candidates.clear();
      for (std::uint32_t i = 0; i < all.size(); ++i) {
        if (all[i].enabled) sel.candidates.push_back(i);
      }
    }
    sel.pol = svc.pol;
    const std::size_t n = sel.candidates.size();
    sel.infos.clear();
    sel.heap.clear();
    sel.heap_size = 0;
    sel.tie_run = 0;
    sel.cursor = n ? below(next_random(), n) : 0;

    if (sel.pol == policy::least_load || sel.pol == policy::least_connections) {
      sel.infos.reserve(n);
      for (std::uint32_t idx : sel.candidates) {
        const backend& b = all[idx];
        selector::info i{};
        i.counter = b.answers.get();
        // Answers given before the report are in its connection count already (or were
        // never connections); only the later ones are added. No report: all answers count.
        i.base = (i.counter && b.reported_at) ? i.counter->before(*b.reported_at, now) : 0;
        i.connections = static_cast<double>(std::max<std::int64_t>(b.connections, 0));
        i.inv_share = 1.0 / share_of(b);
        sel.infos.push_back(i);
      }
    }
    if (sel.pol == policy::least_load) {
      sel.heap.reserve(n);
      for (std::uint32_t pos = 0; pos < n; ++pos) {
        sel.heap.push_back({sel.load(pos), static_cast<std::uint32_t>(next_random()), pos});
      }
      sel.heap_size = n;
      std::make_heap(sel.heap.begin(), sel.heap.end(),
                     [](const auto& a, const auto& b) { return selector::less(b, a); });
      sel.chosen.resize(n);
    } else if (sel.pol == policy::least_connections) {
      // Reported connections only: fixed for the whole snapshot, so sort once.
      std::vector<std::uint32_t> order(n);
      for (std::uint32_t pos = 0; pos < n; ++pos) order[pos] = pos;
      auto key = [&](std::uint32_t pos) {
        return sel.infos[pos].connections * sel.infos[pos].inv_share;
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

std::size_t balancer::pick(const snapshot& snap, const service& svc, family fam,
                           std::span<const backend*> out) noexcept {
  return pick(snap, svc, fam, out, clock::now());
}

std::size_t balancer::pick(const snapshot& snap, const service& svc, family fam,
                           std::span<const backend*> out, clock::time_point now) noexcept {
  const auto& all = svc.backends[family_index(fam)];
  if (out.empty() || all.empty()) return 0;
  selector* sel = selector_for(snap, svc, fam, now);
  if (sel == nullptr) {
    // Out of memory building the selector (or a service not in this snapshot): answer with
    // the first serving backends rather than nothing.
    std::size_t k = 0;
    for (const backend& b : all) {
      if (k == out.size()) break;
      if (b.state == backend_state::serving) out[k++] = &b;
    }
    return k;
  }
  const std::size_t n = sel->candidates.size();
  const std::size_t k = std::min(out.size(), n);
  if (k == 0) return 0;

  switch (sel->pol) {
    case policy::least_load:
      if (k == 1) {
        // The common case: refresh the root, answer with it, push it down by its new load.
        sel->settle(*this);
        auto& top = sel->heap[0];
        const auto& i = sel->infos[top.pos];
        out[0] = &all[sel->candidates[top.pos]];
        if (i.counter) i.counter->add(now);
        top.key = sel->load(top.pos);
        top.salt = static_cast<std::uint32_t>(next_random());
        sel->sift_down(0);
      } else {
        // k distinct backends in increasing load: take the k lowest out of the heap, count
        // them, put them back with their new loads.
        for (std::size_t j = 0; j < k; ++j) {
          sel->settle(*this);
          const std::uint32_t pos = sel->heap[0].pos;
          sel->chosen[j] = pos;
          out[j] = &all[sel->candidates[pos]];
          sel->heap[0] = sel->heap[--sel->heap_size];
          if (sel->heap_size) sel->sift_down(0);
        }
        for (std::size_t j = 0; j < k; ++j) {
          const std::uint32_t pos = sel->chosen[j];
          if (auto* c = sel->infos[pos].counter) c->add(now);
          sel->heap[sel->heap_size] = {sel->load(pos), static_cast<std::uint32_t>(next_random()),
                                       pos};
          sel->sift_up(sel->heap_size++);
        }
      }
      break;
    case policy::least_connections: {
      // The lowest reported load, ties at random, and no compensation for the answers given
      // since: every answer of a poll interval goes to the same backend (the herd).
      const std::size_t run = sel->tie_run;
      const std::uint32_t start = below(next_random(), run);
      for (std::size_t j = 0; j < k; ++j) {
        const std::size_t at = j < run ? (start + j) % run : j;
        out[j] = &all[sel->candidates[at]];
        if (auto* c = sel->infos[at].counter) c->add(now);
      }
      break;
    }
    case policy::round_robin:
      for (std::size_t j = 0; j < k; ++j) {
        out[j] = &all[sel->candidates[(sel->cursor + j) % n]];
      }
      sel->cursor = static_cast<std::uint32_t>((sel->cursor + 1) % n);
      for (std::size_t j = 0; j < k; ++j) {
        if (out[j]->answers) out[j]->answers->add(now);
      }
      break;
    case policy::random:
      // A partial Fisher-Yates shuffle of this thread's candidate list: k distinct, uniform.
      for (std::size_t j = 0; j < k; ++j) {
        const std::size_t r = j + below(next_random(), n - j);
        std::swap(sel->candidates[j], sel->candidates[r]);
        out[j] = &all[sel->candidates[j]];
        if (out[j]->answers) out[j]->answers->add(now);
      }
      break;
  }
  if (sel->fail_open) fail_open_answers_.fetch_add(1, std::memory_order_relaxed);
  return k;
}

}  // namespace loadns::core
