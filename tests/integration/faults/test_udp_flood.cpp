// A UDP flood of garbage from loopback against the real loadns-server while normal queries
// run: random bytes, headers with QR set, compression loops, NOTIMP opcodes, datagrams over
// the largest query. The server must keep answering the good queries and its memory must
// stay bounded (VmHWM, the peak resident set).

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "tests/integration/faults/fault_support.hpp"

namespace {

using namespace loadns::test;
using namespace loadns::test::faults;

/// One garbage datagram of a kind picked by `rng`.
std::vector<std::uint8_t> garbage(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::uint8_t> d;
  switch (rng() % 6) {
    case 0: {  // random bytes, 1..300
      d.resize(1 + rng() % 300);
      for (auto& b : d) b = static_cast<std::uint8_t>(byte(rng));
      break;
    }
    case 1: {  // a response (QR set): must be dropped, never answered (no reflection loops)
      query_spec q;
      q.qr = true;
      q.id = static_cast<std::uint16_t>(rng());
      d = make_query(q);
      break;
    }
    case 2: {  // a question whose name is a compression pointer to itself
      d = {0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
           0x00, 0x00, 0x00, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01};
      break;
    }
    case 3: {  // opcode 5 (UPDATE): NOTIMP
      query_spec q;
      q.opcode = 5;
      q.id = static_cast<std::uint16_t>(rng());
      d = make_query(q);
      break;
    }
    case 4: {  // shorter than a header
      d.resize(rng() % 12);
      for (auto& b : d) b = static_cast<std::uint8_t>(byte(rng));
      break;
    }
    default: {  // over the largest query the server reads (4096): truncated, dropped
      d.resize(5000);
      for (auto& b : d) b = static_cast<std::uint8_t>(byte(rng));
      break;
    }
  }
  return d;
}

struct flood_result {
  std::uint64_t sent = 0;
  double seconds = 0;
};

/// Sends up to `max_datagrams` garbage datagrams to 127.0.0.1:port in sendmmsg batches, for at
/// most `max_time`, from 8 source sockets (so SO_REUSEPORT spreads them over the workers).
flood_result flood(std::uint16_t port, std::uint64_t max_datagrams,
                   std::chrono::milliseconds max_time) {
  std::mt19937_64 rng(7);
  constexpr std::size_t pool_size = 512;
  std::vector<std::vector<std::uint8_t>> pool;
  for (std::size_t i = 0; i < pool_size; ++i) pool.push_back(garbage(rng));

  std::array<int, 8> socks{};
  for (auto& s : socks) {
    s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(s >= 0);
    const int small = 4096;  // the answers it provokes are not read: keep them few
    ::setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  constexpr std::size_t batch = 64;
  std::array<mmsghdr, batch> msgs{};
  std::array<iovec, batch> iov{};
  flood_result r;
  const auto t0 = steady::now();
  const auto until = t0 + max_time;
  std::size_t next = 0;
  std::uint64_t round = 0;
  while (r.sent < max_datagrams && steady::now() < until) {
    for (std::size_t i = 0; i < batch; ++i) {
      auto& d = pool[(next + i) % pool_size];
      iov[i] = {d.data(), d.size()};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_name = &to;
      msgs[i].msg_hdr.msg_namelen = sizeof to;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    next += batch;
    const int n = ::sendmmsg(socks[round++ % socks.size()], msgs.data(), batch, 0);
    if (n > 0) r.sent += static_cast<std::uint64_t>(n);
  }
  r.seconds = seconds_since(t0);
  for (int s : socks) ::close(s);
  return r;
}

}  // namespace

TEST_CASE("a garbage UDP flood: good queries keep being answered and memory stays bounded") {
  pg_cluster pg;
  pg.create_loadns_database();
  pg.psql(seed_sql);
  server_process server(server_options_for(pg.conninfo("loadns", "server")));
  const auto mport = server.metrics_port();

  // Warm up (every code path touched once) before taking the baseline.
  for (int i = 0; i < 50; ++i) {
    REQUIRE(addresses(server.port(), "api.example.com").has_value());
  }
  const auto hwm_before = peak_rss_kb(server.pid());
  const auto dropped_before = metric(mport, "loadns_queries_dropped_total").value_or(0);
  const auto formerr_before =
      metric(mport, "loadns_queries_total{transport=\"udp\",rcode=\"FORMERR\"").value_or(0);

  query_load udp_load(server.port(), "api.example.com", transport::udp, 2ms, 1000ms);
  query_load tcp_load(server.port(), "api.example.com", transport::tcp, 20ms, 1000ms);
  REQUIRE(eventually(5s, [&] { return udp_load.counts().answered > 10; }));
  const auto udp_start = udp_load.counts();
  const auto tcp_start = tcp_load.counts();
  udp_load.reset_gap();

  const auto f = flood(server.port(), 1'000'000, 5s);

  const auto udp = udp_load.counts() - udp_start;
  const auto tcp = tcp_load.counts() - tcp_start;
  const auto gap = udp_load.counts().longest_gap;
  udp_load.stop();
  tcp_load.stop();
  const auto hwm_after = peak_rss_kb(server.pid());
  const auto rss_after = rss_kb(server.pid());
  const auto dropped = metric(mport, "loadns_queries_dropped_total").value_or(0) - dropped_before;
  const auto formerr =
      metric(mport, "loadns_queries_total{transport=\"udp\",rcode=\"FORMERR\"").value_or(0) -
      formerr_before;

  std::printf("UDP garbage flood: %llu datagrams in %.2f s (%.0f/s) from 8 sockets\n",
              static_cast<unsigned long long>(f.sent), f.seconds,
              static_cast<double>(f.sent) / f.seconds);
  std::printf(
      "  good UDP queries during the flood: %llu of %llu answered (%.2f%%), longest gap "
      "%lld ms; good TCP queries: %llu of %llu answered\n",
      static_cast<unsigned long long>(udp.answered), static_cast<unsigned long long>(udp.sent),
      udp.sent ? 100.0 * static_cast<double>(udp.answered) / static_cast<double>(udp.sent) : 0.0,
      static_cast<long long>(gap.count()), static_cast<unsigned long long>(tcp.answered),
      static_cast<unsigned long long>(tcp.sent));
  std::printf(
      "  server counted %.0f dropped and %.0f FORMERR (the rest lost in the kernel "
      "queue or answered NOTIMP)\n",
      dropped, formerr);
  std::printf("  server VmHWM %llu kB before, %llu kB after (VmRSS now %llu kB)\n",
              static_cast<unsigned long long>(hwm_before),
              static_cast<unsigned long long>(hwm_after),
              static_cast<unsigned long long>(rss_after));

  CHECK(f.sent >= 100'000);
  CHECK(udp.sent >= 200);
  // The flood shares two cores with the server, the sender and this client, and a datagram
  // can be lost in a full kernel queue: nearly all, not all, good UDP queries must be answered.
  CHECK(static_cast<double>(udp.answered) >= 0.95 * static_cast<double>(udp.sent));
  CHECK(tcp.failed == 0);
  CHECK(dropped > 10'000);
  // Buffers are allocated once per worker: a flood must not grow the server.
  CHECK(hwm_after <= hwm_before + 16 * 1024);
  CHECK(server.running());
  REQUIRE(addresses(server.port(), "api.example.com").has_value());
}
