#include "server/core/answer.hpp"

#include <algorithm>
#include <array>

#include "server/core/match.hpp"
#include "server/core/section_filler.hpp"
#include "server/dns/header.hpp"
#include "server/dns/query.hpp"
#include "server/dns/response.hpp"

namespace loadns::core {
namespace {

namespace hdr = dns::header;
namespace type = dns::type;
using dns::rcode;

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
