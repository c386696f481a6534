#include "server/metrics/collector.hpp"

#include <array>
#include <chrono>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "server/core/answer_counter.hpp"
#include "server/core/load.hpp"
#include "server/core/prediction_error.hpp"
#include "server/metrics/exposition.hpp"
#include "server/metrics/sharing.hpp"

namespace loadns::metrics {

namespace {

/// A TCP session counter: every worker's, summed, as one series.
struct tcp_counter {
  std::string_view name;
  std::string_view help;
  net::relaxed_counter net::query_stats::*field;
};

constexpr std::array<tcp_counter, 6> tcp_counters = {{
    {"loadns_tcp_accepted_total", "TCP connections accepted.", &net::query_stats::tcp_accepted},
    {"loadns_tcp_rejected_total",
     "TCP connections closed at once because --tcp-max-connections were open and none of the "
     "accepting thread's was idle.",
     &net::query_stats::tcp_rejected},
    {"loadns_tcp_evicted_total",
     "Idle TCP connections closed to make room for a new one at --tcp-max-connections.",
     &net::query_stats::tcp_evicted},
    {"loadns_tcp_source_rejected_total",
     "TCP connections closed at once because their client /24 (IPv6 /56) already had "
     "--tcp-max-per-source open.",
     &net::query_stats::tcp_source_rejected},
    {"loadns_tcp_frame_timeouts_total",
     "TCP connections closed because a query, once begun, was not complete within "
     "--tcp-frame-timeout (also counted in loadns_tcp_timeouts_total).",
     &net::query_stats::tcp_frame_timeouts},
    {"loadns_tcp_timeouts_total",
     "TCP connections closed for sending no complete query within --tcp-idle-timeout.",
     &net::query_stats::tcp_timeouts},
}};

void render_queries(exposition& e, const net::server& dns) {
  using namespace loadns::net;
  std::vector<const responder*> responders;
  for (const auto& w : dns.workers()) {
    for (const auto* a : w->responders()) responders.push_back(a);
  }
  e.family("loadns_queries_total", "counter",
           "DNS queries answered, by transport, rcode and type.");
  for (std::size_t t = 0; t < transport_names.size(); ++t) {
    for (std::size_t r = 0; r < rcode_names.size(); ++r) {
      for (std::size_t q = 0; q < qtype_names.size(); ++q) {
        std::uint64_t sum = 0;
        for (const auto* a : responders) sum += a->stats().queries[t][r][q].get();
        if (sum == 0) continue;
        e.sample("loadns_queries_total",
                 {{"transport", transport_names[t]},
                  {"rcode", rcode_names[r]},
                  {"qtype", qtype_names[q]}},
                 static_cast<double>(sum));
      }
    }
  }
  e.family("loadns_queries_dropped_total", "counter",
           "Packets not answered: shorter than a header, or a response (QR set).");
  for (std::size_t t = 0; t < transport_names.size(); ++t) {
    std::uint64_t sum = 0;
    for (const auto* a : responders) sum += a->stats().dropped[t].get();
    e.sample("loadns_queries_dropped_total", {{"transport", transport_names[t]}},
             static_cast<double>(sum));
  }

  std::uint64_t rrl_dropped = 0, rrl_slipped = 0;
  std::array<std::uint64_t, cookie_outcome_names.size()> cookies{};
  for (const auto* a : responders) {
    rrl_dropped += a->stats().rrl_dropped.get();
    rrl_slipped += a->stats().rrl_slipped.get();
    for (std::size_t i = 0; i < cookies.size(); ++i) cookies[i] += a->stats().cookies[i].get();
  }
  e.family("loadns_rrl_limited_total", "counter",
           "UDP responses over --rrl-rate for their client network and answer: withheld "
           "(dropped) or sent truncated (slipped).");
  e.sample("loadns_rrl_limited_total", {{"action", "dropped"}}, static_cast<double>(rrl_dropped));
  e.sample("loadns_rrl_limited_total", {{"action", "slipped"}}, static_cast<double>(rrl_slipped));
  e.family("loadns_cookies_total", "counter",
           "Queries with a DNS COOKIE option, by what it proved: a client cookie alone, a "
           "server cookie not ours or expired, a valid one, or a malformed option (FORMERR).");
  for (std::size_t i = 0; i < cookies.size(); ++i) {
    e.sample("loadns_cookies_total", {{"outcome", cookie_outcome_names[i]}},
             static_cast<double>(cookies[i]));
  }

  std::array<std::uint64_t, core::on_empty_action_names.size()> on_empty{};
  for (const auto* a : responders) {
    for (std::size_t i = 0; i < on_empty.size(); ++i) on_empty[i] += a->stats().on_empty[i].get();
  }
  e.family("loadns_tcp_connections", "gauge", "TCP connections open now.");
  e.sample("loadns_tcp_connections", dns.tcp_open());
  for (const auto& c : tcp_counters) {
    std::uint64_t sum = 0;
    for (const auto& w : dns.workers()) sum += (w->stats().*c.field).get();
    e.family(c.name, "counter", c.help);
    e.sample(c.name, static_cast<double>(sum));
  }
  e.family("loadns_on_empty_answers_total", "counter",
           "Responses shaped by a service's on_empty because fewer than min_serving backends "
           "of the family served: fail_open (from every enabled backend), nodata, servfail.");
  for (std::size_t i = 0; i < on_empty.size(); ++i) {
    e.sample("loadns_on_empty_answers_total", {{"action", core::on_empty_action_names[i]}},
             static_cast<double>(on_empty[i]));
  }
  e.family("loadns_fail_open_answers_total", "counter",
           "The same as loadns_on_empty_answers_total{action=\"fail_open\"} (the older name).");
  e.sample(
      "loadns_fail_open_answers_total",
      static_cast<double>(on_empty[static_cast<std::size_t>(core::on_empty_action::fail_open)]));
}

void render_snapshot(exposition& e, const core::snapshot* snap) {
  e.family("loadns_ready", "gauge",
           "1 once the first snapshot is loaded and queries are answered.");
  e.sample("loadns_ready", snap != nullptr ? 1 : 0);
  if (snap == nullptr) return;

  const auto age = std::chrono::duration<double>(core::clock::now() - snap->built_at).count();
  e.family("loadns_snapshot_age_seconds", "gauge", "Time since the snapshot in use was loaded.");
  e.sample("loadns_snapshot_age_seconds", age);
  e.family("loadns_snapshot_generation", "gauge", "Snapshots loaded since start.");
  e.sample("loadns_snapshot_generation", static_cast<double>(snap->generation));

  std::array<std::uint64_t, core::backend_state_names.size()> by_state{};
  for (const auto& svc : snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) {
        if (!b.second) ++by_state[static_cast<std::size_t>(b.state)];  // a host counts once
      }
    }
  }
  e.family("loadns_backends", "gauge", "Backends in the snapshot, by effective state.");
  for (std::size_t i = 0; i < by_state.size(); ++i) {
    e.sample("loadns_backends", {{"state", core::backend_state_names[i]}},
             static_cast<double>(by_state[i]));
  }

