// Tests client/nonce.cpp: alphabet, lengths, DNS limits, both styles, uniqueness.
#include "client/nonce.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <ostream>  // doctest prints std::error_code through operator<<
#include <string>
#include <unordered_set>

using namespace loadns::client;

namespace {

bool only_nonce_chars(std::string_view s) {
  return s.find_first_not_of(nonce_alphabet) == std::string_view::npos;
}

std::string repeat(char c, std::size_t n) {
  return std::string(n, c);
}

}  // namespace

TEST_CASE("make_nonce: default length, lower-case letters and digits only") {
  std::string nonce;
  REQUIRE_FALSE(make_nonce(default_nonce_length, nonce));
  CHECK(nonce.size() == default_nonce_length);
  CHECK(only_nonce_chars(nonce));
  for (std::size_t length : {std::size_t{1}, std::size_t{8}, max_nonce_length}) {
    REQUIRE_FALSE(make_nonce(length, nonce));
    CHECK(nonce.size() == length);
    CHECK(only_nonce_chars(nonce));
  }
}

TEST_CASE("make_nonce: lengths outside 1..48 are errors") {
  std::string nonce;
  CHECK(make_nonce(0, nonce) == nonce_errc::bad_nonce_length);
  CHECK(make_nonce(max_nonce_length + 1, nonce) == nonce_errc::bad_nonce_length);
}

TEST_CASE("nonce_from_bytes: maps without bias and skips 252..255") {
  const std::array<std::uint8_t, 8> bytes{0, 25, 26, 35, 36, 251, 252, 255};
  std::array<char, 8> out{};
  const auto n = nonce_from_bytes(bytes, out);
  CHECK(n == 6);
  CHECK(std::string_view(out.data(), n) == "az09a9");  // 36 -> 'a', 251 = 6 * 36 + 35 -> '9'
  // Every symbol is reachable from exactly seven byte values: uniform over 0..251.
  std::array<int, 36> hits{};
  for (unsigned b = 0; b < 256; ++b) {
    const std::array<std::uint8_t, 1> one{static_cast<std::uint8_t>(b)};
    std::array<char, 1> c{};
    if (nonce_from_bytes(one, c) == 1) {
      ++hits[nonce_alphabet.find(c[0])];
    }
  }
  for (int h : hits) {
    CHECK(h == 7);
  }
}

TEST_CASE("nonce_from_bytes: stops when the output is full") {
  const std::array<std::uint8_t, 4> bytes{1, 2, 3, 4};
  std::array<char, 2> out{};
  CHECK(nonce_from_bytes(bytes, out) == 2);
  CHECK(std::string_view(out.data(), 2) == "bc");
}

TEST_CASE("compose_nonce_name: dash style") {
  std::string out;
  REQUIRE_FALSE(compose_nonce_name("api.example.com", "k3j9xq2m", nonce_style::dash, out));
  CHECK(out == "k3j9xq2m-api.example.com");
  REQUIRE_FALSE(compose_nonce_name("api.example.com.", "k3j9xq2m", nonce_style::dash, out));
  CHECK(out == "k3j9xq2m-api.example.com.");
  REQUIRE_FALSE(compose_nonce_name("localhost", "x", nonce_style::dash, out));
  CHECK(out == "x-localhost");
}

TEST_CASE("compose_nonce_name: label style") {
  std::string out;
  REQUIRE_FALSE(compose_nonce_name("api.example.com", "k3j9xq2m", nonce_style::label, out));
  CHECK(out == "k3j9xq2m.api.example.com");
  REQUIRE_FALSE(compose_nonce_name("API.Example.COM.", "k3j9xq2m", nonce_style::label, out));
  CHECK(out == "k3j9xq2m.API.Example.COM.");
}

TEST_CASE("compose_nonce_name: the first label stays within 63 in dash style") {
  std::string out;
  const std::string nonce = repeat('a', 12);
  const std::string fits = repeat('b', 63 - 13) + ".example.com";  // 50 + 1 + 12 = 63
  CHECK_FALSE(compose_nonce_name(fits, nonce, nonce_style::dash, out));
  CHECK(out.find('.') == 63);
  const std::string too_long = repeat('b', 51) + ".example.com";  // 64
  CHECK(compose_nonce_name(too_long, nonce, nonce_style::dash, out) == nonce_errc::label_too_long);
  // The label style adds a label of its own and keeps the long one as it is.
  CHECK_FALSE(compose_nonce_name(too_long, nonce, nonce_style::label, out));
}

