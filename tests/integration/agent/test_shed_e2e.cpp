// Rebalancing end to end: two backends (real agents with --shed destroy, a real
// loadns-server), 40 long-lived connections all on the first; the service rebalances, so the
// first backend's reports return a shed count, its agent closes that many of its newest
// connections with SOCK_DESTROY, and the closed clients reconnect through fresh nonce names,
// landing on the emptier backend until both hold their share.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/health_world.hpp"
#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"

using namespace std::chrono_literals;
using namespace loadns::test::agent;
using loadns::test::eventually;
using loadns::test::tcp_listener;

namespace {

struct client {
  int fd = -1;        // the client's end
  int accepted = -1;  // the backend's end
  std::string ip;
};

client connect_to(const tcp_listener& l) {
  client c;
  c.ip = l.ip();
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto e = loadns::test::endpoint::make(l.ip(), l.port());
  REQUIRE(::connect(c.fd, e.addr(), e.len) == 0);
  c.accepted = ::accept4(l.fd(), nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(c.accepted >= 0);
  return c;
}

bool was_reset(const client& c) {
  pollfd p{c.fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char b = 0;
  const ssize_t n = ::recv(c.fd, &b, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

// The address a fresh nonce name resolves to ("" when none).
std::string resolve(std::uint16_t port, int serial) {
  loadns::test::query_spec q;
  q.id = static_cast<std::uint16_t>(serial);
  q.name = "r" + std::to_string(serial) + "-api.example.com";
  const auto reply = loadns::test::udp_exchange(port, loadns::test::make_query(q), 1s);
  if (!reply || reply->size() < 16) return {};
  const auto h = loadns::test::parse_header(*reply);
  if (!h || h->rcode != 0 || h->ancount < 1) return {};
  const auto* a = reply->data() + reply->size() - 4;
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

}  // namespace

// Known flaky (issue #18 stays open): in about one run of two the backends converge to 20 / 20
// and then a few more connections are closed, with the second backend told to shed once. The
// failure is reported, not fatal, until the shed computation's view of a just-drained peer is
// fixed.
TEST_CASE("--shed destroy: closed clients reconnect through DNS and the two backends converge" *
          doctest::may_fail()) {
  world w;
  w.db.pg.psql("UPDATE loadns.services SET rebalance = true, shed_rate = 50");
  tcp_listener a("127.0.0.41");
  tcp_listener b("127.0.0.42");
  std::map<std::string, const tcp_listener*> by_ip{{a.ip(), &a}, {b.ip(), &b}};
  std::vector<client> clients;
  for (int i = 0; i < 40; ++i) clients.push_back(connect_to(a));
  agent_process agent_a(
      w.agent("s1", a.ip(), a.port(),
              {"--local-address", a.ip(), "--interval", "1s", "--shed", "destroy"}));
  agent_process agent_b(
      w.agent("s2", b.ip(), b.port(),
              {"--local-address", b.ip(), "--interval", "1s", "--shed", "destroy"}));

  const auto t0 = steady::now();
  int closed = 0;
  int serial = 0;
  std::map<std::string, int> held;
  const bool converged = eventually(
      30s,
      [&] {
        for (auto& c : clients) {
          if (!was_reset(c)) continue;
          ++closed;
          ::close(c.fd);
          ::close(c.accepted);
          const std::string ip = resolve(w.server->port(), ++serial);
          REQUIRE_MESSAGE(by_ip.count(ip) == 1, "resolved to '" << ip << "'");
          c = connect_to(*by_ip[ip]);
        }
        held.clear();
        for (const auto& c : clients) ++held[c.ip];
        return held[a.ip()] <= 21 && held[b.ip()] >= 19;
      },
      50ms);
  const double seconds = std::chrono::duration<double>(steady::now() - t0).count();
  MESSAGE("40 connections on " << a.ip() << ", none on " << b.ip() << ": after " << seconds << " s "
                               << held[a.ip()] << " / " << held[b.ip()] << ", " << closed
                               << " closed and reconnected (20 needed)");
  CHECK_MESSAGE(converged, agent_a.log() << agent_b.log());
  // Converged means settled: two more reports of each agent close (almost) nothing more.
  const auto settle = steady::now() + 2500ms;
  int closed_after = 0;
  while (steady::now() < settle) {
    for (const auto& c : clients) closed_after += was_reset(c) ? 1 : 0;
    std::this_thread::sleep_for(100ms);
  }
  MESSAGE(closed_after << " more closed in the 2.5 s after");
  CHECK(closed_after <= 2);
  CHECK(closed <= 22);  // at most 1.1x the minimum
  CHECK(agent_a.log().find("closed") != std::string::npos);
  CHECK(agent_b.log().find("shed") == std::string::npos);  // below its share: never told to
  for (auto& c : clients) ::close(c.fd), ::close(c.accepted);
}
