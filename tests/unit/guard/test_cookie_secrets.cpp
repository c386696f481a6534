#include "server/guard/cookie_secrets.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace loadns::guard;

namespace {
siphash_key filled(std::uint8_t v) {
  siphash_key k;
  k.fill(v);
  return k;
}
}  // namespace

TEST_CASE("a secret file: one secret, or the one cookies are made with and one accepted") {
  const auto one = parse_secret_text("e5e973e5a6b2a43f48e7dc849e37bfcf\n");
  REQUIRE(one);
  CHECK(one->current[0] == 0xe5);
  CHECK(one->current[15] == 0xcf);
  CHECK_FALSE(one->has_previous);

  const auto two = parse_secret_text(
      "# rotating: new first\n0x445536BCD2513298075A5D379663C962\r\n\n"
      "  dd3bdf9344b678b185a6f5cb60fca715  \n");
  REQUIRE(two);
  CHECK(two->current[0] == 0x44);
  CHECK(two->has_previous);
  CHECK(two->previous[0] == 0xdd);
}

TEST_CASE("a secret file that is not 128 bits of hex is refused") {
  CHECK_FALSE(parse_secret_text(""));
  CHECK_FALSE(parse_secret_text("# nothing\n\n"));
  CHECK_FALSE(parse_secret_text("e5e973e5a6b2a43f48e7dc849e37bf\n"));    // 120 bits
  CHECK_FALSE(parse_secret_text("e5e973e5a6b2a43f48e7dc849e37bfcf00"));  // 136 bits
  CHECK_FALSE(parse_secret_text("g5e973e5a6b2a43f48e7dc849e37bfcf"));
  CHECK_FALSE(parse_secret_text(
      "e5e973e5a6b2a43f48e7dc849e37bfcf\ne5e973e5a6b2a43f48e7dc849e37bfcf\n"
      "e5e973e5a6b2a43f48e7dc849e37bfcf\n"));  // a third secret: a mistake, not a rotation
}

TEST_CASE("readers never see a torn pair of secrets while a writer rotates") {
  cookie_secrets s({filled(0), filled(1), false});
  std::atomic<bool> done{false};
  std::atomic<long> torn{0};
  std::thread reader([&] {
    while (!done.load()) {
      const cookie_keys k = s.load();
      // Every store writes a key of one repeated octet and previous = that octet + 1.
      for (auto b : k.current) torn += b != k.current[0];
      for (auto b : k.previous) torn += b != static_cast<std::uint8_t>(k.current[0] + 1);
      torn += k.has_previous != ((k.current[0] & 1) != 0);
    }
  });
  for (int i = 1; i < 20000; ++i) {
    const auto v = static_cast<std::uint8_t>(i);
    s.store({filled(v), filled(static_cast<std::uint8_t>(v + 1)), (v & 1) != 0});
  }
  done = true;
  reader.join();
  CHECK(torn.load() == 0);
  CHECK(s.generation() == 20000);
}
