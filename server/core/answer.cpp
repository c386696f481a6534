#include "server/core/answer.hpp"

#include <algorithm>
#include <array>

#include "server/core/family_pairs.hpp"
#include "server/core/match.hpp"
#include "server/dns/header.hpp"
#include "server/dns/query.hpp"
#include "server/dns/response.hpp"

namespace loadns::core {
namespace {

namespace hdr = dns::header;
namespace type = dns::type;
using dns::rcode;
using dns::section;

/// CNAME links followed inside a zone before giving up on a chain (it may loop).
constexpr int max_cname_chain = 8;

/// Who owns the records being written: the question name (written as the pointer 0xC00C,
/// RFC 1035 4.1.4, so the client sees its own 0x20 spelling) or a name from the zone.
struct owner {
  bool is_question = true;
  std::span<const std::uint8_t> name;  ///< lower-case wire name when !is_question
};

/// Fills the answer, authority and additional sections of one response for a name matched
/// in a zone: service records, apex SOA/NS, CNAME chains, static RRsets, negative answers.
class section_filler {
 public:
  section_filler(dns::response& r, const snapshot& snap, balancer& bal, std::uint16_t qtype,
                 std::span<const std::uint8_t> lower_qname, answer_info& info)
      : r_(r),
        snap_(snap),
        bal_(bal),
        qtype_(qtype),
        lower_qname_(lower_qname),
        info_(info),
        after_question_(r.get_mark()) {}

  /// Resolves the matched name; records the outcome in the response.
  void resolve(match_result m) noexcept;

 private:
  bool add(section s, const owner& o, std::uint16_t rrtype, std::uint32_t ttl,
           std::span<const std::uint8_t> rdata) noexcept {
    return o.is_question ? r_.add_at_question(s, rrtype, ttl, rdata)
                         : r_.add(s, o.name, rrtype, ttl, rdata);
  }
  /// A whole RRset in the answer; false (and truncated) when it does not fit.
  bool answer_rrset(const owner& o, const rrset& set) noexcept {
    for (const auto& rd : set.rdata) {
      if (!add(section::answer, o, set.type, set.ttl, rd)) {
        return truncate();
      }
    }
    return true;
  }
  /// Additional data is optional: what does not fit is left out without TC (RFC 2181 9).
  void additional(const std::vector<extra_record>& extra) noexcept {
    for (const auto& x : extra) {
      if (!r_.add(section::additional, x.owner, x.type, x.ttl, x.rdata)) {
        return;
      }
    }
  }
  /// RFC 2181 9: required data did not fit; send the question alone with TC so that the
  /// client retries over TCP.
  bool truncate() noexcept {
    r_.rollback(after_question_);
    r_.set_flags(hdr::tc);
    return false;
  }
  /// NXDOMAIN or NODATA with the zone's SOA in the authority section, its TTL the negative
  /// caching TTL min(SOA TTL, MINIMUM) (RFC 2308 3).
  void negative(const zone& z, rcode rc) noexcept {
    r_.set_rcode(rc);
    if (!r_.add(section::authority, z.wire, type::soa, z.negative_ttl, z.soa.rdata.front())) {
      truncate();
    }
  }
  /// The balancer's choice for a service, or what its on_empty says when too few of the
  /// family serve; false when there is no address to give (the caller answers NODATA).
  /// `nonce`: the question name is a nonce name of `svc` (its own, one client's).
  bool service_records(const owner& o, const service& svc, family fam, bool nonce) noexcept;

