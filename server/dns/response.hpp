#pragma once
// Writes a response into a caller's buffer: header from the query, the question echoed
// verbatim, records with name compression (RFC 1035 4.1.4), room kept for the OPT record, and
// marks to undo what does not fit so the caller can truncate (RFC 2181 9).
//
// Compression: every label written uncompressed (the question's included) becomes a pointer
// target; a name is written as its longest prefix not found there (octet for octet) plus one
// pointer. Records owned by the question name use 0xC00C directly (add_at_question). Names
// inside the RDATA of NS, CNAME, MX and SOA are compressed too (RFC 3597 4 allows it for
// exactly these RFC 1035 types).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "server/dns/edns.hpp"
#include "server/dns/question.hpp"
#include "server/dns/types.hpp"
#include "server/dns/writer.hpp"

namespace loadns::dns {

enum class section : std::uint8_t { answer = 0, authority = 1, additional = 2 };

class response {
 public:
  /// Writes into `out`, never past `limit` bytes (the UDP size, or 65535 over TCP).
  response(std::span<std::uint8_t> out, std::size_t limit) noexcept;

  /// Writes the header of a response to a query with `id` and `query_flags`: QR set, opcode
  /// and RD copied (RFC 1035 4.1.1), CD copied (RFC 4035 3.1.6), everything else clear, all
  /// counts zero. False when the buffer cannot hold a header.
  bool start(std::uint16_t id, std::uint16_t query_flags) noexcept;

  /// Sets header flags (aa, tc) on top of what start() copied.
  void set_flags(std::uint16_t flags) noexcept { flags_ |= flags; }
  std::uint16_t flags() const noexcept { return flags_; }
  /// The RCODE; values above 15 go to the OPT record's extended RCODE (RFC 6891 6.1.3).
  void set_rcode(rcode rc) noexcept { rcode_ = rc; }
  rcode get_rcode() const noexcept { return rcode_; }

  /// Adds an OPT record to the response and keeps room for it from now on. Call before
  /// adding records, so that truncation leaves space for it (RFC 6891 7).
  void set_edns(const edns_reply& reply) noexcept;
  bool has_edns() const noexcept { return edns_; }

  /// Echoes the question exactly as the client sent it (RFC 0x20) and makes its labels
  /// compression targets; the question name itself is then at offset 12 (0xC00C).
  bool put_question(const question& q) noexcept;

  /// Adds a class IN record owned by the question name (a two-octet pointer to offset 12).
  /// False, with nothing written, when it does not fit.
  bool add_at_question(section s, std::uint16_t rrtype, std::uint32_t ttl,
                       std::span<const std::uint8_t> rdata) noexcept;

  /// Adds a class IN record owned by `owner` (uncompressed lower-case wire form), compressed.
  /// False, with nothing written, when it does not fit.
  bool add(section s, std::span<const std::uint8_t> owner, std::uint16_t rrtype, std::uint32_t ttl,
           std::span<const std::uint8_t> rdata) noexcept;

  /// A point to come back to: what was written and the counts.
  struct mark {
    std::size_t pos = 0;
    std::array<std::uint16_t, 3> counts{};
    std::size_t targets = 0;
  };
  mark get_mark() const noexcept { return {w_.pos(), counts_, targets_count_}; }
  void rollback(const mark& m) noexcept;

  std::uint16_t count(section s) const noexcept { return counts_[static_cast<std::size_t>(s)]; }
  /// Room left for records, the OPT record's room excluded.
  std::size_t remaining() const noexcept { return w_.remaining(); }

  /// Writes the counts, flags and RCODE into the header and the OPT record at the end;
  /// returns the message length (0 when even the header did not fit).
  std::size_t finish() noexcept;

 private:
  void put_name(std::span<const std::uint8_t> name) noexcept;
  void put_rdata(std::uint16_t rrtype, std::span<const std::uint8_t> rdata) noexcept;
  bool matches_at(std::size_t offset, std::span<const std::uint8_t> name) const noexcept;
  void add_targets(std::size_t at, std::span<const std::uint8_t> labels) noexcept;
  /// Writes type, class, TTL and RDATA after an owner written from `start`, and counts the
  /// record in `s`; when it does not fit, rewinds to `start` and forgets the compression
  /// targets added since `targets`.
  bool put_rr_after_owner(section s, std::size_t start, std::size_t targets, std::uint16_t rrtype,
                          std::uint32_t ttl, std::span<const std::uint8_t> rdata) noexcept;

  writer w_;
  std::size_t limit_;
  bool started_ = false;
  std::uint16_t id_ = 0;
  std::uint16_t flags_ = 0;
  rcode rcode_ = rcode::noerror;
  bool edns_ = false;
  edns_reply edns_reply_{};
  std::array<std::uint16_t, 3> counts_{};
  std::uint16_t qdcount_ = 0;
  std::array<std::uint16_t, 64> targets_{};
  std::size_t targets_count_ = 0;
};

}  // namespace loadns::dns
