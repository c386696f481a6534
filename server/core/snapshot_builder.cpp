#include "server/core/snapshot_builder.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "server/core/backends.hpp"
#include "server/core/slow_start.hpp"
#include "server/dns/name.hpp"
#include "server/dns/rdata_text.hpp"
#include "server/dns/types.hpp"

namespace loadns::core {
namespace {

using wire_name = std::vector<std::uint8_t>;

bool to_wire(std::string_view text, wire_name& out) {
  return dns::name_from_text(text, out);
}

std::string_view as_key(const wire_name& w) {
  return {reinterpret_cast<const char*>(w.data()), w.size()};  // NOLINT: octets as chars
}

void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) v.push_back(static_cast<std::uint8_t>(x >> shift));
}

// RFC 2181 8: a TTL is 0..2^31-1; larger values are read as 0 by receivers, so cap them.
std::uint32_t ttl(std::uint32_t t) {
  return std::min<std::uint32_t>(t, 0x7FFFFFFF);
}

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

// A record row for messages: its id (when it has one), name, type and data (long data cut).
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

class builder {
 public:
  builder(const source& src, clock::time_point now, counter_registry& counters)
      : src_(src), now_(now), counters_(counters) {}

  bool run(snapshot& s) {
    snap_ = &s;
    if (!zones()) return false;
    zone_cuts();
    services();
    records();
    glue();
    add_backends(src_, now_, counters_, service_by_name_, s, skipped);
    return true;
  }
  std::string error;
  std::vector<skipped_row> skipped;