  e.family("loadns_backend_answers_total", "counter",
           "Answers this server gave each backend since it first saw it.");
  for (const auto& svc : snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) {
        if (b.second) continue;  // a dual-stack host counts once, at its first address
        e.sample("loadns_backend_answers_total",
                 {{"service", svc.name}, {"backend", b.name}, {"address", b.address_text}},
                 b.answer_count ? static_cast<double>(b.answer_count->total()) : 0.0);
      }
    }
  }
  e.family("loadns_backend_connections", "gauge", "Connections the backend's agent last reported.");
  for (const auto& svc : snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) {
        if (b.second) continue;
        e.sample("loadns_backend_connections",
                 {{"service", svc.name},
                  {"backend", b.name},
                  {"address", b.address_text},
                  {"state", core::backend_state_names[static_cast<std::size_t>(b.state)]}},
                 static_cast<double>(b.connections));
      }
    }
  }
  e.family("loadns_backend_capacity", "gauge",
           "Connections the backend may hold (its capacity), for backends that have one.");
  for (const auto& svc : snap->services) {
    for (const auto& fam : svc.backends) {
      for (const auto& b : fam) {
        if (!b.capacity || b.second) continue;
        e.sample("loadns_backend_capacity",
                 {{"service", svc.name}, {"backend", b.name}, {"address", b.address_text}},
                 static_cast<double>(*b.capacity));
      }
    }
  }

  // At scrape time rather than per poll, so that it includes the answers given since the
  // last report, as the balancer sees them; a walk over the backends, never per query.
  const auto now = core::clock::now();
  e.family("loadns_service_imbalance", "gauge",
           "Max over mean utilisation (predicted connections over capacity) of the service's "
           "serving backends: 1 is even. Absent while none is serving.");
  for (const auto& svc : snap->services) {
    if (const auto v = core::imbalance(svc, now)) {
      e.sample("loadns_service_imbalance", {{"service", svc.name}}, *v);
    }
  }
}

