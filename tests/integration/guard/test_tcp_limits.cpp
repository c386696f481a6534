// Per-source TCP limits against the real loadns-server from real sockets on loopback:
// --tcp-max-per-source per client /24 (127.0.6.x and 127.0.7.x are different networks), the
// deadline of a begun but unfinished query frame (--tcp-frame-timeout), and eviction at
// --tcp-max-connections that takes a session stalled inside a frame before an idle one.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "tests/integration/guard/guard_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::guard;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A blocking TCP connection from `from` to 127.0.0.1:port; -1 when it failed.
int connect_from(const char* from, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, from, &a.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||       // NOLINT: sockaddr API
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {  // NOLINT
    ::close(fd);
    return -1;
  }
  return fd;
}

/// True when the server has closed `fd` (EOF or reset) within `wait`.
bool closed_within(int fd, std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
  char c = 0;
  return ::recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

std::vector<std::uint8_t> framed_query(std::uint16_t id) {
  query_spec q;
  q.name = "www.example.com";
  q.id = id;
  auto m = make_query(q);
  std::vector<std::uint8_t> f(m.size() + 2);
  f[0] = static_cast<std::uint8_t>(m.size() >> 8);
  f[1] = static_cast<std::uint8_t>(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) f[i + 2] = m[i];
  return f;
}

/// Sends a whole framed query on `fd` and reads the answer's rcode; -1 without an answer.
int ask(int fd, std::uint16_t id) {
  const auto f = framed_query(id);
  if (::send(fd, f.data(), f.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(f.size())) return -1;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 2000) <= 0) return -1;
  std::uint8_t buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 2 + 12) return -1;
  return buf[2 + 3] & 0x0f;
}

}  // namespace

TEST_CASE("--tcp-max-per-source: one /24 is capped while another network is answered") {
  world w({"--tcp-max-per-source", "5", "--tcp-idle-timeout", "30s"});
  std::vector<int> held;
  for (int i = 0; i < 5; ++i) {
    const std::string from = "127.0.6." + std::to_string(10 + i);
    held.push_back(connect_from(from.c_str(), w.port()));
    REQUIRE(held.back() >= 0);
  }
  REQUIRE(eventually(5s, [&] { return w.metric("loadns_tcp_connections") == 5; }));
  // A sixth from the same /24: accepted by the kernel, closed by the server at once.
  const int sixth = connect_from("127.0.6.99", w.port());
  REQUIRE(sixth >= 0);
  CHECK(closed_within(sixth, 2000ms));
  CHECK(w.metric("loadns_tcp_source_rejected_total") == 1);
  // Another /24 is answered; so is each of the five held ones.
  const int other = connect_from("127.0.7.10", w.port());
  REQUIRE(other >= 0);
  CHECK(ask(other, 1) == rcode::noerror);
  for (int fd : held) CHECK(ask(fd, 2) == rcode::noerror);
  // A slot given back is usable again by the capped network.
  ::close(held.back());
  held.pop_back();
  REQUIRE(eventually(5s, [&] { return w.metric("loadns_tcp_connections") == 5; }));
  const int again = connect_from("127.0.6.98", w.port());
  CHECK(ask(again, 3) == rcode::noerror);
  std::printf(
      "tcp per source: cap 5 per /24; the sixth from 127.0.6.0/24 closed at once, "
      "127.0.7.10 answered\n");
  for (int fd : held) ::close(fd);
  ::close(sixth);
  ::close(other);
  ::close(again);
}

