// Response rate limiting against the real loadns-server, from real sockets on loopback:
// 127.0.1.x and 127.0.2.x are different /24s, so one can flood while the other asks normally;
// a client holding a valid server cookie is exempt (RFC 7873 5.2.5); datagrams from port 0 are
// dropped.

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "tests/integration/guard/guard_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::guard;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr unsigned rate = 20;

struct tally {
  int full = 0;       ///< NOERROR with the answer
  int truncated = 0;  ///< TC set, no answer (slipped)
  int other = 0;
};

/// Reads replies until `quiet_ms` pass without one.
tally collect(udp_socket& s, int quiet_ms = 500) {
  tally t;
  while (auto r = s.receive(quiet_ms)) {
    const auto h = parse_header(*r);
    if (!h) continue;
    if (h->tc && h->ancount == 0) {
      ++t.truncated;
    } else if (h->rcode == rcode::noerror && h->ancount == 1 && !h->tc) {
      ++t.full;
    } else {
      ++t.other;
    }
  }
  return t;
}

std::vector<std::uint8_t> www_query(std::uint16_t id) {
  query_spec q;
  q.name = "www.example.com";
  q.id = id;
  return make_query(q);
}

}  // namespace

TEST_CASE(
    "a thousand identical queries from one /24 get the rate plus slipped TC while another /24 gets "
    "all") {
  world w({"--rrl-rate", std::to_string(rate), "--rrl-slip", "2"});
  udp_socket flood("127.0.1.10");
  udp_socket neighbour("127.0.2.10");

  const auto t0 = steady::now();
  int sent = 0, neighbour_sent = 0;
  for (int i = 0; i < 1000; ++i) {
    sent += flood.send_to(w.port(), www_query(static_cast<std::uint16_t>(i))) ? 1 : 0;
    // The other network asks at half the rate limit's burst, in the same instant.
    if (i % 100 == 0) {
      neighbour_sent +=
          neighbour.send_to(w.port(), www_query(static_cast<std::uint16_t>(i))) ? 1 : 0;
    }
  }
  const double elapsed = std::chrono::duration<double>(steady::now() - t0).count();
  const tally f = collect(flood);
  const tally n = collect(neighbour, 200);
  std::printf(
      "rrl: %d queries in %.3f s from 127.0.1.10 at --rrl-rate %u --rrl-slip 2: "
      "%d answered, %d truncated (slipped), %d unanswered; 127.0.2.10: %d of %d "
      "answered in full\n",
      sent, elapsed, rate, f.full, f.truncated, sent - f.full - f.truncated - f.other, n.full,
      neighbour_sent);
  REQUIRE(sent == 1000);
  REQUIRE(elapsed < 1.0);
  // A bucket of `rate` tokens refilled at `rate` per second.
  CHECK(f.full >= static_cast<int>(rate));
  CHECK(f.full <= static_cast<int>(rate + std::ceil(rate * elapsed)));
  CHECK(f.other == 0);
  // Every second withheld response slips out truncated.
  const int withheld = sent - f.full;
  CHECK(std::abs(f.truncated - withheld / 2) <= 2);
  CHECK(n.full == neighbour_sent);
  CHECK(n.truncated == 0);

  CHECK(w.metric("loadns_rrl_limited_total{action=\"slipped\"}") == f.truncated);
  CHECK(w.metric("loadns_rrl_limited_total{action=\"dropped\"}") == withheld - f.truncated);
}

TEST_CASE(
    "a valid server cookie exempts its client from the limit but a client cookie alone does not") {
  world w({"--rrl-rate", std::to_string(rate), "--rrl-slip", "2"});
  udp_socket with_cookie("127.0.3.10");
  udp_socket client_only("127.0.4.10");
  const std::vector<std::uint8_t> cc{1, 2, 3, 4, 5, 6, 7, 8};

  // Learn the server cookie (RFC 7873 5.3): one query with the client cookie alone.
  REQUIRE(with_cookie.send_to(w.port(), query_with_cookie("www.example.com", 1, cc)));
  const auto first = with_cookie.receive(2000);
  REQUIRE(first);
  const auto full = response_cookie(*first);
  REQUIRE(full.size() == 24);
  CHECK(std::equal(cc.begin(), cc.end(), full.begin()));

  for (int i = 0; i < 300; ++i) {
    with_cookie.send_to(w.port(),
                        query_with_cookie("www.example.com", static_cast<std::uint16_t>(i), full));
    client_only.send_to(w.port(),
                        query_with_cookie("www.example.com", static_cast<std::uint16_t>(i), cc));
  }
  const tally v = collect(with_cookie);
  const tally c = collect(client_only, 200);
  std::printf(
      "rrl: 300 queries each: valid server cookie %d answered, %d truncated; client "
      "cookie alone %d answered, %d truncated\n",
      v.full, v.truncated, c.full, c.truncated);
  CHECK(v.full == 300);
  CHECK(v.truncated == 0);
  CHECK(c.full <= static_cast<int>(2 * rate));
  CHECK(c.truncated > 100);
  CHECK(w.metric("loadns_cookies_total{outcome=\"valid\"}") == 300);
}

TEST_CASE("without --rrl-rate nothing is limited") {
  world w({});
  udp_socket s("127.0.5.10");
  for (int i = 0; i < 300; ++i) s.send_to(w.port(), www_query(static_cast<std::uint16_t>(i)));
  const tally t = collect(s);
  CHECK(t.full == 300);
  CHECK(w.metric("loadns_rrl_limited_total") == 0);
}

TEST_CASE("a datagram from source port 0 is dropped") {
  if (::geteuid() != 0) {
    MESSAGE("not root: cannot send from port 0 (a raw socket is needed); skipped");
    return;
  }
  world w({});
  const double before = w.metric("loadns_queries_dropped_total{transport=\"udp\"}");
  const auto q = www_query(7);
  // IPv4 + UDP by hand: the kernel lets no ordinary socket send from port 0.
  std::vector<std::uint8_t> packet(sizeof(iphdr) + sizeof(udphdr) + q.size());
  auto* ip = reinterpret_cast<iphdr*>(packet.data());  // NOLINT: raw packet layout
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = IPPROTO_UDP;
  ip->tot_len = htons(static_cast<std::uint16_t>(packet.size()));
  ip->saddr = htonl(0x7f000a0a);  // 127.0.10.10
  ip->daddr = htonl(INADDR_LOOPBACK);
  auto* udp = reinterpret_cast<udphdr*>(packet.data() + sizeof(iphdr));  // NOLINT
  udp->source = 0;
  udp->dest = htons(w.port());
  udp->len = htons(static_cast<std::uint16_t>(sizeof(udphdr) + q.size()));
  udp->check = 0;  // none: allowed over IPv4 (RFC 768)
  std::copy(q.begin(), q.end(), packet.begin() + sizeof(iphdr) + sizeof(udphdr));
  const int raw = ::socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  REQUIRE(raw >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(::sendto(raw, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof to) ==  // NOLINT: sockaddr API
        static_cast<ssize_t>(packet.size()));
  ::close(raw);
  CHECK(eventually(5s, [&] {
    return w.metric("loadns_queries_dropped_total{transport=\"udp\"}") == before + 1;
  }));
}
