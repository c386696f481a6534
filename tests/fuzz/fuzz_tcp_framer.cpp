// Fuzz target: the DNS-over-TCP framer on arbitrary streams cut into arbitrary reads. The first
// input byte picks the message limit, the next the seed of the read sizes; the rest is the
// stream. Beyond "no crash, no sanitizer report", the framer must return exactly the messages
// (and the too_large verdict) of a plain reading of the whole stream, whatever the cuts.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "server/dns/tcp_framer.hpp"

namespace {

using loadns::dns::tcp_framer;
using bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) std::abort();
}

/// The messages of the whole stream read at once, and whether it ends in one over `limit`.
bool reference(std::span<const std::uint8_t> s, std::size_t limit, std::vector<bytes>& out) {
  std::size_t pos = 0;
  while (s.size() - pos >= 2) {
    const std::size_t length = (std::size_t{s[pos]} << 8) | s[pos + 1];
    if (length > limit) return true;
    if (s.size() - pos - 2 < length) break;
    out.emplace_back(s.begin() + static_cast<std::ptrdiff_t>(pos + 2),
                     s.begin() + static_cast<std::ptrdiff_t>(pos + 2 + length));
    pos += 2 + length;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Small limits make too_large reachable with short inputs; 255 means the protocol's own.
  const std::size_t limit = data[0] == 255 ? tcp_framer::max_message_limit : data[0] * 4u;
  std::uint32_t seed = data[1] | 1u;
  const std::span<const std::uint8_t> stream(data + 2, size - 2);

  std::vector<bytes> expected;
  const bool expect_too_large = reference(stream, limit, expected);

  tcp_framer framer(limit, 3 + data[1] % 64);
  std::vector<bytes> got;
  auto rest = stream;
  auto verdict = tcp_framer::status::need_more;
  while (!rest.empty() && verdict == tcp_framer::status::need_more) {
    seed = seed * 1103515245u + 12345u;  // read sizes of 1 to 64 bytes
    const std::size_t n = std::min<std::size_t>(rest.size(), 1 + (seed >> 16) % 64);
    verdict = framer.feed(rest.first(n), got);
    rest = rest.subspan(n);
  }
  check(got == expected);
  check((verdict == tcp_framer::status::too_large) == expect_too_large);
  if (!expect_too_large) {
    check(framer.next() == tcp_framer::status::need_more);
    check(framer.idle() == (stream.size() == 0 || [&] {
            std::size_t total = 0;
            for (const auto& m : expected) total += 2 + m.size();
            return total == stream.size();
          }()));
  }
  return 0;
}