TEST_CASE("--tcp-frame-timeout: a begun query must complete in time; an idle connection may wait") {
  world w({"--tcp-frame-timeout", "500ms", "--tcp-idle-timeout", "10s"});
  const int idle = connect_from("127.0.8.10", w.port());
  const int stalled = connect_from("127.0.8.11", w.port());
  const int trickle = connect_from("127.0.8.12", w.port());
  REQUIRE(idle >= 0);
  REQUIRE(stalled >= 0);
  REQUIRE(trickle >= 0);
  const auto f = framed_query(7);
  const auto t0 = steady::now();
  REQUIRE(::send(stalled, f.data(), 2, MSG_NOSIGNAL) == 2);  // the length prefix only
  // One byte every 100 ms: busy, but the frame is not done at 500 ms.
  bool trickle_closed = false;
  double trickle_after = 0;
  for (std::size_t i = 0; i < f.size() && !trickle_closed; ++i) {
    if (::send(trickle, f.data() + i, 1, MSG_NOSIGNAL) != 1 || closed_within(trickle, 100ms)) {
      trickle_closed = true;
      trickle_after = std::chrono::duration<double>(steady::now() - t0).count();
    }
  }
  CHECK(trickle_closed);
  CHECK(closed_within(stalled, 2000ms));
  const double stalled_after = std::chrono::duration<double>(steady::now() - t0).count();
  CHECK(stalled_after < 1.5);
  CHECK(trickle_after < 1.5);
  // The idle connection (no frame begun) is still open and answered.
  CHECK_FALSE(closed_within(idle, 0ms));
  CHECK(ask(idle, 8) == rcode::noerror);
  CHECK(w.metric("loadns_tcp_frame_timeouts_total") == 2);
  std::printf(
      "tcp frame deadline 500 ms: prefix-only closed after %.2f s, 1 byte/100 ms "
      "closed after %.2f s, idle connection kept and answered\n",
      stalled_after, trickle_after);
  ::close(idle);
  ::close(stalled);
  ::close(trickle);
}

TEST_CASE(
    "at --tcp-max-connections a session stalled inside a frame is evicted before an idle one") {
  world w({"--tcp-max-connections", "4", "--tcp-frame-timeout", "2s", "--tcp-idle-timeout", "30s"},
          1);
  const auto f = framed_query(9);
  std::vector<int> idle, stalled;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(connect_from("127.0.9.10", w.port()));
    stalled.push_back(connect_from("127.0.9.11", w.port()));
    REQUIRE(::send(stalled.back(), f.data(), 3, MSG_NOSIGNAL) == 3);
  }
  REQUIRE(eventually(5s, [&] { return w.metric("loadns_tcp_connections") == 4; }));
  // Past a quarter of the frame deadline the stalled ones are fair game.
  std::this_thread::sleep_for(600ms);  // the condition is the passage of time itself
  const int newcomer = connect_from("127.0.9.12", w.port());
  CHECK(ask(newcomer, 10) == rcode::noerror);
  int stalled_closed = 0, idle_closed = 0;
  for (int fd : stalled) stalled_closed += closed_within(fd, 200ms) ? 1 : 0;
  for (int fd : idle) idle_closed += closed_within(fd, 0ms) ? 1 : 0;
  CHECK(stalled_closed == 1);
  CHECK(idle_closed == 0);
  CHECK(w.metric("loadns_tcp_evicted_total") == 1);
  for (int fd : idle) ::close(fd);
  for (int fd : stalled) ::close(fd);
  ::close(newcomer);
}

TEST_CASE("the metrics endpoint closes a connection after 100 requests") {
  world w({});
  const int fd = connect_from("127.0.0.1", w.server->metrics_port());
  REQUIRE(fd >= 0);
  std::string requests;
  for (int i = 0; i < 150; ++i) requests += "GET /healthz HTTP/1.1\r\nHost: loadns\r\n\r\n";
  REQUIRE(::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(requests.size()));
  std::string got;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  CHECK(faults::occurrences(got, "HTTP/1.1 200") == 100);
}

TEST_CASE("the metrics endpoint closes a connection idle 5 s after a request, or silent 10 s") {
  world w({});
  using clock = std::chrono::steady_clock;
  const int silent = connect_from("127.0.0.1", w.server->metrics_port());
  const auto silent_since = clock::now();
  const int asked = connect_from("127.0.0.1", w.server->metrics_port());
  REQUIRE(silent >= 0);
  REQUIRE(asked >= 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: loadns\r\n\r\n";
  REQUIRE(::send(asked, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  while (got.find("HTTP/1.1 200") == std::string::npos) {
    pollfd p{asked, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) > 0);
    const ssize_t n = ::recv(asked, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  const auto answered = clock::now();
  // Kept open while a scraper's next request may come (generous margins: a loaded machine).
  CHECK_FALSE(closed_within(asked, 2000ms));
  CHECK(closed_within(asked, 20000ms));
  const double idle = std::chrono::duration<double>(clock::now() - answered).count();
  CHECK(closed_within(silent, 25000ms));
  const double silence = std::chrono::duration<double>(clock::now() - silent_since).count();
  std::printf(
      "metrics endpoint: closed %.1f s after its answer, a silent connection after %.1f s\n", idle,
      silence);
  CHECK(idle >= 3.0);  // 5 s from when the server read on, less our delay in reading
  CHECK(silence >= 8.0);
  ::close(asked);
  ::close(silent);
}
