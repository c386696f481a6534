#pragma once
// Chooses the backends of one response; the caller counts each one once its record is written
// (count()), so that a response that did not fit counts nothing. least_load (the default) predicts
// each backend's load as (reported connections + answers this server gave it after that report was
// taken) / capacity, and answers with the lowest, ties broken at random; see answer_counter.hpp for
// why the answers are counted from the report's time rather than from the snapshot's. A
// backend in slow start is measured against its share times its ramp (slow_start.hpp).
//
// One balancer per worker thread, never shared: the answer counters are shared atomics, and
// each thread keeps its own selection structure per (service, family), rebuilt lazily when it
// first sees a new snapshot. pick() takes no lock, allocates nothing, throws nothing, and
// does not scan the backends: least_load keeps a monotone priority queue (a radix heap whose
// minimum level is a bag picked from at random), O(1) per pick while loads are level and
// amortised O(log of the load spread) otherwise; see balancer_selector.hpp.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/snapshot.hpp"

namespace loadns::core {

class family_pairs;  // server/core/family_pairs.hpp

class balancer {  // one per worker thread; never shared
 public:
  /// Answers given this long before a report still count as after it: a client connects a
  /// round trip or two after its answer, so the newest answers are not yet connections the
  /// agent can see. Counting a few twice only makes a backend look busier for one report.
  static constexpr clock::duration connect_allowance = std::chrono::milliseconds(200);

  /// `pairs`: the table shared by every thread that pairs a nonce name's A and AAAA queries
  /// (answer() uses it); null: each query chooses on its own.
  explicit balancer(std::uint64_t seed, family_pairs* pairs = nullptr);
  balancer(const balancer&) = delete;
  balancer& operator=(const balancer&) = delete;
  ~balancer();

  /// Chooses up to out.size() backends of `fam` from `svc` for one response, best first,
  /// at `now` on the server's steady clock. Returns how many (0 when the family has none).
  /// `svc` must be one of `snap.services`. Chooses among `svc.candidates[fam]`, whatever
  /// their mode (answer() counts the responses that on_empty shaped). Counts nothing: the
  /// caller calls count() for each backend it answered with. least_load takes the chosen
  /// ones out of this thread's heap and puts them back, with what was counted, at the next
  /// pick; a backend not counted (its record did not fit) goes back as it was.
  std::size_t pick(const snapshot& snap, const service& svc, family fam,
                   std::span<const backend*> out, clock::time_point now) noexcept;

  /// Counts one answer with `b` at `now` (the time its pick() was given): call it once for
  /// each backend of a pick whose record was written. Any thread's count reaches every
  /// thread's balancer through the shared counter.
  static void count(const backend& b, clock::time_point now) noexcept {
    if (b.answer_count) b.answer_count->add(now);
  }

  family_pairs* pairs() const noexcept { return pairs_; }

 private:
  struct selector;  // per (service, family): the candidates and their order

  selector* selector_for(const snapshot& snap, const service& svc, family fam,
                         clock::time_point now) noexcept;
  std::uint64_t next_random() noexcept;
  /// Puts what the last least_load pick took out back into its heap, keyed by the loads
  /// counted since, when `snap` is still the snapshot it was made for (else its selector is
  /// rebuilt anyway).
  void settle(const snapshot& snap) noexcept;

  std::uint64_t rng_;
  family_pairs* pairs_;
  const snapshot* seen_ = nullptr;
  std::uint64_t seen_generation_ = 0;
  std::vector<selector> selectors_;  // [service index * 2 + family]
  selector* unsettled_ = nullptr;    // the last least_load pick's, until settle()
};

}  // namespace loadns::core
