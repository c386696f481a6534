#pragma once
// One home for the rules about a service's backends, applied once per snapshot: a backend's
// effective state, and per family which backends answer and whether that is failing open.
// The balancer only chooses among the candidates given here; metrics read the same states.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/core/answer_counter.hpp"
#include "server/core/snapshot.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/core/source.hpp"

namespace loadns::core {

/// How logs and errors name a backend: "<service>/<name> (<address>)".
std::string backend_text(std::string_view service, std::string_view name, std::string_view address);

/// A backend's effective state: the first reason that applies, most deliberate first (an
/// operator's switch, then the agent's drain, then silence, then the agent's health check,
/// then load), the order of the backend_status view; see docs/balancing.md.
/// `report_age`: how old its last report was when the poll read it (empty: no agent).
backend_state classify(const backend& b, std::optional<clock::duration> report_age,
                       const service& svc) noexcept;

/// Decides `svc.candidates` from its backends' states: the serving ones; when fewer than
/// `svc.min_serving` of a family serve, the service's on_empty instead: every enabled one of
/// the family (fail_open: answering with a backend that may be down beats answering with
/// none, clients retry), no address (nodata) or SERVFAIL (servfail). A family without any
/// backend is left as it is (serving, no candidates: NODATA). See docs/balancing.md.
void decide_candidates(service& svc);

/// Adds the backends of `src` to the services of `snap` (found through `service_by_wire`:
/// lower-case wire name to index), judged at `now` (this server's clock at the database's
/// now()), with their answer counters from `counters`, and decides every service's
/// candidates. A row it cannot use is left out and added to `skipped` with the reason.
void add_backends(const source& src, clock::time_point now, counter_registry& counters,
                  const std::unordered_map<std::string, std::size_t>& service_by_wire,
                  snapshot& snap, std::vector<skipped_row>& skipped);

}  // namespace loadns::core
