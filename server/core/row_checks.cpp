#include "server/core/row_checks.hpp"

#include <array>

#include "server/core/slow_start.hpp"
#include "server/core/snapshot_builder.hpp"
#include "server/dns/rdata_text.hpp"
#include "server/dns/types.hpp"

namespace loadns::core {
namespace {

void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) v.push_back(static_cast<std::uint8_t>(x >> shift));
}

/// `text` as the value of an enum whose words are `names`, in the enum's order; false when it
/// is none of them.
template <typename E, std::size_t N>
bool parse_word(std::string_view text, const std::array<std::string_view, N>& names, E& out) {
  const auto it = std::find(names.begin(), names.end(), text);
  if (it == names.end()) {
    return false;
  }
  out = static_cast<E>(it - names.begin());
  return true;
}

}  // namespace

// Appended rather than built with operator+: g++ 12 at -O3 reports a false -Wrestrict in the
// inlined std::string operator+(const char*, string&&) (GCC bug 105329).
std::string quoted(std::string_view s) {
  std::string q;
  q.reserve(s.size() + 2);
  q += '\'';
  q += s;
  q += '\'';
  return q;
}

std::string record_label(const record_row& row) {
  std::string label = "record ";
  if (row.id != 0) {
    label += std::to_string(row.id);
    label += ' ';
  }
  label += quoted(row.name);
  label += ' ';
  label += row.type;
  label += ' ';
  if (row.data.size() > 80) {
    std::string cut = row.data.substr(0, 80);
    cut += "...";
    label += quoted(cut);
  } else {
    label += quoted(row.data);
  }
  return label;
}

std::string zone_records(const zone_row& row, zone& z) {
  std::vector<std::uint8_t> mname, rname;
  if (!dns::name_from_text(row.mname, mname)) {
    return "invalid mname " + quoted(row.mname);
  }
  if (!dns::name_from_text(row.rname, rname)) {
    return "invalid rname " + quoted(row.rname);
  }
  if (row.nameservers.empty()) {
    return "no nameservers (NS records)";
  }
  z.soa.type = dns::type::soa;
  z.soa.ttl = capped_ttl(row.ttl);
  auto& soa = z.soa.rdata.emplace_back(mname);
  soa.insert(soa.end(), rname.begin(), rname.end());
  for (auto v : {row.serial, row.refresh, row.retry, row.expire, row.minimum}) {
    put32(soa, v);
  }
  z.ns.type = dns::type::ns;
  z.ns.ttl = capped_ttl(row.ttl);
  for (const auto& ns : row.nameservers) {
    std::vector<std::uint8_t> w;
    if (!dns::name_from_text(ns, w)) {
      return "invalid nameserver " + quoted(ns);
    }
    if (std::find(z.ns.rdata.begin(), z.ns.rdata.end(), w) == z.ns.rdata.end()) {
      z.ns.rdata.push_back(std::move(w));
    }
  }
  z.negative_ttl = capped_ttl(std::min(row.ttl, row.minimum));
  return {};
}

std::string service_settings(const service_row& row, service& svc) {
  svc.ttl = capped_ttl(row.ttl);
  if (row.records_per_response == 0) {
    return "answers must be at least 1";
  }
  svc.records_per_response = row.records_per_response;
  svc.accept_nonce = row.accept_nonce;
  const std::string_view pol = row.policy.empty() ? policy_names[0] : std::string_view(row.policy);
  if (!parse_word(pol, policy_names, svc.pol)) {
    return "unknown policy " + quoted(row.policy);
  }
  if (row.stale_after.count() <= 0 || row.stale_after > max_interval) {
    return "stale_after must be 1 ms to 100 years (it is " +
           std::to_string(row.stale_after.count()) + " ms)";
  }
  svc.stale_after = row.stale_after;
  if (row.min_serving < 0 || row.min_serving > 0xFFFFFFFF) {
    return "min_serving out of range";
  }
  svc.min_serving = static_cast<std::uint32_t>(row.min_serving);
  if (!parse_word(row.on_empty, on_empty_action_names, svc.on_empty)) {
    return "unknown on_empty " + quoted(row.on_empty);
  }
  if (row.slow_start.count() < 0) {
    return "slow_start must not be negative";
  }
  svc.slow_start = std::min(row.slow_start, slow_start_horizon);
  return {};
}

std::string record_conflict(const name_node& n, std::uint16_t rrtype,
                            const std::vector<std::uint8_t>& rdata) {
  const rrset* cname = n.find(dns::type::cname);
  if (rrtype == dns::type::cname) {
    if (cname != nullptr) {
      return cname->rdata.front() == rdata ? std::string{}
                                           : "a name has at most one CNAME (RFC 2181 10.1)";
    }
    if (!n.rrsets.empty() || n.apex || n.service != no_service) {
      return "a CNAME cannot coexist with other data (RFC 1034 3.6.2)";
    }
    return {};
  }
  if (cname != nullptr) {
    return "the name has a CNAME, which cannot coexist with other data (RFC 1034 3.6.2)";
  }
  if (n.service != no_service && (rrtype == dns::type::a || rrtype == dns::type::aaaa)) {
    return "the name is a service";
  }
  return {};
}

}  // namespace loadns::core
