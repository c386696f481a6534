// Rebalancing end to end: two backends (real agents with --shed destroy, a real
// loadns-server), 100 long-lived connections all on the first; the service rebalances, so the
// first backend's reports return a shed count, its agent closes that many of its newest
// connections with SOCK_DESTROY, and the closed clients reconnect through fresh nonce names,
// landing on the emptier backend until both hold their share. No backend at or below its
// share is ever told to shed: not the first once it is down to its share (the clients it
// closed count in the service's total while they are on their way, migrations/0009), and
// never the second.

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/agent/agent_harness.hpp"
#include "tests/integration/agent/health_world.hpp"
#include "tests/integration/agent/loopback_load.hpp"
#include "tests/support/dns_client.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/server_process.hpp"

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

// The counts a backend's agent was asked to shed, from its log, in order.
std::vector<long> shed_requests(const std::string& log) {
  static const std::regex line("report asks to shed ([0-9]+) connections");
  std::vector<long> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stol((*it)[1].str()));
  }
  return out;
}

long sum(const std::vector<long>& v) {
  long s = 0;
  for (const long x : v) s += x;
  return s;
}

// The server's gauge of backends in state `serving` (-1 when unreadable).
int serving_backends(std::uint16_t metrics_port) {
  const auto r = loadns::test::http_get(metrics_port, "/metrics");
  if (!r || r->status != 200) return -1;
  static const std::regex gauge(R"re(loadns_backends\{state="serving"\} ([0-9]+))re");
  std::smatch m;
  return std::regex_search(r->body, m, gauge) ? std::stoi(m[1].str()) : -1;
}

}  // namespace

TEST_CASE("--shed destroy: closed clients reconnect through DNS and the two backends converge") {
  constexpr int total = 100;
  constexpr int share = total / 2;
  world w;
  tcp_listener a("127.0.0.41");
  tcp_listener b("127.0.0.42");
  std::map<std::string, const tcp_listener*> by_ip{{a.ip(), &a}, {b.ip(), &b}};
  std::vector<client> clients;
  for (int i = 0; i < total; ++i) clients.push_back(connect_to(a));
  agent_process agent_a(
      w.agent("s1", a.ip(), a.port(),
              {"--local-address", a.ip(), "--interval", "1s", "--shed", "destroy"}));
  // The second backend reports every 3 s: when the first reports again, 1 s after its shed,
  // the second's last report usually predates the clients that moved to it (the case in
  // which 0007 told the first to shed again, down to 25).
  agent_process agent_b(
      w.agent("s2", b.ip(), b.port(),
              {"--local-address", b.ip(), "--interval", "3s", "--shed", "destroy"}));
  // Rebalancing starts once the server answers with both backends (else the first clients
  // closed would come straight back to the first). shed_rate 100 lets one report of the
  // first backend (about 1 s after its previous one) ask for all 50 at once.
  REQUIRE_MESSAGE(eventually(20s, [&] { return serving_backends(w.server->metrics_port()) == 2; }),
                  w.server->log_tail() << agent_a.log() << agent_b.log());
  w.db.pg.psql("UPDATE loadns.services SET rebalance = true, shed_rate = 100");

  const auto t0 = steady::now();
  int closed = 0;
  int serial = 0;
  std::map<std::string, int> held;
  // Reconnects every closed client through a fresh name, as a client of loadns does.
  auto reconnect_closed = [&] {
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
  };
  const bool converged = eventually(
      30s,
      [&] {
        reconnect_closed();
        return held[a.ip()] <= share + 2 && held[b.ip()] >= share - 2;
      },
      50ms);
  const double seconds = std::chrono::duration<double>(steady::now() - t0).count();
  MESSAGE(total << " connections on " << a.ip() << ", none on " << b.ip() << ": after " << seconds
                << " s " << held[a.ip()] << " / " << held[b.ip()] << ", " << closed
                << " closed and reconnected (" << share << " needed)");
  REQUIRE_MESSAGE(converged, agent_a.log() << agent_b.log());

  // Converged means settled: both agents report again, the first at least twice, more than
  // 1.5 s after convergence (the database's clock) while the clients keep reconnecting;
  // nothing more is asked of either.
  const std::string settled_sql = "SELECT count(*) FROM loadns.backends WHERE reported_at > '" +
                                  w.db.pg.psql("SELECT now()") +
                                  "'::timestamptz + interval '1.5 s'";
  const int closed_at_convergence = closed;
  CHECK(eventually(
      20s,
      [&] {
        reconnect_closed();
        return w.db.pg.psql(settled_sql) == "2";
      },
      50ms));
  reconnect_closed();
  const auto asked_a = shed_requests(agent_a.log());
  const auto asked_b = shed_requests(agent_b.log());
  const int closed_after = closed - closed_at_convergence;
  MESSAGE(closed_after << " more closed while both reported again; the first backend was asked "
                       << "to shed " << sum(asked_a) << " in " << asked_a.size()
                       << " reports, the second " << sum(asked_b));
  // The first backend was asked only while above its share: no more than the excess, with
  // one connection of slack for a client that resolved before the answers moved on.
  CHECK(sum(asked_a) <= share + 1);
  CHECK(closed <= share + 1);
  CHECK(held[a.ip()] <= share + 2);
  // The second never held more than its share: never asked.
  CHECK_MESSAGE(asked_b.empty(), agent_b.log());
  for (auto& c : clients) ::close(c.fd), ::close(c.accepted);
}
