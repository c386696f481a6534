#include "server/core/backends.hpp"

#include <algorithm>

#include "server/core/slow_start.hpp"
#include "server/dns/rdata_text.hpp"

namespace loadns::core {
namespace {

/// A row the snapshot cannot take, named with its id (the operator's key to it).
std::string backend_label(const backend_row& row) {
  return "backend " + std::to_string(row.id) + ' ' +
         backend_text(row.service, row.name, row.address);
}

}  // namespace

std::string backend_text(std::string_view service, std::string_view name,
                         std::string_view address) {
  std::string text;
  text.reserve(service.size() + name.size() + address.size() + 4);
  text += service;
  text += '/';
  text += name;
  text += " (";
  text += address;
  text += ')';
  return text;
}

backend_state classify(const backend& b, std::optional<clock::duration> report_age,
                       const service& svc) noexcept {
  if (!b.enabled) return backend_state::disabled;
  if (b.draining) return backend_state::draining;
  if (report_age && *report_age > svc.stale_after) return backend_state::stale;
  if (!b.healthy) return backend_state::unhealthy;
  if (b.capacity && b.connections >= *b.capacity) return backend_state::full;
  return backend_state::serving;
}

void decide_candidates(service& svc) {
  for (std::size_t f = 0; f < svc.backends.size(); ++f) {
    const auto& list = svc.backends[f];
    auto& c = svc.candidates[f];
    c.indices.clear();
    c.mode = family_mode::serving;
    for (std::uint32_t i = 0; i < list.size(); ++i) {
      if (list[i].state == backend_state::serving) c.indices.push_back(i);
    }
    c.serving = static_cast<std::uint32_t>(c.indices.size());
    // A family without any backend lacks nothing (AAAA of an IPv4-only service): NODATA as
    // for any absent type, whatever on_empty says. min_serving = 0: on_empty never applies.
    if (list.empty() || c.serving >= svc.min_serving) continue;
    switch (svc.on_empty) {
      case on_empty_action::fail_open:
        // Panic mode: spread over every enabled backend rather than crowd the few serving
        // ones (or answer nothing); clients retry a backend that turns out to be down.
        c.indices.clear();
        for (std::uint32_t i = 0; i < list.size(); ++i) {
          if (list[i].enabled) c.indices.push_back(i);
        }
        // None enabled: nothing to fail open to; the operator switched them all off.
        c.mode = c.indices.empty() ? family_mode::nodata : family_mode::fail_open;
        break;
      case on_empty_action::nodata:
        c.indices.clear();
        c.mode = family_mode::nodata;
        break;
      case on_empty_action::servfail:
        c.indices.clear();
        c.mode = family_mode::servfail;
        break;
    }
  }
}

void add_backends(const source& src, clock::time_point now, counter_registry& counters,
                  const std::unordered_map<std::string, std::size_t>& service_by_wire,
                  snapshot& snap, std::vector<skipped_row>& skipped) {
  // Where each row goes, first, so that every list is allocated once at its size: with
  // 10,000 backends, growing the lists by doubling was the server's peak of memory.
  struct placement {
    bool used = false;  ///< false: the row is skipped
    std::size_t service = 0;
    family fam = family::v4;
    std::array<std::uint8_t, 16> address{};
    bool dual = false;  ///< second_address set: the host is in the other family's list too
    std::array<std::uint8_t, 16> second{};
  };
  std::vector<placement> place(src.backends.size());
  for (std::size_t i = 0; i < src.backends.size(); ++i) {
    const auto& row = src.backends[i];
    auto skip = [&](const char* reason) {
      skipped.push_back({table::backends, backend_label(row), reason});
    };
    std::vector<std::uint8_t> w;
    auto it = service_by_wire.end();
    if (dns::name_from_text(row.service, w)) {
      it = service_by_wire.find(std::string(w.begin(), w.end()));
    }
    if (it == service_by_wire.end()) {
      skip("unknown service (or one left out of the snapshot)");
      continue;
    }
    bool v6 = false;
    if (!dns::address_from_text(row.address, v6, place[i].address)) {
      skip("invalid address");
      continue;
    }
    if (row.capacity && *row.capacity < 0) {
      skip("negative capacity");
      continue;
    }
    // Also refuses NaN. Outside these bounds the balancer's ratios of shares overflow.
    if (!(row.weight >= min_weight && row.weight <= max_weight)) {
      skip("weight must be 0.000001 to 1000000");
      continue;
    }
    place[i].fam = v6 ? family::v6 : family::v4;
    place[i].service = it->second;
    if (!row.second_address.empty()) {
      bool second_v6 = false;
      if (!dns::address_from_text(row.second_address, second_v6, place[i].second)) {
        skip("invalid second_address");
        continue;
      }
      if (second_v6 == v6) {
        skip("second_address of the same family as address");
        continue;
      }
      place[i].dual = true;
    }
    place[i].used = true;
  }
  {
    std::vector<std::array<std::size_t, 2>> sizes(snap.services.size());
    for (const auto& p : place) {
      if (!p.used) continue;
      ++sizes[p.service][static_cast<std::size_t>(p.fam)];
      if (p.dual) ++sizes[p.service][1 - static_cast<std::size_t>(p.fam)];
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      for (std::size_t f = 0; f < 2; ++f) snap.services[i].backends[f].reserve(sizes[i][f]);
    }
  }
  for (std::size_t i = 0; i < src.backends.size(); ++i) {
    if (!place[i].used) continue;
    const auto& row = src.backends[i];
    service& svc = snap.services[place[i].service];
    backend b;
    b.id = row.id;
    b.name = row.name;
    b.fam = place[i].fam;
    b.address = place[i].address;
    b.address_text = std::string(dns::trim_blanks(row.address));
    b.enabled = row.enabled;
    b.draining = row.draining;
    b.capacity = row.capacity;
    b.weight = row.weight;
    b.connections = row.connections;
    b.healthy = row.agent_healthy.value_or(true);
    b.check = row.agent_check;
    // Clamped like serving_since: a report centuries old would overflow the clock.
    if (row.report_age) b.reported_at = now - std::min(*row.report_age, slow_start_horizon);
    if (row.in_service) {
      b.serving_since = now - std::clamp(*row.in_service, -slow_start_horizon, slow_start_horizon);
    }
    b.state = classify(b, row.report_age, svc);
    b.answer_count = counters.get(row.id);
    b.shared = counters.get_shared(row.id);
    auto& list = svc.backends[static_cast<std::size_t>(b.fam)];
    if (place[i].dual) {
      // One host, one load unit: the other family's entry shares the row's state and answer
      // counters, so an answer of either family counts for the host.
      backend other = b;
      other.fam = b.fam == family::v4 ? family::v6 : family::v4;
      other.address = place[i].second;
      other.address_text = std::string(dns::trim_blanks(row.second_address));
      other.second = true;
      auto& other_list = svc.backends[static_cast<std::size_t>(other.fam)];
      other.twin = static_cast<std::uint32_t>(list.size());
      b.twin = static_cast<std::uint32_t>(other_list.size());
      other_list.push_back(std::move(other));
    }
    list.push_back(std::move(b));
  }
  for (auto& svc : snap.services) decide_candidates(svc);
}

}  // namespace loadns::core