  dns::response& r_;
  const snapshot& snap_;
  balancer& bal_;
  std::uint16_t qtype_;
  std::span<const std::uint8_t> lower_qname_;
  answer_info& info_;
  dns::response::mark after_question_;
};

bool section_filler::service_records(const owner& o, const service& svc, family fam,
                                     bool nonce) noexcept {
  // Who answers was decided once per snapshot (decide_candidates()): the serving backends, or
  // the service's on_empty when fewer than min_serving of the family serve.
  const family_candidates& c = svc.candidates[static_cast<std::size_t>(fam)];
  info_.mode = c.mode;
  if (c.mode == family_mode::servfail) {
    // The operator prefers a failure, which resolvers retry at another server and cache
    // briefly at most (RFC 2308 7.1), to an address that may not work or an empty answer.
    r_.set_rcode(rcode::servfail);
    return true;
  }
  const std::size_t want =
      std::min({std::size_t{svc.records_per_response}, c.indices.size(), max_records_per_response});
  if (want == 0) {
    return false;  // nodata, or no backend of the family at all
  }
  const std::size_t address_length = fam == family::v4 ? 4 : 16;
  const std::uint16_t rrtype = fam == family::v4 ? type::a : type::aaaa;
  const auto& list = svc.backends[static_cast<std::size_t>(fam)];
  std::array<const backend*, max_records_per_response> picked{};
  std::size_t n = 0;
  // One record per response (the default): a nonce name's A and AAAA name one host, counted
  // once: the other family's query within the window gets the host the first one chose, not
  // counted again (family_pairs.hpp). With several, the client chooses among them anyway;
  // each query counts its own.
  family_pairs* pairs = nonce && want == 1 ? bal_.pairs() : nullptr;
  std::uint64_t key = 0;
  std::uint32_t now_ms = 0;
  bool paired = false;
  if (pairs != nullptr) {
    key = pairs->key_of(lower_qname_);
    now_ms = family_pairs::now_ms();
    if (const auto twin = pairs->find(key, svc, fam, now_ms)) {
      picked[0] = &list[*twin];
      n = 1;
      paired = true;
    }
  }
  clock::time_point now{};
  if (!paired) {
    now = clock::now();
    n = bal_.pick(snap_, svc, fam, std::span(picked).first(want), now);
    if (n == 0) {
      return false;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto address = std::span<const std::uint8_t>(picked[i]->address).first(address_length);
    if (!add(section::answer, o, rrtype, svc.ttl, address)) {
      truncate();  // nothing counted: the client retries over TCP and is counted then
      return true;
    }
  }
  if (paired) {
    return true;
  }
  // Written, so answered: counted now (a response that did not fit counts nothing).
  for (std::size_t i = 0; i < n; ++i) {
    balancer::count(*picked[i], now);
  }
  if (pairs != nullptr) {
    pairs->remember(key, svc, fam, static_cast<std::uint32_t>(picked[0] - list.data()), now_ms);
  }
  return true;
}

void section_filler::resolve(match_result m) noexcept {
  const zone& z = *m.zn;
  owner o;
  for (int links = 0;; ++links) {
    // A/AAAA at a service: `answers` records of the family, lowest predicted load first.
    // ANY gets the same (RFC 8482 4.2: one RRset suffices), IPv4 unless there is none.
    if (m.svc != nullptr && (qtype_ == type::a || qtype_ == type::aaaa || qtype_ == type::any)) {
      family fam = qtype_ == type::aaaa ? family::v6 : family::v4;
      if (qtype_ == type::any && m.svc->backends[0].empty()) {
        fam = family::v6;
      }
      if (service_records(o, *m.svc, fam, o.is_question && m.node == nullptr)) {
        return;
      }
      // No backend of the family: the name exists, the type does not (RFC 2308 2.2).
      return negative(z, rcode::noerror);
    }
    if (m.node != nullptr) {
      const name_node& n = *m.node;
      // SOA and NS live at the apex (RFC 1035 3.3.11, 3.3.13); ANY gets the SOA alone
      // (RFC 8482 4.2). NS answers carry the addresses of in-zone servers (RFC 1035 3.3.11).
      if (n.apex && (qtype_ == type::soa || qtype_ == type::ns || qtype_ == type::any)) {
        const zone& apex_zone = snap_.zones.zone_at(n.zone);
        const rrset& set = qtype_ == type::ns ? apex_zone.ns : apex_zone.soa;
        if (answer_rrset(o, set)) {
          additional(set.additional);
        }
        return;
      }
      // A CNAME answers every other type: it goes in the answer and the search restarts at
      // its target (RFC 1034 3.6.2, 4.3.2 step 3a), here only within the zone; beyond it the
      // resolver follows. ANY gets the CNAME alone (RFC 8482).
      const rrset* cname = n.find(type::cname);
      if (cname != nullptr && qtype_ != type::cname) {
        if (!answer_rrset(o, *cname)) {
          return;
        }
        if (qtype_ == type::any || links == max_cname_chain) {
          return;
        }
        const auto target = std::span<const std::uint8_t>(cname->rdata.front());
        const match_result next = match(snap_, target);
        if (next.zn != &z) {
          return;
        }
        m = next;
        o = owner{false, target};
        continue;
      }
      const rrset* set =
          qtype_ == type::any ? (n.rrsets.empty() ? nullptr : &n.rrsets.front()) : n.find(qtype_);
      if (set != nullptr) {
        if (answer_rrset(o, *set)) {
          additional(set->additional);
        }
        return;
      }
      // The name exists, or is an empty non-terminal (RFC 8020 2), but not the type: NODATA.
      return negative(z, rcode::noerror);
    }
    // A nonce name of a service asked for another type: it exists as far as anyone can tell.
    if (m.svc != nullptr) {
      return negative(z, rcode::noerror);
    }
    // No such name: NXDOMAIN with the SOA (RFC 2308 2.1), also at the end of a CNAME chain
    // (RFC 6604 2).
    return negative(z, rcode::nxdomain);
  }
}

std::size_t finish(dns::response& r, answer_info& info) noexcept {
  const std::size_t length = r.finish();
  info.rcode = static_cast<std::uint8_t>(r.get_rcode());
  info.edns = r.has_edns();
  info.truncated = (r.flags() & hdr::tc) != 0;
  return length;
}

std::size_t udp_limit(const dns::edns& opt) noexcept {
  // RFC 1035 4.2.1: 512 without EDNS; RFC 6891 6.2.5: smaller EDNS sizes mean 512; and no
  // more than this server advertises, to stay clear of fragmentation.
  if (!opt.present) {
    return dns::classic_udp_size;
  }
  return std::clamp(opt.udp_size, dns::classic_udp_size, dns::advertised_udp_size);
}

}  // namespace

std::size_t answer(std::span<const std::uint8_t> query, std::span<std::uint8_t> out, transport t,
                   const snapshot* snap, balancer& bal, answer_info& info,
                   const client_info& client) noexcept {
  info = {};
  // RFC 1035 4.1.1: too short for a header: nothing to answer to. Drop.
  if (query.size() < hdr::size) {
    return 0;
  }
  const std::uint16_t flags = hdr::flags(query);
  // RFC 1035 4.1.1: QR set means a response; answering it invites loops. Drop.
  if ((flags & hdr::qr) != 0) {
    return 0;
  }

  const std::size_t stream_limit = std::min<std::size_t>(out.size(), 65535);

  // RFC 1035 4.1.1: only the standard QUERY opcode is implemented (NOTIFY, UPDATE and the
  // rest are not); their sections may differ, so answer with the header alone.
  if (hdr::opcode_of(flags) != static_cast<std::uint8_t>(dns::opcode::query)) {
    dns::response r(out, t == transport::tcp ? stream_limit : dns::classic_udp_size);
    if (!r.start(hdr::id(query), flags)) {
      return 0;
    }
    r.set_rcode(rcode::notimp);
    return finish(r, info);
  }

  dns::query q;
  const dns::errc err = dns::read_query(query, q);
  if (q.question_ok) {
    info.qtype = q.q.qtype;
  }
  dns::response r(out, t == transport::tcp ? stream_limit : udp_limit(q.opt));
  if (!r.start(q.id, q.flags)) {
    return 0;
  }
  // RFC 6891 7: a query with OPT gets OPT back, advertising our size; RFC 3225 3: DO copied;
  // undefined flags left clear (RFC 6891 6.1.4).
  if (q.opt.present) {
    dns::edns_reply reply{dns::advertised_udp_size, 0, q.opt.dnssec_ok};
    // RFC 7873 5.2.3-5.2.5: a COOKIE option is answered with the client's cookie and ours,
    // whatever the verdict; the verdict only exempts the client from rate limiting.
    if (q.opt.cookie_length > 0 && client.cookies != nullptr) {
      const guard::cookie_keys keys = client.cookies->load();
      info.cookie = guard::check_cookie(keys, std::span(q.opt.cookie).first(q.opt.cookie_length),
                                        client.address, client.now, reply.cookie, client.memo);
      reply.has_cookie = true;
    }
    r.set_edns(reply);
    info.opt_length = static_cast<std::uint16_t>(dns::opt_size(reply));
  }

  // RFC 7873 5.4: no question, only a COOKIE option: a request for a server cookie. The
  // reply has no question either: NOERROR if the server cookie sent was valid, else BADCOOKIE
  // with a new one.
  if (err == dns::errc::bad_qdcount && info.cookie != guard::cookie_verdict::none &&
      hdr::qdcount(query) == 0) {
    info.question_end = static_cast<std::uint16_t>(hdr::size);
    r.set_rcode(info.cookie == guard::cookie_verdict::valid ? rcode::noerror : rcode::badcookie);
    return finish(r, info);
  }

  // RFC 9619 / RFC 1035 4.1.2: exactly one well-formed question; RFC 6891 6.1.1: at most one
  // OPT, owned by the root, options inside it; RFC 7873 5.2.2: COOKIE of a valid length.
  // FORMERR, echoing the question when it could be read.
  if (err != dns::errc{}) {
    if (err == dns::errc::bad_cookie) {
      info.cookie = guard::cookie_verdict::malformed;
    }
    if (q.question_ok) {
      r.put_question(q.q);
    }
    info.question_end = static_cast<std::uint16_t>(r.get_mark().pos);
    r.set_rcode(rcode::formerr);
    return finish(r, info);
  }
  // RFC 1035 4.1.1: the question is echoed exactly as sent (0x20 case included).
  if (!r.put_question(q.q)) {
    return 0;  // cannot happen: 12 + 259 < 512
  }
  info.question_end = static_cast<std::uint16_t>(r.get_mark().pos);

  // RFC 6891 6.1.3: an EDNS version above ours (0) gets BADVERS, with our version in OPT.
  if (q.opt.present && q.opt.version > 0) {
    r.set_rcode(rcode::badvers);
    return finish(r, info);
  }
  // Before the first snapshot there is nothing to answer from: SERVFAIL (RFC 1035 4.1.1).
  if (snap == nullptr) {
    r.set_rcode(rcode::servfail);
    return finish(r, info);
  }
  // Only class IN is served; CH (version.bind) and the rest are refused (RFC 1035 4.1.1).
  if (q.q.qclass != dns::qclass::in) {
    r.set_rcode(rcode::refused);
    return finish(r, info);
  }
  const std::uint16_t qtype = q.q.qtype;
  // RFC 6891 6.1.1: OPT is a pseudo-record; it cannot be asked for.
  if (qtype == type::opt) {
    r.set_rcode(rcode::formerr);
    return finish(r, info);
  }
  // Zone transfers are not offered (the data lives in PostgreSQL): REFUSED (RFC 5936 3).
  if (qtype == type::axfr || qtype == type::ixfr) {
    r.set_rcode(rcode::refused);
    return finish(r, info);
  }
  // RFC 6895 3.1: other meta-types (TKEY, TSIG, MAILA, MAILB, ...) are not implemented.
  if (qtype >= 128 && qtype <= 255 && qtype != type::any) {
    r.set_rcode(rcode::notimp);
    return finish(r, info);
  }
  const match_result m = match(*snap, q.q.lower_name());
  // Not under any zone of ours: REFUSED, without AA, as authoritative-only servers do
  // (RFC 1035 4.1.1 "refuses for policy reasons"; never recursion: RA stays clear).
  if (m.zn == nullptr) {
    r.set_rcode(rcode::refused);
    return finish(r, info);
  }
  // RFC 1035 4.1.1: from here on the answer is authoritative.
  r.set_flags(hdr::aa);
  info.subject = m.svc != nullptr ? std::span(reinterpret_cast<const std::uint8_t*>(  // NOLINT
                                                  m.svc->name.data()),
                                              m.svc->name.size())
                                  : q.q.wire;
  info.subject_lower = m.svc != nullptr;
  section_filler(r, *snap, bal, qtype, q.q.lower_name(), info).resolve(m);
  const std::size_t length = finish(r, info);
  // Random names under a zone all share the zone's NXDOMAIN class (NSD, BIND RRL).
  if (info.rcode == static_cast<std::uint8_t>(rcode::nxdomain)) {
    info.subject = m.zn->wire;
    info.subject_lower = true;
  }
  return length;
}

std::size_t truncate_to_question(std::span<std::uint8_t> out, std::size_t length,
                                 const answer_info& info) noexcept {
  const std::size_t keep = info.question_end;
  if (keep < hdr::size || length > out.size() || keep + info.opt_length > length) {
    return 0;
  }
  hdr::set(out, hdr::flags_offset, static_cast<std::uint16_t>(hdr::flags(out) | hdr::tc));
  hdr::set(out, hdr::ancount_offset, 0);
  hdr::set(out, hdr::nscount_offset, 0);
  // The OPT record is the response's last (dns::response::finish): move it up.
  std::copy(out.begin() + static_cast<std::ptrdiff_t>(length - info.opt_length),
            out.begin() + static_cast<std::ptrdiff_t>(length),
            out.begin() + static_cast<std::ptrdiff_t>(keep));
  hdr::set(out, hdr::arcount_offset, info.opt_length > 0 ? 1 : 0);
  return keep + info.opt_length;
}

}  // namespace loadns::core
