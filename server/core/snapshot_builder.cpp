#include "server/core/snapshot_builder.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <unordered_map>

#include "server/dns/name.hpp"
#include "server/dns/types.hpp"

namespace loadns::core {
namespace {

using wire_name = std::vector<std::uint8_t>;

bool to_wire(std::string_view text, wire_name& out) {
  dns::name_buffer buf;
  std::size_t n = dns::from_text(text, buf);
  if (n <= 1) {
    return false;  // invalid, or the root: nothing loadns serves
  }
  out.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  return true;
}

std::string_view as_key(const wire_name& w) {
  return {reinterpret_cast<const char*>(w.data()), w.size()};  // NOLINT: octets as chars
}

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}

// RFC 2181 8: a TTL is 0..2^31-1; larger values are read as 0 by receivers, so cap them.
std::uint32_t ttl(std::uint32_t t) {
  return std::min<std::uint32_t>(t, 0x7FFFFFFF);
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return dns::to_lower(static_cast<std::uint8_t>(x)) ==
                  dns::to_lower(static_cast<std::uint8_t>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// TXT data (RFC 1035 5.1): one or more "quoted" character-strings with \" \\ \DDD escapes.
// Text without any quote is taken as one string, so `v=spf1 -all` is not split at spaces;
// it is cut into 255-octet strings when longer (RFC 7208 3.3 joins them again).
bool render_txt(std::string_view data, std::vector<std::uint8_t>& rdata, std::string& error) {
  data = trim(data);
  if (data.find('"') == std::string_view::npos) {
    do {
      auto piece = data.substr(0, 255);
      rdata.push_back(static_cast<std::uint8_t>(piece.size()));
      rdata.insert(rdata.end(), piece.begin(), piece.end());
      data.remove_prefix(piece.size());
    } while (!data.empty());
    return true;
  }
  std::size_t i = 0;
  while (i < data.size()) {
    if (data[i] == ' ' || data[i] == '\t') {
      ++i;
      continue;
    }
    if (data[i] != '"') {
      error = "TXT strings must all be quoted";
      return false;
    }
    ++i;
    std::size_t length_at = rdata.size();
    rdata.push_back(0);
    std::size_t length = 0;
    bool closed = false;
    while (i < data.size()) {
      char c = data[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      auto octet = static_cast<std::uint8_t>(c);
      if (c == '\\') {
        if (i >= data.size()) {
          break;
        }
        if (data[i] >= '0' && data[i] <= '9') {
          unsigned v = 0;
          auto r = std::from_chars(data.data() + i, data.data() + std::min(i + 3, data.size()), v);
          if (r.ptr != data.data() + i + 3 || v > 255) {
            error = "bad \\DDD escape in TXT";
            return false;
          }
          octet = static_cast<std::uint8_t>(v);
          i += 3;
        } else {
          octet = static_cast<std::uint8_t>(data[i++]);
        }
      }
      if (++length > 255) {
        error = "TXT string longer than 255 octets";
        return false;
      }
      rdata.push_back(octet);
    }
    if (!closed) {
      error = "unterminated TXT string";
      return false;
    }
    rdata[length_at] = static_cast<std::uint8_t>(length);
  }
  if (rdata.empty()) {
    rdata.push_back(0);
  }
  return true;
}

bool parse_address(std::string_view text, family& fam, std::array<std::uint8_t, 16>& out) {
  // PostgreSQL prints an inet with a full-length mask without it; accept /32 and /128 too.
  std::string s(trim(text));
  if (auto slash = s.find('/'); slash != std::string::npos) {
    std::string_view mask = std::string_view(s).substr(slash + 1);
    bool v6 = s.find(':') != std::string::npos;
    if (mask != (v6 ? "128" : "32")) {
      return false;
    }
    s.resize(slash);
  }
  out = {};
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    fam = family::v4;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    fam = family::v6;
    return true;
  }
  return false;
}

bool parse_policy(std::string_view text, policy& p) {
  if (text == "least_load" || text.empty()) {
    p = policy::least_load;
  } else if (text == "least_connections") {
    p = policy::least_connections;
  } else if (text == "round_robin") {
    p = policy::round_robin;
  } else if (text == "random") {
    p = policy::random;
  } else {
    return false;
  }
  return true;
}

std::string backend_label(const backend_row& row) {
  return "backend " + std::to_string(row.id) + " (" + row.service + "/" + row.name + " " +
         row.address + ")";
}

class builder {
 public:
  builder(const source& src, clock::time_point now, counter_registry& counters)
      : src_(src), now_(now), counters_(counters) {}

  bool run(snapshot& s) {
    snap_ = &s;
    return zones() && zone_cuts() && services() && records() && check_records() && glue() &&
           backends();
  }
  std::string error;

 private:
  bool fail(std::string message) {
    error = std::move(message);
    return false;
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
    const auto& apex = snap_->zones.zone_at(z).wire;
    std::span<const std::uint8_t> w(name);
    for (std::size_t at = 1 + std::size_t{name[0]}; w.size() - at > apex.size();
         at += 1 + std::size_t{name[at]}) {
      bool made = false;
      name_node& ent = snap_->zones.insert(w.subspan(at), made);
      if (!made) {
        break;  // its ancestors exist already
      }
      ent.zone = z;
      ent.text = dns::to_text(w.subspan(at));
    }
    return n;
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
  bool zone_cuts() {
    for (std::uint32_t i = 0; i < snap_->zones.zones().size(); ++i) {
      const wire_name apex = snap_->zones.zone_at(i).wire;
      std::int64_t parent = zone_of(apex, true);
      if (parent < 0) {
        continue;
      }
      const auto& parent_apex = snap_->zones.zone_at(static_cast<std::uint32_t>(parent)).wire;
      std::span<const std::uint8_t> w(apex);
      for (std::size_t at = 1 + std::size_t{apex[0]}; w.size() - at > parent_apex.size();
           at += 1 + std::size_t{apex[at]}) {
        bool made = false;
        name_node& ent = snap_->zones.insert(w.subspan(at), made);
        if (!made) {
          break;
        }
        ent.zone = static_cast<std::uint32_t>(parent);
        ent.text = dns::to_text(w.subspan(at));
      }
    }
    return true;
  }

  bool services() {
    for (const auto& row : src_.services) {
      const std::string what = "service " + quoted(row.name);
      wire_name w;
      if (!to_wire(row.name, w)) {
        return fail(what + ": invalid name");
      }
      std::int64_t z = zone_of(w);
      if (z < 0) {
        return fail(what + ": not inside any zone");
      }
      service svc;
      svc.name = dns::to_text(w);
      svc.ttl = ttl(row.ttl);
      if (row.answers == 0) {
        return fail(what + ": answers must be at least 1");
      }
      svc.answers = row.answers;
      svc.accept_nonce = row.accept_nonce;
      if (!parse_policy(row.policy, svc.pol)) {
        return fail(what + ": unknown policy " + quoted(row.policy));
      }
      if (row.stale_after.count() <= 0) {
        return fail(what + ": stale_after must be positive");
      }
      svc.stale_after = row.stale_after;
      svc.index = snap_->services.size();
      if (!service_by_name_.emplace(std::string(as_key(w)), svc.index).second) {
        return fail(what + ": duplicate service");
      }
      name_node& n = node(w, static_cast<std::uint32_t>(z), svc.name);
      n.service = static_cast<std::uint32_t>(svc.index);
      snap_->zones.zone_at(static_cast<std::uint32_t>(z))
          .services.push_back(static_cast<std::uint32_t>(svc.index));
      snap_->services.push_back(std::move(svc));
    }
    return true;
  }

  bool records() {
    for (const auto& row : src_.records) {
      const std::string what =
          "record " + quoted(row.name) + " " + row.type + " " + quoted(row.data);
      wire_name w;
      if (!to_wire(row.name, w)) {
        return fail(what + ": invalid name");
      }
      std::int64_t z = zone_of(w);
      if (z < 0) {
        return fail(what + ": not inside any zone");
      }
      std::uint16_t rrtype = 0;
      std::vector<std::uint8_t> rdata;
      std::string why;
      if (!render_rdata(row.type, row.data, rrtype, rdata, why)) {
        return fail(what + ": " + why);
      }
      name_node& n = node(w, static_cast<std::uint32_t>(z), dns::to_text(w));
      auto it = std::find_if(n.rrsets.begin(), n.rrsets.end(),
                             [&](const rrset& s) { return s.type == rrtype; });
      if (it == n.rrsets.end()) {
        n.rrsets.push_back(rrset{rrtype, ttl(row.ttl), {}, {}});
        it = n.rrsets.end() - 1;
      }
      // RFC 2181 5.2: one TTL per RRset (the lowest wins); 5: no duplicate records.
      it->ttl = std::min(it->ttl, ttl(row.ttl));
      if (std::find(it->rdata.begin(), it->rdata.end(), rdata) == it->rdata.end()) {
        it->rdata.push_back(std::move(rdata));
      }
      if (rrtype == dns::type::cname && it->rdata.size() > 1) {
        return fail(what + ": a name has at most one CNAME (RFC 2181 10.1)");
      }
    }
    return true;
  }

  bool check_records() {
    std::string problem;
    snap_->zones.for_each([&](std::string_view, const name_node& n) {
      if (!problem.empty()) {
        return;
      }
      const bool cname = n.find(dns::type::cname) != nullptr;
      if (cname && (n.rrsets.size() > 1 || n.apex || n.service != no_service)) {
        problem = "record " + quoted(n.text) +
                  " CNAME: a CNAME cannot coexist with other data (RFC 1034 3.6.2)";
      }
      if (n.service != no_service &&
          (n.find(dns::type::a) != nullptr || n.find(dns::type::aaaa) != nullptr)) {
        problem = "record " + quoted(n.text) + " A/AAAA: the name is a service";
      }
    });
    return problem.empty() || fail(std::move(problem));
  }

  // Addresses of in-zone name servers (glue) and mail exchangers for the additional section.
  bool glue() {
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
    return true;
  }

  bool backends() {
    // Where each row goes, first, so that every list is allocated once at its size: with
    // 10,000 backends, growing the lists by doubling was the server's peak of memory.
    struct placement {
      std::size_t service = 0;
      family fam = family::v4;
      std::array<std::uint8_t, 16> address{};
    };
    std::vector<placement> place(src_.backends.size());
    for (std::size_t i = 0; i < src_.backends.size(); ++i) {
      const auto& row = src_.backends[i];
      wire_name w;
      auto it = to_wire(row.service, w) ? service_by_name_.find(std::string(as_key(w)))
                                        : service_by_name_.end();
      if (it == service_by_name_.end()) {
        return fail(backend_label(row) + ": unknown service");
      }
      if (!parse_address(row.address, place[i].fam, place[i].address)) {
        return fail(backend_label(row) + ": invalid address");
      }
      place[i].service = it->second;
    }
    {
      std::vector<std::array<std::size_t, 2>> sizes(snap_->services.size());
      for (const auto& p : place) ++sizes[p.service][static_cast<std::size_t>(p.fam)];
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        for (std::size_t f = 0; f < 2; ++f) snap_->services[i].backends[f].reserve(sizes[i][f]);
      }
    }
    for (std::size_t i = 0; i < src_.backends.size(); ++i) {
      const auto& row = src_.backends[i];
      service& svc = snap_->services[place[i].service];
      backend b;
      b.id = row.id;
      b.name = row.name;
      b.fam = place[i].fam;
      b.address = place[i].address;
      b.address_text = std::string(trim(row.address));
      b.enabled = row.enabled;
      b.draining = row.draining;
      b.capacity = row.capacity;
      if (b.capacity && *b.capacity < 0) {
        return fail(backend_label(row) + ": negative capacity");
      }
      if (!(row.weight > 0)) {
        return fail(backend_label(row) + ": weight must be positive");
      }
      b.weight = row.weight;
      b.connections = row.connections;
      if (row.report_age) {
        b.reported_at = now_ - *row.report_age;
      }
      // The first reason that applies, most deliberate first: an operator's switch, then the
      // agent's drain, then silence, then load.
      if (!b.enabled) {
        b.state = backend_state::disabled;
      } else if (b.draining) {
        b.state = backend_state::draining;
      } else if (row.report_age && *row.report_age > svc.stale_after) {
        b.state = backend_state::stale;
      } else if (b.capacity && b.connections >= *b.capacity) {
        b.state = backend_state::full;
      } else {
        b.state = backend_state::serving;
      }
      b.answers = counters_.get(row.id);
      b.shared = counters_.get_shared(row.id);
      svc.backends[static_cast<std::size_t>(b.fam)].push_back(std::move(b));
    }
    for (auto& svc : snap_->services) {
      for (std::size_t f = 0; f < 2; ++f) {
        const auto& list = svc.backends[f];
        auto is = [&](auto pred) { return std::any_of(list.begin(), list.end(), pred); };
        svc.fail_open[f] = !is([](const backend& b) {
          return b.state == backend_state::serving;
        }) && is([](const backend& b) { return b.enabled; });
      }
    }
    return true;
  }

  const source& src_;
  clock::time_point now_;
  counter_registry& counters_;
  snapshot* snap_ = nullptr;
  std::unordered_map<std::string, std::uint32_t> zone_by_name_;
  std::unordered_map<std::string, std::size_t> service_by_name_;
};

}  // namespace

bool render_rdata(std::string_view type, std::string_view data, std::uint16_t& rrtype,
                  std::vector<std::uint8_t>& rdata, std::string& error) {
  rdata.clear();
  std::string text(trim(data));
  if (iequals(type, "A") || iequals(type, "AAAA")) {
    const bool v6 = type.size() == 4;
    rrtype = v6 ? dns::type::aaaa : dns::type::a;
    std::array<std::uint8_t, 16> addr{};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), addr.data()) != 1) {
      error = v6 ? "invalid IPv6 address" : "invalid IPv4 address";
      return false;
    }
    rdata.assign(addr.begin(), addr.begin() + (v6 ? 16 : 4));
    return true;
  }
  if (iequals(type, "CNAME")) {
    rrtype = dns::type::cname;
    if (!to_wire(text, rdata)) {
      error = "invalid target name";
      return false;
    }
    return true;
  }
  if (iequals(type, "MX")) {
    rrtype = dns::type::mx;
    std::string_view rest(text);
    unsigned preference = 0;
    auto r = std::from_chars(rest.data(), rest.data() + rest.size(), preference);
    if (r.ec != std::errc{} || preference > 0xFFFF || r.ptr == rest.data()) {
      error = "MX data must be 'PREFERENCE EXCHANGE'";
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()));
    wire_name exchange;
    if (rest.empty() || (rest.front() != ' ' && rest.front() != '\t') ||
        !to_wire(trim(rest), exchange)) {
      error = "MX data must be 'PREFERENCE EXCHANGE'";
      return false;
    }
    put16(rdata, static_cast<std::uint16_t>(preference));
    rdata.insert(rdata.end(), exchange.begin(), exchange.end());
    return true;
  }
  if (iequals(type, "TXT")) {
    rrtype = dns::type::txt;
    if (!render_txt(data, rdata, error)) {
      return false;
    }
    if (rdata.size() > 0xFFFF) {
      error = "TXT data too long";
      return false;
    }
    return true;
  }
  error = "unsupported type (A, AAAA, CNAME, MX, TXT)";
  return false;
}

build_result build_snapshot(const source& src, clock::time_point now, std::uint64_t generation,
                            counter_registry& counters) {
  auto snap = std::make_shared<snapshot>();
  snap->generation = generation;
  snap->built_at = now;
  builder b(src, now, counters);
  if (!b.run(*snap)) {
    return {nullptr, std::move(b.error)};
  }
  return {std::move(snap), {}};
}

}  // namespace loadns::core
