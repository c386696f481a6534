#include "server/dns/response.hpp"

#include <algorithm>
#include <array>

#include "server/dns/header.hpp"
#include "server/dns/name.hpp"

namespace loadns::dns {
namespace {

constexpr std::size_t max_pointer_target = 0x3FFF;
constexpr std::uint16_t pointer_mark = 0xC000;
// RFC 1035 4.1.1: opcode and RD are copied; RFC 4035 3.1.6: so is CD. AA, TC, RA, Z, AD and
// the RCODE start clear.
constexpr std::uint16_t copied_flags = header::opcode_mask | header::rd | header::cd;

// Octets of an uncompressed wire name at the front of `wire`.
std::size_t name_length(std::span<const std::uint8_t> wire) noexcept {
  std::size_t i = 0;
  while (i < wire.size() && wire[i] != 0) {
    i += 1 + std::size_t{wire[i]};
  }
  return std::min(i + 1, wire.size());
}

}  // namespace

response::response(std::span<std::uint8_t> out, std::size_t limit) noexcept
    : w_(out), limit_(std::min(limit, out.size())) {
  w_.set_limit(limit_);
}

bool response::start(std::uint16_t id, std::uint16_t query_flags) noexcept {
  id_ = id;
  flags_ = static_cast<std::uint16_t>(header::qr | (query_flags & copied_flags));
  // Room for the header, written by finish() once the counts are known: one bounds check.
  static constexpr std::array<std::uint8_t, header::size> blank{};
  w_.bytes(blank);
  started_ = w_.ok();
  return started_;
}

void response::set_edns(const edns_reply& reply) noexcept {
  w_.set_limit(limit_ >= opt_size(reply) ? limit_ - opt_size(reply) : 0);
  edns_ = true;
  edns_reply_ = reply;
}

bool response::put_question(const question& q) noexcept {
  std::size_t at = w_.pos();
  w_.bytes(q.wire);
  w_.u16(q.qtype);
  w_.u16(q.qclass);
  if (!w_.ok()) {
    w_.rewind(at);
    return false;
  }
  add_targets(at, q.lower_name());
  qdcount_ = 1;
  return true;
}

void response::add_targets(std::size_t at, std::span<const std::uint8_t> labels) noexcept {
  // `labels` is what was written at `at`, up to (not including) a root octet or pointer.
  for (std::size_t i = 0; i < labels.size() && labels[i] != 0; i += 1 + std::size_t{labels[i]}) {
    if (targets_count_ == targets_.size() || at + i > max_pointer_target) {
      return;
    }
    targets_[targets_count_++] = static_cast<std::uint16_t>(at + i);
  }
}

bool response::matches_at(std::size_t offset, std::span<const std::uint8_t> name) const noexcept {
  // The message here was written by this class: pointers in it point backward and labels are
  // in bounds, but the walk still counts hops and checks lengths. The comparison is exact, not
  // case-folded: pointing the zone's lower-case names into a question spelled in 0x20 mixed
  // case would change the case of our data (RFC 4343 4.1 asks to preserve it).
  const auto msg = w_.written();
  std::size_t i = 0;
  std::size_t p = offset;
  int hops = 0;
  while (p < msg.size() && i < name.size()) {
    std::uint8_t n = msg[p];
    if ((n & 0xC0) == 0xC0) {
      if (p + 1 >= msg.size() || ++hops > max_pointer_hops) {
        return false;
      }
      p = (std::size_t{n} & 0x3Fu) << 8 | msg[p + 1];
      continue;
    }
    if (n != name[i]) {
      return false;
    }
    if (n == 0) {
      return true;
    }
    if (p + 1 + n > msg.size() || i + 1 + n > name.size()) {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (msg[p + k] != name[i + k]) {
        return false;
      }
    }
    p += 1 + std::size_t{n};
    i += 1 + std::size_t{n};
  }
  return false;
}

void response::put_name(std::span<const std::uint8_t> name) noexcept {
  name = name.first(name_length(name));
  const std::size_t at = w_.pos();
  for (std::size_t s = 0; s < name.size() && name[s] != 0; s += 1 + std::size_t{name[s]}) {
    auto suffix = name.subspan(s);
    for (std::size_t t = 0; t < targets_count_; ++t) {
      if (!matches_at(targets_[t], suffix)) {
        continue;
      }
      w_.bytes(name.first(s));
      w_.u16(static_cast<std::uint16_t>(pointer_mark | targets_[t]));
      if (w_.ok()) {
        add_targets(at, name.first(s));
      }
      return;
    }
  }
  w_.bytes(name);
  if (w_.ok()) {
    add_targets(at, name);
  }
}

void response::put_rdata(std::uint16_t rrtype, std::span<const std::uint8_t> rdata) noexcept {
  switch (rrtype) {
    case type::ns:
    case type::cname:
      put_name(rdata);
      return;
    case type::mx:
      if (rdata.size() < 3) {
        break;
      }
      w_.bytes(rdata.first(2));
      put_name(rdata.subspan(2));
      return;
    case type::soa: {
      std::size_t mname = name_length(rdata);
      std::size_t rname = name_length(rdata.subspan(mname));
      if (mname + rname + 20 != rdata.size()) {
        break;
      }
      put_name(rdata.first(mname));
      put_name(rdata.subspan(mname, rname));
      w_.bytes(rdata.subspan(mname + rname));
      return;
    }
    default:
      break;
  }
  w_.bytes(rdata);
}

bool response::put_rr_after_owner(section s, std::size_t start, std::size_t targets,
                                  std::uint16_t rrtype, std::uint32_t ttl,
                                  std::span<const std::uint8_t> rdata) noexcept {
  w_.u16(rrtype);
  w_.u16(qclass::in);
  w_.u32(ttl);
  const std::size_t rdlength_at = w_.pos();
  w_.u16(0);
  put_rdata(rrtype, rdata);
  auto& count = counts_[static_cast<std::size_t>(s)];
  if (!w_.ok() || count == 0xFFFF) {
    // Did not fit: the record leaves no trace, compression targets included.
    w_.rewind(start);
    targets_count_ = targets;
    return false;
  }
  w_.patch16(rdlength_at, static_cast<std::uint16_t>(w_.pos() - rdlength_at - 2));
  ++count;
  return true;
}

bool response::add_at_question(section s, std::uint16_t rrtype, std::uint32_t ttl,
                               std::span<const std::uint8_t> rdata) noexcept {
  if (qdcount_ == 0) {
    return false;
  }
  const std::size_t start = w_.pos();
  const std::size_t targets = targets_count_;
  w_.u16(static_cast<std::uint16_t>(pointer_mark | header::size));
  return put_rr_after_owner(s, start, targets, rrtype, ttl, rdata);
}

bool response::add(section s, std::span<const std::uint8_t> owner, std::uint16_t rrtype,
                   std::uint32_t ttl, std::span<const std::uint8_t> rdata) noexcept {
  const std::size_t start = w_.pos();
  const std::size_t targets = targets_count_;
  put_name(owner);
  return put_rr_after_owner(s, start, targets, rrtype, ttl, rdata);
}

void response::rollback(const mark& m) noexcept {
  w_.rewind(m.pos);
  counts_ = m.counts;
  targets_count_ = m.targets;
}

std::size_t response::finish() noexcept {
  if (!started_) {
    return 0;
  }
  auto rc = static_cast<std::uint16_t>(rcode_);
  std::uint16_t arcount = counts_[2];
  if (edns_) {
    w_.set_limit(limit_);
    edns_reply reply = edns_reply_;
    reply.extended_rcode = static_cast<std::uint8_t>(rc >> 4);
    write_opt(w_, reply);
    if (w_.ok()) {
      ++arcount;
    }
  }
  auto out = w_.buffer();
  header::set(out, header::id_offset, id_);
  header::set(out, header::flags_offset,
              static_cast<std::uint16_t>(flags_ | (rc & header::rcode_mask)));
  header::set(out, header::qdcount_offset, qdcount_);
  header::set(out, header::ancount_offset, counts_[0]);
  header::set(out, header::nscount_offset, counts_[1]);
  header::set(out, header::arcount_offset, arcount);
  return w_.pos();
}

}  // namespace loadns::dns
