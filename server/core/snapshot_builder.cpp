#include "server/core/snapshot_builder.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "server/core/backends.hpp"
#include "server/core/row_checks.hpp"
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

class builder {
 public:
  builder(const source& src, clock::time_point now, counter_registry& counters,
          std::span<const zone_row> last_good)
      : src_(src), now_(now), counters_(counters), last_good_(last_good) {}

  void run(snapshot& s) {
    snap_ = &s;
    zones();
    zone_cuts();
    services();
    records();
    glue();
    add_backends(src_, now_, counters_, service_by_name_, s, skipped);
  }
  std::vector<skipped_row> skipped;
  std::vector<zone_row> zone_rows;

 private:
  /// The zone of a row's name (`w`: its wire form); -1, after skip_row(why), when the name
  /// is invalid or inside none of the zones.
  template <typename Skip>
  std::int64_t zone_of_row(const std::string& name, const std::string& zone_column, wire_name& w,
                           const Skip& skip_row) const {
    if (unserved_.contains(zone_column)) {
      skip_row("its zone " + quoted(zone_column) + " is not served (its row is left out)");
      return -1;
    }
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

  // A zone row the server cannot use is left out; its last good version (`last_good_`) is
  // served in its place, so that its names stay answered while the rest of the snapshot
  // follows the database. A zone with no good version is not served, nor are the rows in it.
  void zones() {
    for (const auto& row : src_.zones) {
      zone z;
      const std::string why = zone_from_row(row, z);
      if (why.empty()) {
        add_zone(std::move(z));
        zone_rows.push_back(row);
        continue;
      }
      const std::string what = "zone " + quoted(row.name);
      if (why == "duplicate zone") {
        skip(table::zones, what, why);  // the first of that name is served
        zone_rows.push_back(row);
        continue;
      }
      const auto good = std::find_if(last_good_.begin(), last_good_.end(),
                                     [&](const zone_row& r) { return r.name == row.name; });
      zone previous;
      if (good != last_good_.end() && zone_from_row(*good, previous).empty()) {
        skip(table::zones, what, why + "; its last good version is served");
        add_zone(std::move(previous));
        zone_rows.push_back(*good);
      } else {
        skip(table::zones, what, why + "; the zone is not served");
        unserved_.insert(row.name);
        zone_rows.push_back(row);  // refused again by the next build, with the rows in it
      }
    }
  }

  // The zone of `row`, or why it cannot be served.
  std::string zone_from_row(const zone_row& row, zone& z) const {
    if (!to_wire(row.name, z.wire)) {
      return "invalid name";
    }
    if (zone_by_name_.contains(std::string(as_key(z.wire)))) {
      return "duplicate zone";
    }
    return zone_records(row, z);
  }

  void add_zone(zone z) {
    z.name = dns::to_text(z.wire);
    const wire_name apex = z.wire;
    const std::uint32_t index = snap_->zones.add_zone(std::move(z));
    zone_by_name_.emplace(std::string(as_key(apex)), index);
    bool created = false;
    name_node& n = snap_->zones.insert(apex, created);
    n.apex = true;
    n.zone = index;
    n.text = snap_->zones.zone_at(index).name;
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
      const std::int64_t z = zone_of_row(row.name, row.zone, w, skip_row);
      if (z < 0) {
        continue;
      }
      service svc;
      svc.name = dns::to_text(w);
      if (auto why = service_settings(row, svc); !why.empty()) {
        skip_row(std::move(why));
        continue;
      }
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
      const std::int64_t z = zone_of_row(row.name, row.zone, w, skip_row);
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
        if (auto problem = record_conflict(*existing, rrtype, rdata); !problem.empty()) {
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
        n.rrsets.push_back(rrset{rrtype, capped_ttl(row.ttl), {}, {}});
        it = n.rrsets.end() - 1;
      }
      // RFC 2181 5.2: one TTL per RRset (the lowest wins).
      it->ttl = std::min(it->ttl, capped_ttl(row.ttl));
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
  std::span<const zone_row> last_good_;
  snapshot* snap_ = nullptr;
  std::unordered_set<std::string> unserved_;  ///< names of zones with no good row
  std::unordered_map<std::string, std::uint32_t> zone_by_name_;
  std::unordered_map<std::string, std::size_t> service_by_name_;
  std::unordered_map<std::string, std::size_t> rrset_octets_;  ///< wire name + type: octets
};

}  // namespace

build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters, std::span<const zone_row> last_good) {
  auto snap = std::make_shared<snapshot>();
  snap->generation = generation;
  snap->built_at = now;
  builder b(src, now, counters, last_good);
  b.run(*snap);
  return {std::move(snap), std::move(b.skipped), std::move(b.zone_rows)};
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
