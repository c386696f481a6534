#include "server/dns/name.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/unit/dns/packet.hpp"

using namespace loadns;
using dns::errc;

namespace {

using bytes = std::vector<std::uint8_t>;

struct read_result {
  std::size_t length = 0;
  errc error{};
  std::size_t end = 0;  // reader position afterwards
  std::string text;
};

read_result question_name(const bytes& msg, std::size_t at = 0) {
  dns::reader r(msg, at);
  dns::name_buffer buf{};
  read_result res;
  res.length = dns::read_question_name(r, buf);
  res.error = r.error();
  res.end = r.pos();
  if (res.length) res.text = dns::to_text(std::span<const std::uint8_t>(buf).first(res.length));
  return res;
}

read_result any_name(const bytes& msg, std::size_t at) {
  dns::reader r(msg, at);
  dns::name_buffer buf{};
  read_result res;
  res.length = dns::read_name(r, buf);
  res.error = r.error();
  res.end = r.pos();
  if (res.length) res.text = dns::to_text(std::span<const std::uint8_t>(buf).first(res.length));
  return res;
}

// A name of `labels` labels of `size` octets each.
bytes long_name(std::size_t labels, std::size_t size) {
  bytes w;
  for (std::size_t i = 0; i < labels; ++i) {
    w.push_back(static_cast<std::uint8_t>(size));
    w.insert(w.end(), size, 'a');
  }
  w.push_back(0);
  return w;
}

}  // namespace

TEST_CASE("case folding is ASCII only, by table") {
  CHECK(dns::to_lower('A') == 'a');
  CHECK(dns::to_lower('Z') == 'z');
  CHECK(dns::to_lower('a') == 'a');
  CHECK(dns::to_lower('@') == '@');
  CHECK(dns::to_lower('[') == '[');
  CHECK(dns::to_lower(0xC4) == 0xC4);  // no locale: Latin-1 A-umlaut stays
  CHECK(dns::names_equal(test::wire_name("ExAmple.COM"), test::wire_name("example.com")));
  CHECK_FALSE(dns::names_equal(test::wire_name("example.com"), test::wire_name("example.co")));
}

TEST_CASE("question names: folded, uncompressed, within limits") {
  auto r = question_name(test::wire_name("WWW.Example.COM"));
  CHECK(r.error == errc{});
  CHECK(r.length == 17);
  CHECK(r.end == 17);
  CHECK(r.text == "www.example.com");

  SUBCASE("the root") {
    auto root = question_name(bytes{0});
    CHECK(root.length == 1);
    CHECK(root.text == ".");
  }
  SUBCASE("a compression pointer is refused") {
    bytes msg{3, 'w', 'w', 'w', 0xC0, 0x00};
    CHECK(question_name(msg).error == errc::compression_in_question);
  }
  SUBCASE("label types 01 and 10 (a length above 63) are refused") {
    bytes msg{64};
    msg.insert(msg.end(), 64, 'a');
    msg.push_back(0);
    CHECK(question_name(msg).error == errc::bad_label_type);
    CHECK(question_name(bytes{0x80, 0}).error == errc::bad_label_type);
  }
  SUBCASE("a 63-octet label is fine") {
    CHECK(question_name(long_name(1, 63)).length == 65);
  }
  SUBCASE("255 octets is the most") {
    // 3 x 63 + 1 x 61: 4 x 64 - 2 = 254 octets of labels, plus the root = 255.
    bytes w = long_name(3, 63);
    w.pop_back();
    w.push_back(61);
    w.insert(w.end(), 61, 'b');
    w.push_back(0);
    REQUIRE(w.size() == 255);
    CHECK(question_name(w).length == 255);
    bytes w2 = long_name(3, 63);  // one octet more in the last label: 256
    w2.pop_back();
    w2.push_back(62);
    w2.insert(w2.end(), 62, 'b');
    w2.push_back(0);
    REQUIRE(w2.size() == 256);
    CHECK(question_name(w2).error == errc::name_too_long);
  }
  SUBCASE("names cut short at every length are truncated, never read past the end") {
    bytes full = test::wire_name("a.bb.ccc.example.com");
    for (std::size_t n = 0; n < full.size(); ++n) {
      bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      CAPTURE(n);
      CHECK(question_name(cut).error == errc::truncated);
    }
  }
}

