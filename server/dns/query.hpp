#pragma once
// A whole query message read in one pass: header fields, the one question, and the OPT
// record from the additional section. Other records are walked (bounds-checked) and ignored.

#include <cstdint>
#include <span>

#include "server/dns/edns.hpp"
#include "server/dns/errc.hpp"
#include "server/dns/question.hpp"

namespace loadns::dns {

struct query {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  question q;
  bool question_ok = false;  ///< `q` was read completely (it can be echoed)
  edns opt;
};

/// Reads `msg`, whose length the caller has checked to be at least a header. Returns errc{}
/// on success, else the first problem: bad_qdcount (QDCOUNT != 1, RFC 9619), a broken
/// question or record, duplicate_opt or bad_opt (RFC 6891 6.1.1), bad_option, bad_cookie, or
/// trailing_data. `out.question_ok` tells whether `out.q` was read, even if a later part failed.
/// With QDCOUNT 0 the rest is read all the same, for RFC 7873 5.4 cookie queries: the result
/// is bad_qdcount, and `out.opt` is filled only if the rest was well formed.
errc read_query(std::span<const std::uint8_t> msg, query& out) noexcept;

}  // namespace loadns::dns
