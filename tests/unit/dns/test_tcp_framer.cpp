#include "server/dns/tcp_framer.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

using namespace loadns;
using bytes = std::vector<std::uint8_t>;
using status = dns::tcp_framer::status;

namespace {

bytes message_of(std::size_t length, std::uint8_t fill) {
  bytes m(length);
  for (std::size_t i = 0; i < length; ++i) m[i] = static_cast<std::uint8_t>(fill + i);
  return m;
}

/// The stream that carries `messages`, each behind its two-byte length.
bytes stream_of(const std::vector<bytes>& messages) {
  bytes s;
  for (const auto& m : messages) {
    s.push_back(static_cast<std::uint8_t>(m.size() >> 8));
    s.push_back(static_cast<std::uint8_t>(m.size() & 0xff));
    s.insert(s.end(), m.begin(), m.end());
  }
  return s;
}

/// Three pipelined messages: an empty one, a query-sized one, and one longer than the
/// framer's first buffer, so the buffer grows mid-stream.
const std::vector<bytes> messages = {bytes{}, message_of(29, 1), message_of(5000, 7)};

}  // namespace

TEST_CASE("tcp_framer: a stream cut at every split point yields the same messages") {
  const bytes stream = stream_of(messages);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    dns::tcp_framer framer;
    std::vector<bytes> got;
    const std::span<const std::uint8_t> all(stream);
    CHECK(framer.feed(all.first(cut), got) == status::need_more);
    CHECK(framer.feed(all.subspan(cut), got) == status::need_more);
    CHECK(got == messages);
    CHECK(framer.idle());
  }
}

TEST_CASE("tcp_framer: one byte at a time") {
  const bytes stream = stream_of(messages);
  dns::tcp_framer framer(dns::tcp_framer::max_message_limit, 3);  // the smallest buffer
  std::vector<bytes> got;
  std::size_t boundaries = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    const std::size_t before = got.size();
    CHECK(framer.feed(std::span(stream).subspan(i, 1), got) == status::need_more);
    if (got.size() > before) ++boundaries;
    CHECK(framer.idle() == (got.size() > before));
  }
  CHECK(got == messages);
  CHECK(boundaries == messages.size());
}

TEST_CASE("tcp_framer: idle only between messages") {
  dns::tcp_framer framer;
  std::vector<bytes> got;
  CHECK(framer.idle());
  const bytes stream = stream_of({message_of(10, 0)});
  framer.feed(std::span(stream).first(1), got);
  CHECK_FALSE(framer.idle());  // half a length prefix
  framer.feed(std::span(stream).subspan(1, 5), got);
  CHECK_FALSE(framer.idle());  // a partial message
  framer.feed(std::span(stream).subspan(6), got);
  CHECK(framer.idle());
  CHECK(got.size() == 1);
}

TEST_CASE("tcp_framer: prepare and commit read in place; message() holds until prepare()") {
  dns::tcp_framer framer;
  const bytes stream = stream_of({message_of(3, 9), message_of(2, 4)});
  auto room = framer.prepare();
  REQUIRE(room.size() >= stream.size());
  std::copy(stream.begin(), stream.end(), room.begin());
  CHECK(framer.next() == status::need_more);  // nothing committed yet
  framer.commit(stream.size());
  REQUIRE(framer.next() == status::frame);
  CHECK(bytes(framer.message().begin(), framer.message().end()) == message_of(3, 9));
  REQUIRE(framer.next() == status::frame);
  CHECK(bytes(framer.message().begin(), framer.message().end()) == message_of(2, 4));
  CHECK(framer.next() == status::need_more);
  CHECK(framer.message().empty());
}

TEST_CASE("tcp_framer: the longest message a prefix can announce fits") {
  const bytes stream = stream_of({message_of(65535, 3)});
  dns::tcp_framer framer;
  std::vector<bytes> got;
  CHECK(framer.feed(stream, got) == status::need_more);
  REQUIRE(got.size() == 1);
  CHECK(got[0].size() == 65535);
}

TEST_CASE("tcp_framer: a message over the limit is too_large, at every split of its prefix") {
  const bytes stream = stream_of({message_of(4, 0), message_of(513, 0)});
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    dns::tcp_framer framer(512);
    std::vector<bytes> got;
    const std::span<const std::uint8_t> all(stream);
    const status first = framer.feed(all.first(cut), got);
    // too_large as soon as the whole prefix of the second message is in: bytes 6 and 7.
    CHECK(first == (cut >= 8 ? status::too_large : status::need_more));
    if (first == status::need_more) CHECK(framer.feed(all.subspan(cut), got) == status::too_large);
    CHECK(got == std::vector<bytes>{message_of(4, 0)});
    CHECK(framer.next() == status::too_large);  // it stays so
  }
}

TEST_CASE("tcp_framer: a message at the limit is a frame") {
  const bytes stream = stream_of({message_of(512, 1)});
  dns::tcp_framer framer(512);
  std::vector<bytes> got;
  CHECK(framer.feed(stream, got) == status::need_more);
  CHECK(got == std::vector<bytes>{message_of(512, 1)});
}
