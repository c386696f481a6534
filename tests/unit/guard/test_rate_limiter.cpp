#include "server/guard/rate_limiter.hpp"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/guard/server_cookie.hpp"
#include "server/guard/source_counter.hpp"
#include "tests/support/allocation_counter.hpp"

using namespace loadns::guard;

namespace {

constexpr siphash_key test_key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr std::uint64_t second = 1'000'000;

using addr4 = std::array<std::uint8_t, 4>;
using addr6 = std::array<std::uint8_t, 16>;

const std::vector<std::uint8_t> www = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
const std::vector<std::uint8_t> WWW = {3, 'W', 'w', 'W', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0};
const std::vector<std::uint8_t> mail = {4,   'm', 'a', 'i', 'l', 7,   'e',
                                        'x', 'a', 'm', 'p', 'l', 'e', 0};

int allowed_of(rate_limiter& rl, std::span<const std::uint8_t> a, const response_class& c, int n,
               std::uint64_t at) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += rl.allow(a, c, at) ? 1 : 0;
  return allowed;
}

}  // namespace

TEST_CASE("a burst gets `rate` responses, then one more per 1/rate seconds") {
  rate_limiter rl(20, 1024, test_key);
  const addr4 a{192, 0, 2, 1};
  const response_class c{0, www};
  const std::uint64_t t0 = 1000 * second;
  CHECK(allowed_of(rl, a, c, 1000, t0) == 20);
  CHECK(allowed_of(rl, a, c, 10, t0 + second / 20 - 1) == 0);
  CHECK(allowed_of(rl, a, c, 10, t0 + second / 20) == 1);
  CHECK(allowed_of(rl, a, c, 1000, t0 + second / 2) == 9);  // 0.45 s more: 9 tokens
  // Idle for a long time: a full burst again, never more.
  CHECK(allowed_of(rl, a, c, 1000, t0 + 100 * second) == 20);
}

TEST_CASE("one second of a steady flood yields at most rate + burst responses") {
  rate_limiter rl(50, 1024, test_key);
  const addr4 a{192, 0, 2, 1};
  const response_class c{0, www};
  int allowed = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) allowed += rl.allow(a, c, 5 * second + i * 1000) ? 1 : 0;
  CHECK(allowed >= 50 + 49);
  CHECK(allowed <= 50 + 50);
}

TEST_CASE("buckets: per /24 and /56, per rcode and name, names compared without case") {
  rate_limiter rl(5, 4096, test_key);
  const std::uint64_t t = 77 * second;
  const addr4 a{192, 0, 2, 1}, same24{192, 0, 2, 200}, other24{192, 0, 3, 1};
  const response_class c{0, www};
  CHECK(allowed_of(rl, a, c, 100, t) == 5);
  CHECK(allowed_of(rl, same24, c, 100, t) == 0);  // the same /24 shares the bucket
  CHECK(allowed_of(rl, same24, response_class{0, WWW}, 100, t) == 0);
  CHECK(allowed_of(rl, same24, response_class{0, www, true}, 100, t) == 0);  // known lower case
  CHECK(allowed_of(rl, other24, c, 100, t) == 5);
  CHECK(allowed_of(rl, a, response_class{0, mail}, 100, t) == 5);
  CHECK(allowed_of(rl, a, response_class{3, www}, 100, t) == 5);  // NXDOMAIN apart from NOERROR

  addr6 v6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01};
  addr6 v6_same56 = v6, v6_other56 = v6;
  v6_same56[15] = 9;
  v6_same56[7] = 0xff;
  v6_other56[6] = 1;
  CHECK(allowed_of(rl, v6, c, 100, t) == 5);
  CHECK(allowed_of(rl, v6_same56, c, 100, t) == 0);
  CHECK(allowed_of(rl, v6_other56, c, 100, t) == 5);
}