TEST_CASE("compressed names: backward pointers only, with a hop cap") {
  // offset 0: example.com; offset 13: www + pointer to 0
  bytes msg = test::wire_name("example.com");
  msg.insert(msg.end(), {3, 'w', 'w', 'w', 0xC0, 0x00});

  SUBCASE("a backward pointer") {
    auto r = any_name(msg, 13);
    CHECK(r.error == errc{});
    CHECK(r.text == "www.example.com");
    CHECK(r.length == 17);
    CHECK(r.end == msg.size());  // the reader ends after the first pointer
  }
  SUBCASE("a forward pointer is refused") {
    bytes m{0xC0, 0x02, 3, 'c', 'o', 'm', 0};
    CHECK(any_name(m, 0).error == errc::bad_pointer);
  }
  SUBCASE("a pointer to itself is refused") {
    bytes m{0, 0xC0, 0x01};
    CHECK(any_name(m, 1).error == errc::bad_pointer);
  }
  SUBCASE("a loop through an earlier name is refused") {
    // offset 0: "a" + pointer to 4; offset 4: "b" + pointer to 0: the second pointer does
    // not point below the sequence it ends.
    bytes m{1, 'a', 0xC0, 0x04, 1, 'b', 0xC0, 0x00};
    CHECK(any_name(m, 4).error == errc::bad_pointer);
  }
  SUBCASE("a pointer out of bounds is refused") {
    bytes m{0, 0, 0, 0xC0, 0xFF};
    CHECK(any_name(m, 3).error == errc::bad_pointer);
    bytes cut{0, 0xC0};
    CHECK(any_name(cut, 1).error == errc::truncated);
  }
  SUBCASE("a chain longer than the hop cap is refused") {
    bytes m{0};
    for (int i = 0; i < dns::max_pointer_hops + 1; ++i) {
      auto target = m.size() == 1 ? 0u : m.size() - 2;
      m.push_back(static_cast<std::uint8_t>(0xC0 | (target >> 8)));
      m.push_back(static_cast<std::uint8_t>(target));
    }
    CHECK(any_name(m, m.size() - 2).error == errc::too_many_pointers);
    // A shorter chain is fine.
    CHECK(any_name(m, 1 + 2 * 3).error == errc{});
  }
  SUBCASE("the 255-octet limit holds across pointers") {
    bytes m = long_name(3, 63);  // 193 octets
    const auto second = m.size();
    m.push_back(63);
    m.insert(m.end(), 63, 'z');
    m.push_back(0xC0);
    m.push_back(0x00);
    CHECK(any_name(m, second).error == errc::name_too_long);
  }
  SUBCASE("a name may not be stored when only validation is wanted") {
    dns::reader r(msg, 13);
    CHECK(dns::read_name(r) == 17);
  }
}

TEST_CASE("presentation form to wire and back") {
  dns::name_buffer buf{};
  CHECK(dns::from_text("API.Example.com.", buf) == 17);
  CHECK(dns::to_text(std::span<const std::uint8_t>(buf).first(17)) == "api.example.com");
  CHECK(dns::from_text("api.example.com", buf) == 17);
  CHECK(dns::from_text(".", buf) == 1);
  CHECK(dns::from_text("a\\.b.example", buf) == 13);
  CHECK(dns::to_text(std::span<const std::uint8_t>(buf).first(13)) == "a\\.b.example");
  CHECK(dns::from_text("\\065b.c", buf) == 6);
  CHECK(buf[1] == 'a');  // folded after unescaping
  CHECK(dns::from_text("a..b", buf) == 0);
  CHECK(dns::from_text(".a", buf) == 0);
  CHECK(dns::from_text("a\\", buf) == 0);
  CHECK(dns::from_text("a\\25", buf) == 0);
  CHECK(dns::from_text("a\\256", buf) == 0);
  CHECK(dns::from_text(std::string(64, 'a') + ".com", buf) == 0);
  CHECK(dns::from_text(std::string(63, 'a') + ".com", buf) == 69);
  std::string long_text;
  for (int i = 0; i < 4; ++i) long_text += std::string(63, 'a') + ".";
  CHECK(dns::from_text(long_text, buf) == 0);  // 4 x 64 + 1 = 257 octets
  CHECK(dns::label_count(test::wire_name("a.b.c")) == 3);
  CHECK(dns::wire_from_text("Example.COM").size() == 13);
  CHECK(dns::wire_from_text("bad..name").empty());
}
