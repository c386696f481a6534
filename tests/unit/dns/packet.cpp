#include "tests/unit/dns/packet.hpp"

#include <arpa/inet.h>

#include "server/dns/header.hpp"
#include "server/dns/name.hpp"
#include "server/dns/reader.hpp"

namespace loadns::test {

namespace {

// The name at `r` with the case it has on the wire (read_name folds it): validated by
// read_name first, then decoded again following the pointers.
std::string name_at(dns::reader& r) {
  const std::size_t start = r.pos();
  if (dns::read_name(r) == 0) return "<bad name>";
  const auto msg = r.message();
  std::vector<std::uint8_t> wire;
  for (std::size_t p = start;;) {
    std::uint8_t n = msg[p];
    if ((n & 0xC0) == 0xC0) {
      p = (std::size_t{n} & 0x3Fu) << 8 | msg[p + 1];
      continue;
    }
    wire.insert(wire.end(), msg.begin() + static_cast<std::ptrdiff_t>(p),
                msg.begin() + static_cast<std::ptrdiff_t>(p + 1 + n));
    if (n == 0) break;
    p += 1 + std::size_t{n};
  }
  return dns::to_text(wire);
}

std::string decode(std::span<const std::uint8_t> msg, std::size_t at, std::uint16_t type,
                   std::span<const std::uint8_t> rdata) {
  dns::reader r(msg, at);
  char buf[64] = {};
  switch (type) {
    case 1:
      if (rdata.size() != 4) return "<bad A>";
      inet_ntop(AF_INET, rdata.data(), buf, sizeof buf);
      return buf;
    case 28:
      if (rdata.size() != 16) return "<bad AAAA>";
      inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf);
      return buf;
    case 2:
    case 5:
      return name_at(r);
    case 15: {
      auto pref = r.u16();
      return std::to_string(pref) + " " + name_at(r);
    }
    case 6: {
      std::string s = name_at(r);
      s += " " + name_at(r);
      for (int i = 0; i < 5; ++i) s += " " + std::to_string(r.u32());
      return s;
    }
    case 16: {
      std::string s;
      for (std::size_t i = 0; i < rdata.size();) {
        std::size_t n = rdata[i];
        if (!s.empty()) s += ' ';
        s += '"';
        for (std::size_t k = 1; k <= n && i + k < rdata.size(); ++k) {
          s += static_cast<char>(rdata[i + k]);
        }
        s += '"';
        i += 1 + n;
      }
      return s;
    }
    default:
      return std::to_string(rdata.size()) + " octets";
  }
}

}  // namespace

std::string rcode_name(unsigned rcode) {
  switch (rcode) {
    case 0:
      return "NOERROR";
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    case 16:
      return "BADVERS";
    case 23:
      return "BADCOOKIE";  // RFC 7873 8
    default:
      return "RCODE" + std::to_string(rcode);
  }
}

message parse(std::span<const std::uint8_t> msg) {
  message m;
  m.size = msg.size();
  if (msg.size() < dns::header::size) {
    m.error = "short";
    return m;
  }
  namespace h = dns::header;
  m.id = h::id(msg);
  const auto flags = h::flags(msg);
  m.qr = (flags & h::qr) != 0;
  m.aa = (flags & h::aa) != 0;
  m.tc = (flags & h::tc) != 0;
  m.rd = (flags & h::rd) != 0;
  m.ra = (flags & h::ra) != 0;
  m.z = (flags & h::z) != 0;
  m.ad = (flags & h::ad) != 0;
  m.cd = (flags & h::cd) != 0;
  m.opcode = h::opcode_of(flags);
  unsigned rcode = flags & h::rcode_mask;
  m.qdcount = h::qdcount(msg);
  dns::reader r(msg, h::size);
  for (unsigned i = 0; i < m.qdcount; ++i) {
    std::size_t start = r.pos();
    dns::name_buffer buf{};
    std::size_t n = dns::read_question_name(r, buf);
    if (n == 0) break;
    m.qname_wire.assign(msg.begin() + static_cast<std::ptrdiff_t>(start),
                        msg.begin() + static_cast<std::ptrdiff_t>(start + n));
    m.qtype = r.u16();
    m.qclass = r.u16();
  }
  std::vector<record>* sections[3] = {&m.answer, &m.authority, &m.additional};
  const unsigned counts[3] = {h::ancount(msg), h::nscount(msg), h::arcount(msg)};
  for (int s = 0; s < 3 && r.ok(); ++s) {
    for (unsigned i = 0; i < counts[s] && r.ok(); ++i) {
      record rr;
      rr.owner = name_at(r);
      rr.type = r.u16();
      rr.klass = r.u16();
      rr.ttl = r.u32();
      std::uint16_t rdlength = r.u16();
      std::size_t at = r.pos();
      auto rdata = r.bytes(rdlength);
      if (!r.ok()) break;
      if (rr.type == 41) {
        m.edns = true;
        m.udp_size = rr.klass;
        rcode |= (rr.ttl >> 24) << 4;
        m.edns_version = static_cast<std::uint8_t>(rr.ttl >> 16);
        m.dnssec_ok = (rr.ttl & 0x8000) != 0;
        m.edns_flags = static_cast<std::uint16_t>(rr.ttl);
        for (std::size_t k = 0; k + 4 <= rdata.size();) {
          ++m.edns_options;
          k += 4 + (std::size_t{rdata[k + 2]} << 8 | rdata[k + 3]);
        }
        continue;
      }
      rr.data = decode(msg, at, rr.type, rdata);
      sections[s]->push_back(std::move(rr));
    }
  }
  m.rcode = rcode_name(rcode);
  if (!r.ok()) {
    m.error = std::error_code(r.error()).message();
    return m;
  }
  if (r.remaining() != 0) {
    m.error = "trailing data";
    return m;
  }
  m.ok = true;
  return m;
}

}  // namespace loadns::test