 private:
  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }

  /// The zone of a row's name (`w`: its wire form); -1, after skip_row(why), when the name
  /// is invalid or inside none of the zones.
  template <typename Skip>
  std::int64_t zone_of_row(const std::string& name, wire_name& w, const Skip& skip_row) const {
    if (!to_wire(name, w)) {
      skip_row("invalid name");
      return -1;
    }
    const std::int64_t z = zone_of(w);
    if (z < 0) {
      skip_row("not inside any zone");
    }
    return z;
  }

  // The longest zone that contains `name` (itself included), or -1.
  std::int64_t zone_of(const wire_name& name, bool strictly_below = false) const {
    std::size_t at = strictly_below ? 1 + std::size_t{name[0]} : 0;
    for (; at < name.size() && name[at] != 0; at += 1 + std::size_t{name[at]}) {
      auto it = zone_by_name_.find(std::string(as_key(name).substr(at)));
      if (it != zone_by_name_.end()) {
        return it->second;
      }
    }
    return -1;
  }

  // The node of `name` in zone `z`, with the empty non-terminals up to the apex.
  name_node& node(const wire_name& name, std::uint32_t z, std::string_view text) {
    bool created = false;
    name_node& n = snap_->zones.insert(name, created);
    if (!created) {
      return n;
    }
    n.zone = z;
    n.text = std::string(text);
    add_empty_non_terminals(name, z);
    return n;
  }

  // The names between `name` and the apex of zone `z` exist (RFC 8020 2): each ancestor not
  // yet a node becomes an empty non-terminal of `z`.
  void add_empty_non_terminals(std::span<const std::uint8_t> name, std::uint32_t z) {
    const std::size_t apex_length = snap_->zones.zone_at(z).wire.size();
    for (std::size_t at = 1 + std::size_t{name[0]}; name.size() - at > apex_length;
         at += 1 + std::size_t{name[at]}) {
      bool made = false;
      name_node& ent = snap_->zones.insert(name.subspan(at), made);
      if (!made) {
        break;  // its ancestors exist already
      }
      ent.zone = z;
      ent.text = dns::to_text(name.subspan(at));
    }
  }

  bool zones() {
    for (const auto& row : src_.zones) {
      const std::string what = "zone " + quoted(row.name);
      zone z;
      if (!to_wire(row.name, z.wire)) {
        return fail(what + ": invalid name");
      }
      z.name = dns::to_text(z.wire);
      if (!zone_by_name_.emplace(std::string(as_key(z.wire)), snap_->zones.zones().size()).second) {
        return fail(what + ": duplicate zone");
      }
      wire_name mname, rname;
      if (!to_wire(row.mname, mname)) {
        return fail(what + ": invalid mname " + quoted(row.mname));
      }
      if (!to_wire(row.rname, rname)) {
        return fail(what + ": invalid rname " + quoted(row.rname));
      }
      if (row.nameservers.empty()) {
        return fail(what + ": no nameservers (NS records)");
      }
      z.soa.type = dns::type::soa;
      z.soa.ttl = ttl(row.ttl);
      auto& soa = z.soa.rdata.emplace_back(mname);
      soa.insert(soa.end(), rname.begin(), rname.end());
      for (auto v : {row.serial, row.refresh, row.retry, row.expire, row.minimum}) {
        put32(soa, v);
      }
      z.ns.type = dns::type::ns;
      z.ns.ttl = ttl(row.ttl);
      for (const auto& ns : row.nameservers) {
        wire_name w;
        if (!to_wire(ns, w)) {
          return fail(what + ": invalid nameserver " + quoted(ns));
        }
        if (std::find(z.ns.rdata.begin(), z.ns.rdata.end(), w) == z.ns.rdata.end()) {
          z.ns.rdata.push_back(std::move(w));
        }
      }
      z.negative_ttl = ttl(std::min(row.ttl, row.minimum));
      const wire_name apex = z.wire;
      const std::uint32_t index = snap_->zones.add_zone(std::move(z));
      bool created = false;
      name_node& n = snap_->zones.insert(apex, created);
      n.apex = true;
      n.zone = index;
      n.text = snap_->zones.zone_at(index).name;
    }
    return true;
  }

  // A child zone's apex is a name in its parent zone: the names between them are empty
  // non-terminals of the parent.
  void zone_cuts() {
    for (std::uint32_t i = 0; i < snap_->zones.zones().size(); ++i) {
      const wire_name apex = snap_->zones.zone_at(i).wire;
      std::int64_t parent = zone_of(apex, true);
      if (parent < 0) {
        continue;
      }
      add_empty_non_terminals(apex, static_cast<std::uint32_t>(parent));
    }
  }

  void skip(table t, std::string row, std::string reason) {
    skipped.push_back({t, std::move(row), std::move(reason)});
  }

  void services() {
    for (const auto& row : src_.services) {
      const std::string what = "service " + quoted(row.name);
      auto skip_row = [&](std::string reason) { skip(table::services, what, std::move(reason)); };
      wire_name w;
      const std::int64_t z = zone_of_row(row.name, w, skip_row);
      if (z < 0) {
        continue;
      }
      service svc;
      svc.name = dns::to_text(w);
      svc.ttl = ttl(row.ttl);
      if (row.records_per_response == 0) {
        skip_row("answers must be at least 1");
        continue;
      }
      svc.records_per_response = row.records_per_response;
      svc.accept_nonce = row.accept_nonce;
      const std::string_view pol =
          row.policy.empty() ? policy_names[0] : std::string_view(row.policy);
      if (!parse_word(pol, policy_names, svc.pol)) {
        skip_row("unknown policy " + quoted(row.policy));
        continue;
      }
      if (row.stale_after.count() <= 0 || row.stale_after > max_interval) {
        skip_row("stale_after must be 1 ms to 100 years (it is " +
                 std::to_string(row.stale_after.count()) + " ms)");
        continue;
      }
      svc.stale_after = row.stale_after;
      if (row.min_serving < 0 || row.min_serving > 0xFFFFFFFF) {
        skip_row("min_serving out of range");
        continue;
      }
      svc.min_serving = static_cast<std::uint32_t>(row.min_serving);
      if (!parse_word(row.on_empty, on_empty_action_names, svc.on_empty)) {
        skip_row("unknown on_empty " + quoted(row.on_empty));
        continue;
      }
      if (row.slow_start.count() < 0) {
        skip_row("slow_start must not be negative");
        continue;
      }
      svc.slow_start = std::min(row.slow_start, slow_start_horizon);
      svc.index = snap_->services.size();
      if (!service_by_name_.emplace(std::string(as_key(w)), svc.index).second) {
        skip_row("duplicate service");
        continue;
      }
      name_node& n = node(w, static_cast<std::uint32_t>(z), svc.name);
      n.service = static_cast<std::uint32_t>(svc.index);
      snap_->zones.zone_at(static_cast<std::uint32_t>(z))
          .services.push_back(static_cast<std::uint32_t>(svc.index));
      snap_->services.push_back(std::move(svc));
    }
  }

  // Why a record of `rrtype` with `rdata` cannot join the name's node as it stands, or empty.
  // The rows met first (lower ids) stay: a row that conflicts with them is the one left out.
  std::string conflict(const name_node& n, std::uint16_t rrtype,
                       const std::vector<std::uint8_t>& rdata) const {
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

  void records() {
    // By id: when two rows conflict, the older one stays.
    std::vector<std::size_t> order(src_.records.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return src_.records[a].id < src_.records[b].id;
    });
    for (std::size_t i : order) {
      const auto& row = src_.records[i];
      auto skip_row = [&](std::string reason) {
        skip(table::records, record_label(row), std::move(reason));
      };
      wire_name w;
      const std::int64_t z = zone_of_row(row.name, w, skip_row);
      if (z < 0) {
        continue;
      }
      std::uint16_t rrtype = 0;
      std::vector<std::uint8_t> rdata;
      std::string why;
      if (!dns::rdata_from_text(row.type, row.data, rrtype, rdata, why)) {
        skip_row(std::move(why));
        continue;
      }
      std::string key(as_key(w));
      key += static_cast<char>(rrtype >> 8);
      key += static_cast<char>(rrtype & 0xFF);
      std::size_t& octets = rrset_octets_[key];
      if (const name_node* existing = snap_->zones.find(w)) {
        if (auto problem = conflict(*existing, rrtype, rdata); !problem.empty()) {
          skip_row(std::move(problem));
          continue;
        }
        if (const rrset* set = existing->find(rrtype);
            set != nullptr &&
            std::find(set->rdata.begin(), set->rdata.end(), rdata) != set->rdata.end()) {
          continue;  // RFC 2181 5: no duplicate records
        }
      }
      if (octets + 12 + rdata.size() > max_rrset_octets) {
        skip_row("the RRset would take " + std::to_string(octets + 12 + rdata.size()) +
                 " octets (12 per record plus its data), more than " +
                 std::to_string(max_rrset_octets) + ": a response would not fit one message");
        continue;
      }
      octets += 12 + rdata.size();
      name_node& n = node(w, static_cast<std::uint32_t>(z), dns::to_text(w));
      auto it = std::find_if(n.rrsets.begin(), n.rrsets.end(),
                             [&](const rrset& s) { return s.type == rrtype; });
      if (it == n.rrsets.end()) {
        n.rrsets.push_back(rrset{rrtype, ttl(row.ttl), {}, {}});
        it = n.rrsets.end() - 1;
      }
      // RFC 2181 5.2: one TTL per RRset (the lowest wins).
      it->ttl = std::min(it->ttl, ttl(row.ttl));
      it->rdata.push_back(std::move(rdata));
    }
  }

  // Addresses of in-zone name servers (glue) and mail exchangers for the additional section.
  void glue() {
    auto addresses_of = [&](std::span<const std::uint8_t> target, std::vector<extra_record>& out) {
      const name_node* n = snap_->zones.find(target);
      if (n == nullptr) {
        return;
      }
      for (std::uint16_t t : {dns::type::a, dns::type::aaaa}) {
        if (const rrset* set = n->find(t)) {
          for (const auto& rd : set->rdata) {
            out.push_back(extra_record{{target.begin(), target.end()}, t, set->ttl, rd});
          }
        }
      }
    };
    for (std::uint32_t i = 0; i < snap_->zones.zones().size(); ++i) {
      zone& z = snap_->zones.zone_at(i);
      for (const auto& ns : z.ns.rdata) {
        addresses_of(ns, z.ns.additional);
      }
    }
    std::vector<name_node*> with_mx;
    snap_->zones.for_each([&](std::string_view key, const name_node& n) {
      if (n.find(dns::type::mx) != nullptr) {
        with_mx.push_back(snap_->zones.find_mutable(
            {reinterpret_cast<const std::uint8_t*>(key.data()), key.size()}));  // NOLINT
      }
    });
    for (name_node* n : with_mx) {
      for (auto& set : n->rrsets) {
        if (set.type != dns::type::mx) {
          continue;
        }
        for (const auto& rd : set.rdata) {
          addresses_of(std::span<const std::uint8_t>(rd).subspan(2), set.additional);
        }
      }
    }
  }

  const source& src_;
  clock::time_point now_;
  counter_registry& counters_;
  snapshot* snap_ = nullptr;
  std::unordered_map<std::string, std::uint32_t> zone_by_name_;
  std::unordered_map<std::string, std::size_t> service_by_name_;
  std::unordered_map<std::string, std::size_t> rrset_octets_;  ///< wire name + type: octets
};

}  // namespace

build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters) {
  auto snap = std::make_shared<snapshot>();
  snap->generation = generation;
  snap->built_at = now;
  builder b(src, now, counters);
  if (!b.run(*snap)) {
    return {nullptr, std::move(b.error), std::move(b.skipped)};
  }
  return {std::move(snap), {}, std::move(b.skipped)};
}

std::string_view table_name(table t) noexcept {
  switch (t) {
    case table::zones:
      return "zones";
    case table::services:
      return "services";
    case table::backends:
      return "backends";
    case table::records:
      return "records";
  }
  return "?";
}

}  // namespace loadns::core