void render_prediction_errors(exposition& e, const core::prediction_errors& errors) {
  using core::prediction_errors;
  static const auto bounds = [] {
    std::array<std::string, prediction_errors::upper_bounds.size()> out;
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = fmt::format("{}", prediction_errors::upper_bounds[i]);
    return out;
  }();
  e.family("loadns_prediction_error", "histogram",
           "Connections predicted for a backend at the time of its report (last report plus "
           "answers given since) minus what that report said, one per new report.");
  for (const auto& [service, h] : errors.read()) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      e.sample("loadns_prediction_error_bucket", {{"service", service}, {"le", bounds[i]}},
               static_cast<double>(cumulative));
    }
    e.sample("loadns_prediction_error_bucket", {{"service", service}, {"le", "+Inf"}},
             static_cast<double>(h.count));
    e.sample("loadns_prediction_error_sum", {{"service", service}}, h.sum);
    e.sample("loadns_prediction_error_count", {{"service", service}}, static_cast<double>(h.count));
  }
}

void render_database(exposition& e, const db::refresher_stats& d) {
  e.family("loadns_database_up", "gauge", "1 while the refresher's database session works.");
  e.sample("loadns_database_up", d.connected.load() ? 1 : 0);
  e.family("loadns_polls_total", "counter", "Snapshot loads attempted.");
  e.sample("loadns_polls_total", static_cast<double>(d.polls.load()));
  e.family("loadns_poll_errors_total", "counter", "Snapshot loads that failed.");
  e.sample("loadns_poll_errors_total", static_cast<double>(d.poll_errors.load()));
  e.family("loadns_rows_skipped_total", "counter",
           "Rows left out of a snapshot the server could not use, once per snapshot built; "
           "the rest loads.");
  for (std::size_t t = 0; t < core::table_count; ++t) {
    const std::string table(core::table_name(static_cast<core::table>(t)));
    e.sample("loadns_rows_skipped_total", {{"table", table}},
             static_cast<double>(d.rows_skipped[t].load()));
  }
  e.family("loadns_notifications_total", "counter", "NOTIFY loadns_changed received.");
  e.sample("loadns_notifications_total", static_cast<double>(d.notifications.load()));
  e.family("loadns_poll_duration_seconds", "gauge", "Duration of the last snapshot load.");
  e.sample("loadns_poll_duration_seconds",
           static_cast<double>(d.last_poll_duration_us.load()) / 1e6);
  e.family("loadns_snapshot_from_disk", "gauge",
           "1 while the snapshot in use was read from --state-dir, not yet from the database.");
  e.sample("loadns_snapshot_from_disk", d.snapshot_from_disk.load() ? 1 : 0);
  e.family("loadns_state_writes_total", "counter", "State files written to --state-dir.");
  e.sample("loadns_state_writes_total", static_cast<double>(d.state_writes.load()));
  e.family("loadns_state_write_errors_total", "counter",
           "Writes of the state file that failed (logged once per distinct error).");
  e.sample("loadns_state_write_errors_total", static_cast<double>(d.state_write_errors.load()));
}

}  // namespace

std::string render(const sources& s) {
  exposition e;
  e.family("loadns_build_info", "gauge", "The running version.");
  e.sample("loadns_build_info", {{"version", LOADNS_VERSION}}, 1);
  render_queries(e, s.dns);
  auto snap = s.snapshots.current();
  render_snapshot(e, snap.get());
  render_database(e, s.database);
  render_prediction_errors(e, s.database.prediction_errors);
  if (s.sharing) render_sharing(e, *s.sharing);
  return e.text();
}

}  // namespace loadns::metrics