TEST_CASE("a spoofed-source flood does not free a limited bucket, and memory stays fixed") {
  rate_limiter rl(10, 1 << 12, test_key);
  const addr4 victim{198, 51, 100, 7};
  const response_class c{0, www};
  std::uint64_t t = 10 * second;
  CHECK(allowed_of(rl, victim, c, 100, t) == 10);
  // 100,000 other networks in the same 100 ms, 25 times the table's slots.
  std::mt19937 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const auto r = rng();
    const addr4 spoofed{static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8),
                        static_cast<std::uint8_t>(r >> 16), 1};
    rl.allow(spoofed, c, t + static_cast<std::uint64_t>(i));
  }
  // The victim's bucket, deep in debt, was the one kept: still empty 100 ms later (a lost
  // bucket would give a full burst again).
  CHECK(allowed_of(rl, victim, c, 100, t + second / 10) <= 1);
  CHECK(rl.slots() == 4096);
}

TEST_CASE("threads share the buckets: two threads together get one burst") {
  rate_limiter rl(1000, 1024, test_key);
  const addr4 a{192, 0, 2, 1};
  const response_class c{0, www};
  std::atomic<int> total{0};
  auto run = [&] { total += allowed_of(rl, a, c, 5000, 3 * second); };
  std::thread t1(run), t2(run);
  t1.join();
  t2.join();
  CHECK(total.load() == 1000);
}

TEST_CASE("every slip-th refused response slips out truncated") {
  slip_counter two(2), one(1), none(0);
  std::string pattern;
  for (int i = 0; i < 6; ++i) pattern += two.slip() ? 'T' : '-';
  CHECK(pattern == "-T-T-T");
  CHECK(one.slip());
  CHECK(one.slip());
  CHECK_FALSE(none.slip());
}

TEST_CASE("the network of an address: /24, /56") {
  const addr4 a{192, 0, 2, 77}, b{192, 0, 2, 1}, c{192, 0, 3, 77};
  CHECK(network_of(a) == network_of(b));
  CHECK_FALSE(network_of(a) == network_of(c));
  addr6 x{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  addr6 y = x;
  y[7] = 0;
  y[15] = 0;
  CHECK(network_of(x) == network_of(y));
  y[6] = 0;
  CHECK_FALSE(network_of(x) == network_of(y));
}

TEST_CASE("the per-packet calls allocate nothing: rate limiting and cookie checks") {
  rate_limiter rl(100, 1024, test_key);
  const cookie_keys keys{test_key, test_key, true};
  const addr4 a{192, 0, 2, 1};
  std::array<std::uint8_t, 24> reply{};
  std::array<std::uint8_t, 24> option{1, 2, 3, 4, 5, 6, 7, 8};
  slip_counter slip(2);
  const std::size_t before = loadns::test::allocations();
  for (int i = 0; i < 1000; ++i) {
    if (!rl.allow(a, response_class{0, www}, static_cast<std::uint64_t>(i))) slip.slip();
    check_cookie(keys, std::span(option).first(8), a, 1559731985, reply);
    check_cookie(keys, option, a, 1559731985, reply);
    std::copy(reply.begin(), reply.end(), option.begin());
  }
  CHECK(loadns::test::allocations() == before);
}

TEST_CASE("connections per source network: capped per /24, released, other networks apart") {
  source_counter counts(3, 1 << 16, test_key);
  const addr4 a{192, 0, 2, 1}, b{192, 0, 2, 99}, other{192, 0, 3, 1};
  std::vector<std::ptrdiff_t> held;
  for (int i = 0; i < 3; ++i) held.push_back(counts.acquire(i % 2 == 0 ? a : b));
  for (auto h : held) CHECK(h >= 0);
  CHECK(counts.acquire(a) < 0);  // the /24 is at its cap
  CHECK(counts.acquire(b) < 0);
  CHECK(counts.acquire(other) >= 0);
  CHECK(counts.count(a) == 3);
  counts.release(held.back());
  CHECK(counts.count(a) == 2);
  CHECK(counts.acquire(b) >= 0);
}
