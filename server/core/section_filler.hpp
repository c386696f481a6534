#pragma once
// The sections of one response for a name matched in a zone, the last step of answer()'s
// ladder (answer.cpp): a service's balanced A/AAAA records, the apex SOA and NS, CNAME chains
// within the zone, static RRsets, NODATA and NXDOMAIN with the SOA. On the packet path: no
// allocation, no exceptions, no locks.
//
// answer.cpp alone includes this header. Its unnamed namespace keeps what answer.cpp had: with
// internal linkage the compiler inlines all of it into answer(), one function on the packet
// path as before section_filler had a file of its own.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "server/core/answer.hpp"
#include "server/core/family_pairs.hpp"
#include "server/core/match.hpp"
#include "server/dns/header.hpp"
#include "server/dns/response.hpp"
#include "server/dns/types.hpp"

namespace loadns::core {
namespace {  // NOLINT(cert-dcl59-cpp,google-build-namespaces): see the top of the file

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
  /// CNAME links followed inside a zone before giving up on a chain (it may loop).
  static constexpr int max_cname_chain = 8;

  /// Who owns the records being written: the question name (written as the pointer 0xC00C,
  /// RFC 1035 4.1.4, so the client sees its own 0x20 spelling) or a name from the zone.
  struct owner {
    bool is_question = true;
    std::span<const std::uint8_t> name;  ///< lower-case wire name when !is_question
  };

  bool add(dns::section s, const owner& o, std::uint16_t rrtype, std::uint32_t ttl,
           std::span<const std::uint8_t> rdata) noexcept {
    return o.is_question ? r_.add_at_question(s, rrtype, ttl, rdata)
                         : r_.add(s, o.name, rrtype, ttl, rdata);
  }
  /// A whole RRset in the answer; false (and truncated) when it does not fit.
  bool answer_rrset(const owner& o, const rrset& set) noexcept {
    for (const auto& rd : set.rdata) {
      if (!add(dns::section::answer, o, set.type, set.ttl, rd)) {
        return truncate();
      }
    }
    return true;
  }
  /// Additional data is optional: what does not fit is left out without TC (RFC 2181 9).
  void additional(const std::vector<extra_record>& extra) noexcept {
    for (const auto& x : extra) {
      if (!r_.add(dns::section::additional, x.owner, x.type, x.ttl, x.rdata)) {
        return;
      }
    }
  }
  /// RFC 2181 9: required data did not fit; send the question alone with TC so that the
  /// client retries over TCP.
  bool truncate() noexcept {
    r_.rollback(after_question_);
    r_.set_flags(dns::header::tc);
    return false;
  }
  /// NXDOMAIN or NODATA with the zone's SOA in the authority section, its TTL the negative
  /// caching TTL min(SOA TTL, MINIMUM) (RFC 2308 3).
  void negative(const zone& z, dns::rcode rc) noexcept {
    r_.set_rcode(rc);
    if (!r_.add(dns::section::authority, z.wire, dns::type::soa, z.negative_ttl,
                z.soa.rdata.front())) {
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
    r_.set_rcode(dns::rcode::servfail);
    return true;
  }
  const std::size_t want =
      std::min({std::size_t{svc.records_per_response}, c.indices.size(), max_records_per_response});
  if (want == 0) {
    return false;  // nodata, or no backend of the family at all
  }
  const std::size_t address_length = fam == family::v4 ? 4 : 16;
  const std::uint16_t rrtype = fam == family::v4 ? dns::type::a : dns::type::aaaa;
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
    if (!add(dns::section::answer, o, rrtype, svc.ttl, address)) {
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
    if (m.svc != nullptr &&
        (qtype_ == dns::type::a || qtype_ == dns::type::aaaa || qtype_ == dns::type::any)) {
      family fam = qtype_ == dns::type::aaaa ? family::v6 : family::v4;
      if (qtype_ == dns::type::any && m.svc->backends[0].empty()) {
        fam = family::v6;
      }
      if (service_records(o, *m.svc, fam, o.is_question && m.node == nullptr)) {
        return;
      }
      // No backend of the family: the name exists, the type does not (RFC 2308 2.2).
      return negative(z, dns::rcode::noerror);
    }
    if (m.node != nullptr) {
      const name_node& n = *m.node;
      // SOA and NS live at the apex (RFC 1035 3.3.11, 3.3.13); ANY gets the SOA alone
      // (RFC 8482 4.2). NS answers carry the addresses of in-zone servers (RFC 1035 3.3.11).
      if (n.apex &&
          (qtype_ == dns::type::soa || qtype_ == dns::type::ns || qtype_ == dns::type::any)) {
        const zone& apex_zone = snap_.zones.zone_at(n.zone);
        const rrset& set = qtype_ == dns::type::ns ? apex_zone.ns : apex_zone.soa;
        if (answer_rrset(o, set)) {
          additional(set.additional);
        }
        return;
      }
      // A CNAME answers every other type: it goes in the answer and the search restarts at
      // its target (RFC 1034 3.6.2, 4.3.2 step 3a), here only within the zone; beyond it the
      // resolver follows. ANY gets the CNAME alone (RFC 8482).
      const rrset* cname = n.find(dns::type::cname);
      if (cname != nullptr && qtype_ != dns::type::cname) {
        if (!answer_rrset(o, *cname)) {
          return;
        }
        if (qtype_ == dns::type::any || links == max_cname_chain) {
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
      const rrset* set = qtype_ == dns::type::any ? (n.rrsets.empty() ? nullptr : &n.rrsets.front())
                                                  : n.find(qtype_);
      if (set != nullptr) {
        if (answer_rrset(o, *set)) {
          additional(set->additional);
        }
        return;
      }
      // The name exists, or is an empty non-terminal (RFC 8020 2), but not the type: NODATA.
      return negative(z, dns::rcode::noerror);
    }
    // A nonce name of a service asked for another type: it exists as far as anyone can tell.
    if (m.svc != nullptr) {
      return negative(z, dns::rcode::noerror);
    }
    // No such name: NXDOMAIN with the SOA (RFC 2308 2.1), also at the end of a CNAME chain
    // (RFC 6604 2).
    return negative(z, dns::rcode::nxdomain);
  }
}

}  // namespace
}  // namespace loadns::core