TEST_CASE("compose_nonce_name: the name stays within 253 characters") {
  std::string out;
  // Four labels of 61 plus dots = 247 characters; +1 separator +5 nonce = 253.
  const std::string l = repeat('c', 61);
  const std::string name = l + "." + l + "." + l + "." + l;
  REQUIRE(name.size() == 247);
  CHECK_FALSE(compose_nonce_name(name, "abcde", nonce_style::label, out));
  CHECK(out.size() == 253);
  CHECK(compose_nonce_name(name, "abcdef", nonce_style::label, out) == nonce_errc::name_too_long);
  // Dash style: the same total limit, with a short first label.
  const std::string dashed = "api." + l + "." + l + "." + l + "." + repeat('c', 57);
  REQUIRE(dashed.size() == 247);
  CHECK(compose_nonce_name(dashed + ".", "abcdef", nonce_style::dash, out) ==
        nonce_errc::name_too_long);
  CHECK_FALSE(compose_nonce_name(dashed + ".", "abcde", nonce_style::dash, out));
  CHECK(out.size() == 254);  // 253 plus the trailing dot
}

TEST_CASE("compose_nonce_name: bad names and nonces") {
  std::string out;
  CHECK(compose_nonce_name("", "abc", nonce_style::dash, out) == nonce_errc::empty_name);
  CHECK(compose_nonce_name(".", "abc", nonce_style::dash, out) == nonce_errc::empty_name);
  CHECK(compose_nonce_name("a..b", "abc", nonce_style::dash, out) == nonce_errc::empty_label);
  CHECK(compose_nonce_name(".a", "abc", nonce_style::dash, out) == nonce_errc::empty_label);
  CHECK(compose_nonce_name("a b.com", "abc", nonce_style::dash, out) == nonce_errc::bad_character);
  CHECK(compose_nonce_name(repeat('d', 64) + ".com", "abc", nonce_style::label, out) ==
        nonce_errc::label_too_long);
  CHECK(compose_nonce_name("api.example.com", "", nonce_style::dash, out) ==
        nonce_errc::bad_nonce_length);
  CHECK(compose_nonce_name("api.example.com", repeat('a', 49), nonce_style::dash, out) ==
        nonce_errc::bad_nonce_length);
  CHECK(compose_nonce_name("api.example.com", "ABC", nonce_style::dash, out) ==
        nonce_errc::bad_character);
  CHECK(compose_nonce_name("api.example.com", "a-b", nonce_style::dash, out) ==
        nonce_errc::bad_character);
}

TEST_CASE("make_nonce_name: both styles, fresh every time") {
  std::string dash, label;
  REQUIRE_FALSE(make_nonce_name("api.example.com", nonce_style::dash, dash));
  REQUIRE_FALSE(make_nonce_name("api.example.com", nonce_style::label, label));
  CHECK(dash.size() == default_nonce_length + 1 + 15);
  CHECK(dash.substr(default_nonce_length) == "-api.example.com");
  CHECK(only_nonce_chars(dash.substr(0, default_nonce_length)));
  CHECK(label.substr(default_nonce_length) == ".api.example.com");
  CHECK(only_nonce_chars(label.substr(0, default_nonce_length)));
  CHECK(make_nonce_name("", nonce_style::dash, dash) == nonce_errc::empty_name);
  CHECK(make_nonce_name("api.example.com", nonce_style::dash, dash, 0) ==
        nonce_errc::bad_nonce_length);
}

TEST_CASE("make_nonce_name: 100,000 draws, no repeat, every symbol in every position") {
  constexpr std::size_t draws = 100'000;
  std::unordered_set<std::string> seen;
  seen.reserve(draws);
  std::array<std::array<int, 36>, default_nonce_length> per_position{};
  std::string name;
  for (std::size_t i = 0; i < draws; ++i) {
    REQUIRE_FALSE(make_nonce_name("api.example.com", nonce_style::dash, name));
    for (std::size_t p = 0; p < default_nonce_length; ++p) {
      ++per_position[p][nonce_alphabet.find(name[p])];
    }
    seen.insert(name);
  }
  // 62 bits per nonce: a repeat in 1e5 draws has probability ~1e-9.
  CHECK(seen.size() == draws);
  // Expected 2778 per symbol and position, sd ~52; 2400..3150 is beyond 7 sd.
  for (const auto& position : per_position) {
    for (int hits : position) {
      CHECK(hits > 2400);
      CHECK(hits < 3150);
    }
  }
}

TEST_CASE("parse_nonce_style and error messages") {
  nonce_style s{};
  CHECK(parse_nonce_style("dash", s));
  CHECK(s == nonce_style::dash);
  CHECK(parse_nonce_style("label", s));
  CHECK(s == nonce_style::label);
  CHECK_FALSE(parse_nonce_style("Dash", s));
  CHECK(to_string(nonce_style::label) == "label");
  const std::error_code ec = nonce_errc::label_too_long;
  CHECK(ec.message().find("63") != std::string::npos);
  CHECK(std::string(ec.category().name()) == "loadns.nonce");
}
