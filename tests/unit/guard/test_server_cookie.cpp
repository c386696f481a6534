#include "server/guard/server_cookie.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>
#include <vector>

#include "tests/support/hex.hpp"

using namespace loadns::guard;
using loadns::test::from_hex;
using loadns::test::to_hex;

namespace {

siphash_key key_of(std::string_view hex) {
  siphash_key k{};
  const auto b = from_hex(hex);
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

std::vector<std::uint8_t> address_of(const char* text) {
  std::array<std::uint8_t, 16> a{};
  if (::inet_pton(AF_INET, text, a.data()) == 1) return {a.begin(), a.begin() + 4};
  REQUIRE(::inet_pton(AF_INET6, text, a.data()) == 1);
  return {a.begin(), a.end()};
}

/// check_cookie() on a query option, the verdict and the reply option in hex.
struct outcome {
  cookie_verdict verdict;
  std::string reply;
};
outcome check(const cookie_keys& keys, std::string_view option, const char* ip, std::uint32_t now) {
  std::array<std::uint8_t, 24> reply{};
  const auto opt = from_hex(option);
  const auto v = check_cookie(keys, opt, address_of(ip), now, reply);
  return {v, to_hex(reply)};
}

constexpr std::string_view secret_a = "e5e973e5a6b2a43f48e7dc849e37bfcf";    // RFC 9018 A.1-A.3
constexpr std::string_view secret_old = "dd3bdf9344b678b185a6f5cb60fca715";  // A.4
constexpr std::string_view secret_new = "445536bcd2513298075a5d379663c962";  // A.4

}  // namespace

TEST_CASE("RFC 9018 A.1: learning a new server cookie") {
  std::array<std::uint8_t, 16> out{};
  make_server_cookie(key_of(secret_a), from_hex("2464c4abcf10c957"), address_of("198.51.100.100"),
                     1559731985, out);
  CHECK(to_hex(out) == "010000005cf79f111f8130c3eee29480");

  const auto r = check({key_of(secret_a)}, "2464c4abcf10c957", "198.51.100.100", 1559731985);
  CHECK(r.verdict == cookie_verdict::client_only);
  CHECK(r.reply == "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
}

TEST_CASE("RFC 9018 A.2: the same client 40 minutes later is valid and gets a renewed cookie") {
  const auto r = check({key_of(secret_a)}, "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
                       "198.51.100.100", 1559734385);
  CHECK(r.verdict == cookie_verdict::valid);
  CHECK(r.reply == "2464c4abcf10c957010000005cf7a871d4a564a1442aca77");
}

TEST_CASE("RFC 9018 A.3: another server's cookie, reserved octets set, renewed when too old") {
  // Made by another implementation sharing the secret; its Reserved octets are hashed as sent.
  const auto client = from_hex("fc93fc62807ddb86");
  const auto server = from_hex("01abcdef5cf78f71a314227b6679ebf5");
  CHECK(server_cookie_matches(key_of(secret_a), client, server, address_of("203.0.113.203")));
  // The example's query comes 1h52m after the cookie's timestamp: no longer valid, and the
  // reply carries the vector's fresh cookie.
  const auto r = check({key_of(secret_a)}, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
                       "203.0.113.203", 1559734700);
  CHECK(r.verdict == cookie_verdict::invalid);
  CHECK(r.reply == "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e");
  // Within its hour it is valid.
  const auto young = check({key_of(secret_a)}, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
                           "203.0.113.203", 0x5cf78f71 + 60);
  CHECK(young.verdict == cookie_verdict::valid);
}

TEST_CASE("RFC 9018 A.4: IPv6, after a rotation the previous secret is still accepted") {
  cookie_keys rotated{key_of(secret_new), key_of(secret_old), true};
  const auto r = check(rotated, "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
                       "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961);
  CHECK(r.verdict == cookie_verdict::valid);
  CHECK(r.reply == "22681ab97d52c298010000005cf7c609a6bb79d16625507a");

  // Without the previous secret the old cookie is not ours.
  const auto alone = check({key_of(secret_new)}, "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
                           "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961);
  CHECK(alone.verdict == cookie_verdict::invalid);
  CHECK(alone.reply == "22681ab97d52c298010000005cf7c609a6bb79d16625507a");
}

TEST_CASE("a valid cookie younger than half an hour is echoed as received") {
  const std::string cookie = "2464c4abcf10c957010000005cf79f111f8130c3eee29480";
  const auto r = check({key_of(secret_a)}, cookie, "198.51.100.100", 1559731985 + 1800);
  CHECK(r.verdict == cookie_verdict::valid);
  CHECK(r.reply == cookie);
}

TEST_CASE("a cookie is invalid from another address, altered, or of another version or size") {
  const cookie_keys keys{key_of(secret_a)};
  const std::uint32_t now = 1559731985;
  CHECK(check(keys, "2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.101", now)
            .verdict == cookie_verdict::invalid);
  CHECK(check(keys, "2464c4abcf10c957010000005cf79f111f8130c3eee29481", "198.51.100.100", now)
            .verdict == cookie_verdict::invalid);
  CHECK(check(keys, "2464c4abcf10c958010000005cf79f111f8130c3eee29480", "198.51.100.100", now)
            .verdict == cookie_verdict::invalid);
  CHECK(check(keys, "2464c4abcf10c957020000005cf79f111f8130c3eee29480", "198.51.100.100", now)
            .verdict == cookie_verdict::invalid);
  // 8 to 32 octets of server cookie are well formed (RFC 7873 4.2) but not ours unless 16.
  CHECK(check(keys, "2464c4abcf10c9570102030405060708", "198.51.100.100", now).verdict ==
        cookie_verdict::invalid);
  // Whatever the verdict, the reply carries a fresh cookie for the client.
  CHECK(check(keys, "2464c4abcf10c9570102030405060708", "198.51.100.100", now).reply ==
        "2464c4abcf10c957010000005cf79f111f8130c3eee29480");
}

TEST_CASE("RFC 9018 4.3: an hour of validity, five minutes of skew, across the 2^32 wrap") {
  const std::uint32_t now = 1559731985;
  CHECK(cookie_time_valid(now, now));
  CHECK(cookie_time_valid(now - 3600, now));
  CHECK_FALSE(cookie_time_valid(now - 3601, now));
  CHECK(cookie_time_valid(now + 300, now));
  CHECK_FALSE(cookie_time_valid(now + 301, now));
  CHECK(cookie_time_valid(4294964696U, 1000));  // stamped before the wrap, an hour ago
  CHECK_FALSE(cookie_time_valid(1000, 4294964696U));

  // The whole check: the A.1 cookie an hour and a second later is invalid, and renewed.
  const auto r = check({key_of(secret_a)}, "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
                       "198.51.100.100", now + 3601);
  CHECK(r.verdict == cookie_verdict::invalid);
  CHECK(r.reply.substr(16, 16) == "010000005cf7ad22");  // version, reserved, the new time
}

TEST_CASE("the cookie memo changes no verdict and no reply (random differential)") {
  // A few clients, addresses, seconds, secrets and cookies (their own, another's, altered,
  // stale, with Reserved set): check_cookie() with one memo across all calls must give what
  // it gives without one, call for call.
  std::mt19937_64 rng(20261205);
  const std::vector<siphash_key> secrets{key_of(secret_a), key_of(secret_old), key_of(secret_new)};
  const std::vector<std::vector<std::uint8_t>> addresses{
      address_of("198.51.100.100"), address_of("198.51.100.101"), address_of("2001:db8::1"),
      address_of("2001:db8::2")};
  const std::vector<std::vector<std::uint8_t>> clients{
      from_hex("2464c4abcf10c957"), from_hex("0102030405060708"), from_hex("fffefdfcfbfaf9f8")};
  cookie_memo memo;
  std::vector<std::vector<std::uint8_t>> seen;  // replies so far, sent back in later queries
  std::uint32_t now = 1559731985;
  int hits = 0;
  for (int i = 0; i < 20000; ++i) {
    if (rng() % 4 == 0) now += static_cast<std::uint32_t>(rng() % 3 == 0 ? 1900 : 1);
    cookie_keys keys{secrets[rng() % 2], secrets[2], rng() % 2 == 0};
    const auto& address = addresses[rng() % addresses.size()];
    std::vector<std::uint8_t> option = clients[rng() % clients.size()];
    if (!seen.empty() && rng() % 3 != 0) {
      option = seen[rng() % seen.size()];
      const auto how = rng() % 8;
      if (how == 0) option[23] ^= 1;                                     // altered hash
      if (how == 1) option[9] = 1;                                       // Reserved set
      if (how == 2) std::copy_n(clients[1].begin(), 8, option.begin());  // another client
    }
    std::array<std::uint8_t, 24> plain{};
    std::array<std::uint8_t, 24> memoized{};
    const auto v_plain = check_cookie(keys, option, address, now, plain);
    const auto v_memo = check_cookie(keys, option, address, now, memoized, &memo);
    CAPTURE(i);
    REQUIRE(v_plain == v_memo);
    REQUIRE(plain == memoized);
    if (seen.size() < 64) {
      seen.emplace_back(plain.begin(), plain.end());
    } else {
      seen[rng() % seen.size()].assign(plain.begin(), plain.end());
    }
    hits += v_plain == cookie_verdict::valid ? 1 : 0;
  }
  CHECK(hits > 200);  // the valid path was exercised, not only the others
}

TEST_CASE("the cookie memo: a repeated client gets its cookie back; a rotation is not fooled") {
  cookie_memo memo;
  const auto address = address_of("198.51.100.100");
  const auto cc = from_hex("2464c4abcf10c957");
  const std::uint32_t now = 1559731985;
  std::array<std::uint8_t, 24> first{};
  std::array<std::uint8_t, 24> again{};
  CHECK(check_cookie({key_of(secret_a)}, cc, address, now, first, &memo) ==
        cookie_verdict::client_only);
  CHECK(to_hex(first) == "2464c4abcf10c957010000005cf79f111f8130c3eee29480");  // RFC 9018 A.1
  CHECK(check_cookie({key_of(secret_a)}, cc, address, now, again, &memo) ==
        cookie_verdict::client_only);
  CHECK(first == again);
  // Known to the memo under secret A; under another secret it is not ours.
  CHECK(check_cookie({key_of(secret_a)}, first, address, now, again, &memo) ==
        cookie_verdict::valid);
  CHECK(check_cookie({key_of(secret_new)}, first, address, now, again, &memo) ==
        cookie_verdict::invalid);
  CHECK(to_hex(again).substr(16, 8) == "01000000");
  CHECK(again != first);  // made with the new secret
  // From another address: not ours either.
  CHECK(check_cookie({key_of(secret_a)}, first, address_of("198.51.100.101"), now, again, &memo) ==
        cookie_verdict::invalid);
}
