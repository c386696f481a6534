#include "server/dns/query.hpp"

#include "server/dns/header.hpp"
#include "server/dns/types.hpp"

namespace loadns::dns {

errc read_query(std::span<const std::uint8_t> msg, query& out) noexcept {
  out.id = header::id(msg);
  out.flags = header::flags(msg);
  // Reset what a reused `out` may hold; the name buffers are overwritten by the reads.
  out.q.wire = {};
  out.q.lower_length = 0;
  out.q.qtype = out.q.qclass = 0;
  out.opt = edns{};
  out.question_ok = false;
  const std::uint16_t qdcount = header::qdcount(msg);
  if (qdcount > 1) {
    return errc::bad_qdcount;
  }

  reader r(msg, header::size);
  // No question: still read the rest, for the COOKIE option of a query that asks only for a
  // server cookie (RFC 7873 5.4); the result stays bad_qdcount.
  if (qdcount == 1) {
    if (!read_question(r, out.q)) {
      return r.error();
    }
    out.question_ok = true;
  }

  // Answer and authority records are not expected in a query; walk them to find the
  // additional section, ignoring their content.
  const unsigned skipped = unsigned{header::ancount(msg)} + header::nscount(msg);
  for (unsigned i = 0; i < skipped && r.ok(); ++i) {
    read_name(r);
    r.skip(8);  // type, class, ttl
    r.skip(r.u16());
  }
  const unsigned additional = header::arcount(msg);
  for (unsigned i = 0; i < additional && r.ok(); ++i) {
    std::size_t owner_length = read_name(r);
    std::uint16_t rrtype = r.u16();
    if (!r.ok()) {
      break;
    }
    if (rrtype != type::opt) {
      r.skip(6);  // class, ttl
      r.skip(r.u16());
      continue;
    }
    // RFC 6891 6.1.1: one OPT at most, owned by the root.
    if (out.opt.present) {
      return errc::duplicate_opt;
    }
    if (owner_length != 1) {
      return errc::bad_opt;
    }
    read_opt(r, out.opt);
  }
  if (qdcount == 0) {
    // The OPT record counts only when the whole message was well formed.
    if (!r.ok() || r.remaining() != 0) {
      out.opt = edns{};
    }
    return errc::bad_qdcount;
  }
  if (!r.ok()) {
    return r.error();
  }
  if (r.remaining() != 0) {
    return errc::trailing_data;
  }
  return errc{};
}

}  // namespace loadns::dns
