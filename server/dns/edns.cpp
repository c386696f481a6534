#include "server/dns/edns.hpp"

#include <algorithm>

namespace loadns::dns {
namespace {

constexpr std::uint32_t do_bit = 0x8000;  // in the low 16 bits of the OPT TTL

}  // namespace

bool read_opt(reader& r, edns& e) noexcept {
  e.present = true;
  e.udp_size = r.u16();
  std::uint32_t ttl = r.u32();
  e.extended_rcode = static_cast<std::uint8_t>(ttl >> 24);
  e.version = static_cast<std::uint8_t>(ttl >> 16);
  e.dnssec_ok = (ttl & do_bit) != 0;
  std::uint16_t rdlength = r.u16();
  auto rdata = r.bytes(rdlength);
  if (!r.ok()) {
    return false;
  }
  if (e.version != 0) {
    return true;
  }

  reader o(rdata);
  while (o.remaining() > 0) {
    std::uint16_t code = o.u16();
    std::uint16_t length = o.u16();
    auto value = o.bytes(length);
    if (!o.ok()) {
      r.fail(errc::bad_option);
      return false;
    }
    switch (code) {
      case option::nsid:
        e.nsid = true;  // the request is empty (RFC 5001 2.3); a value is ignored
        break;
      case option::cookie:
        // RFC 7873 5.2.2: a client cookie alone (8) or with a server cookie (8 + 8..32);
        // anything else is FORMERR.
        if (length != 8 && (length < 16 || length > 40)) {
          r.fail(errc::bad_cookie);
          return false;
        }
        e.cookie_length = static_cast<std::uint8_t>(length);
        std::copy(value.begin(), value.end(), e.cookie.begin());
        break;
      default:
        break;  // RFC 6891 6.1.2: unknown options are ignored
    }
  }
  return true;
}

void write_opt(writer& w, const edns_reply& reply) noexcept {
  w.u8(0);  // owner: the root
  w.u16(41);
  w.u16(reply.udp_size);
  std::uint32_t ttl = std::uint32_t{reply.extended_rcode} << 24;  // version 0
  if (reply.dnssec_ok) {
    ttl |= do_bit;
  }
  w.u32(ttl);
  if (!reply.has_cookie) {
    w.u16(0);  // no options
    return;
  }
  w.u16(static_cast<std::uint16_t>(cookie_option_size));
  w.u16(option::cookie);
  w.u16(static_cast<std::uint16_t>(reply_cookie_size));
  w.bytes(reply.cookie);
}

}  // namespace loadns::dns
