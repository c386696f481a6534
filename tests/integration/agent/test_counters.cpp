// The agent's counters against the real kernel: real loopback connections, counted by netlink
// sock_diag and by /proc/net/tcp{,6}, each equal to what `ss` reports.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "agent/count/connection_counter.hpp"
#include "agent/count/netlink_counter.hpp"
#include "agent/count/proc_counter.hpp"
#include "tests/integration/agent/loopback_load.hpp"

using namespace loadns::agent;
using loadns::test::connection_set;
using loadns::test::ss_established;
using loadns::test::tcp_listener;

namespace {

socket_filter filter_for(std::vector<std::uint16_t> ports, const std::string& local = {}) {
  socket_filter f{std::move(ports), std::nullopt};
  if (!local.empty()) f.local_address = ip_address::parse(local);
  return f;
}

// Both methods and ss agree on `expected`. Neither a netlink dump nor /proc/net/tcp is an
// atomic snapshot: both walk the socket hash in chunks and resume by position in a bucket, so
// sockets that other processes open or close meanwhile can shift a socket of ours into a
// chunk twice or not at all. Our sockets hold still; a count is retried (up to 3 times) when
// churn elsewhere on this shared machine made it miss.
template <typename Counter>
count_result steady_count(Counter& counter, std::uint64_t expected) {
  count_result r = counter.count();
  for (int retry = 0; retry < 2 && r && r.established != expected; ++retry) {
    MESSAGE("count ", r.established, " instead of ", expected, " by ", to_string(r.method),
            ": retried");
    r = counter.count();
  }
  return r;
}

void check_count(const socket_filter& f, std::uint64_t expected, long ss) {
  CAPTURE(expected);
  CHECK(ss == static_cast<long>(expected));
  netlink_counter nl(f);
  const count_result n = steady_count(nl, expected);
  REQUIRE_MESSAGE(n, n.error.message());
  CHECK(n.method == count_method::netlink);
  CHECK(n.established == expected);
  CHECK(nl.kernel_filter());  // the kernel accepted the bytecode
  CHECK(nl.single_dump());    // and the one dump for both families

  netlink_counter per_family(f);
  per_family.use_per_family_dumps();
  const count_result pf = steady_count(per_family, expected);
  REQUIRE_MESSAGE(pf, pf.error.message());
  CHECK(pf.established == expected);
  CHECK(per_family.kernel_filter());

  proc_counter pc(f);
  const count_result p = steady_count(pc, expected);
  REQUIRE_MESSAGE(p, p.error.message());
  CHECK(p.method == count_method::proc);
  CHECK(p.established == expected);
}

std::vector<std::string> v4_sources() {
  std::vector<std::string> s;
  for (int i = 10; i < 18; ++i) s.push_back("127.0.0." + std::to_string(i));
  return s;
}

}  // namespace

TEST_CASE("counts equal ss for 0 and 1 and 1000 connections over IPv4 and IPv6") {
  for (const std::string ip : {"127.0.0.1", "::1"}) {
    CAPTURE(ip);
    tcp_listener l(ip);
    connection_set conns(l);
    const auto f = filter_for({l.port()});
    for (const std::size_t n : {0U, 1U, 1000U}) {
      CAPTURE(n);
      conns.open(n - conns.size());
      check_count(f, n, ss_established(l.port()));
    }
    conns.close(400);
    check_count(f, 600, ss_established(l.port()));
  }
}

TEST_CASE("counts equal ss at 20000 connections over IPv4 and IPv6") {
  // 40,000 descriptors (both ends) live in child processes: see connection_set.
  for (const std::string ip : {"127.0.0.1", "::1"}) {
    CAPTURE(ip);
    tcp_listener l(ip);
    connection_set conns(l, {}, ip == "::1" ? std::vector<std::string>{} : v4_sources());
    conns.open(20'000);
    check_count(filter_for({l.port()}), 20'000, ss_established(l.port()));
    // The kernel filter: the dump carries only our sockets, not the 20,000 client ends.
    netlink_counter nl(filter_for({l.port()}));
    const count_result r = nl.count();
    CHECK(r.examined == 20'000);
  }
}

TEST_CASE("connections to another port or another local address are not counted") {
  tcp_listener a("127.0.0.2");
  tcp_listener b("127.0.0.3", a.port());  // same port, other address
  tcp_listener c("127.0.0.2");            // same address, other port
  connection_set to_a(a), to_b(b), to_c(c);
  to_a.open(5);
  to_b.open(7);
  to_c.open(3);
  const std::uint16_t p = a.port();

  check_count(filter_for({p}), 12, ss_established(p));
  check_count(filter_for({p}, "127.0.0.2"), 5, ss_established(p, "127.0.0.2"));
  check_count(filter_for({p}, "127.0.0.3"), 7, ss_established(p, "127.0.0.3"));
  check_count(filter_for({c.port()}), 3, ss_established(c.port()));
  check_count(filter_for({p, c.port()}, "127.0.0.2"), 8,
              ss_established(p, "127.0.0.2") + ss_established(c.port(), "127.0.0.2"));
  check_count(filter_for({p}, "127.0.0.4"), 0, ss_established(p, "127.0.0.4"));
  check_count(filter_for({p}, "::1"), 0, 0);

  // Netlink examined only what the kernel filter let through; /proc reads every socket.
  netlink_counter nl(filter_for({p}, "127.0.0.2"));
  CHECK(nl.count().examined == 5);
  proc_counter pc(filter_for({p}, "127.0.0.2"));
  CHECK(pc.count().examined >= 30);
}

TEST_CASE("a dual-stack listener: IPv4-mapped connections count and match an IPv4 address") {
  tcp_listener l("::");
  connection_set v4(l, "127.0.0.1"), v6(l, "::1");
  v4.open(4);
  v6.open(3);
  check_count(filter_for({l.port()}), 7, ss_established(l.port()));
  check_count(filter_for({l.port()}, "127.0.0.1"), 4, ss_established(l.port(), "127.0.0.1"));
  check_count(filter_for({l.port()}, "::ffff:127.0.0.1"), 4, 4);
  check_count(filter_for({l.port()}, "::1"), 3, ss_established(l.port(), "::1"));
}

TEST_CASE("the automatic counter uses netlink and the forced ones their method") {
  tcp_listener l("127.0.0.1");
  connection_set conns(l);
  conns.open(3);
  const auto f = filter_for({l.port()});
  connection_counter automatic(f, counter_mode::automatic);
  const auto a = automatic.count();
  CHECK(a.method == count_method::netlink);
  CHECK(a.established == 3);
  connection_counter proc(f, counter_mode::proc);
  const auto p = proc.count();
  CHECK(p.method == count_method::proc);
  CHECK(p.established == 3);
}

TEST_CASE("a missing /proc folder is an error and not a zero") {
  proc_counter pc(filter_for({80}), "/nonexistent/proc/net");
  const auto r = pc.count();
  CHECK_FALSE(r);
  CHECK(r.error == std::errc::no_such_file_or_directory);
}
