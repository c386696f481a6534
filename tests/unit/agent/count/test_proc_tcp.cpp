#include "agent/count/proc_tcp.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace loadns::agent;

// Lines as Linux 6.x prints them (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c
// get_tcp6_sock), captured on a little-endian host.
namespace {

const char* const tcp4 =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode                                                     \n"
    "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "31234 1 0000000000000000 100 0 0 10 0                      \n"
    "   1: 0100007F:1F90 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000     0        0 "
    "31240 1 0000000000000000 20 4 30 10 -1                     \n"
    "   2: 0100007F:D3A2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 "
    "31239 1 0000000000000000 20 4 30 10 -1                     \n"
    "   3: 0200007F:1F90 0100007F:D3A4 01 00000000:00000000 00:00000000 00000000     0        0 "
    "31241 1 0000000000000000 20 4 30 10 -1                     \n"
    "   4: 0100007F:1F90 0100007F:D3A6 06 00000000:00000000 03:00001771 00000000     0        0 "
    "0 3 0000000000000000                                       \n"
    "1024: 0100007F:1F90 0100007F:D3A8 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "31250 1 0000000000000000 20 4 30 10 -1                     \n";

const char* const tcp6 =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E0A2 01 "
    "00000000:00000000 00:00000000 00000000     0        0 40001 1 0000000000000000 20 4 31 10 -1\n"
    "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:E0A4 01 "
    "00000000:00000000 00:00000000 00000000     0        0 40002 1 0000000000000000 20 4 31 10 -1\n"
    "   2: B80D0120000000000000000005000000:01BB 00000000000000000000000001000000:E0A6 01 "
    "00000000:00000000 00:00000000 00000000     0        0 40003 1 0000000000000000 20 4 31 10 "
    "-1\n";

}  // namespace

TEST_CASE("one IPv4 line: address bytes in network order with port and state") {
  const auto e = parse_proc_tcp_line(
      "   1: 0200007F:1F90 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000     0   0 7",
      ip_family::v4);
  REQUIRE(e);
  CHECK(e->local[0] == 127);
  CHECK(e->local[1] == 0);
  CHECK(e->local[2] == 0);
  CHECK(e->local[3] == 2);
  CHECK(e->local_port == 8080);
  CHECK(e->state == 1);
}

TEST_CASE("one IPv6 line") {
  const auto e = parse_proc_tcp_line(
      "   2: B80D0120000000000000000005000000:01BB 00000000000000000000000001000000:E0A6 0A x",
      ip_family::v6);
  REQUIRE(e);
  CHECK(e->local == ip_address::parse("2001:db8::5")->bytes);
  CHECK(e->local_port == 443);
  CHECK(e->state == 0x0A);
}

TEST_CASE("header and malformed lines are not sockets") {
  CHECK_FALSE(parse_proc_tcp_line(
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when", ip_family::v4));
  for (const char* bad :
       {"", "   0:", "   0: 0100007F:1F90", "   0: 0100007F:1F9 0100007F:D3A2 01",
        "   0: 0100007G:1F90 0100007F:D3A2 01", "x: 0100007F:1F90 0100007F:D3A2 01",
        "   0: 0100007F:1F90 0100007F:D3A2 1", "   0: 0100007F:1F90 0100007F:D3A2 012",
        "   0 0100007F:1F90 0100007F:D3A2 01"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_proc_tcp_line(bad, ip_family::v4));
  }
  // An IPv4-length address in the IPv6 file is malformed.
  CHECK_FALSE(parse_proc_tcp_line("   0: 0100007F:1F90 0100007F:D3A2 01", ip_family::v6));
}

TEST_CASE(
    "counting /proc/net/tcp: ESTABLISHED on the port and not LISTEN or TIME_WAIT or clients") {
  proc_tcp_counts c;
  count_proc_tcp_lines(tcp4, ip_family::v4, {{8080}, std::nullopt}, c);
  CHECK(c.sockets == 6);
  CHECK(c.malformed == 0);
  CHECK(c.matched == 3);  // lines 1, 3 and 1024

  proc_tcp_counts by_address;
  count_proc_tcp_lines(tcp4, ip_family::v4, {{8080}, ip_address::parse("127.0.0.2")}, by_address);
  CHECK(by_address.matched == 1);

  proc_tcp_counts client_port;
  count_proc_tcp_lines(tcp4, ip_family::v4, {{0xD3A2}, std::nullopt}, client_port);
  CHECK(client_port.matched == 1);
}

TEST_CASE("counting /proc/net/tcp6 with IPv4-mapped sockets") {
  proc_tcp_counts all;
  count_proc_tcp_lines(tcp6, ip_family::v6, {{8080}, std::nullopt}, all);
  CHECK(all.sockets == 3);
  CHECK(all.matched == 2);

  proc_tcp_counts mapped;
  count_proc_tcp_lines(tcp6, ip_family::v6, {{8080}, ip_address::parse("127.0.0.1")}, mapped);
  CHECK(mapped.matched == 1);

  proc_tcp_counts v6;
  count_proc_tcp_lines(tcp6, ip_family::v6, {{443, 8080}, ip_address::parse("2001:db8::5")}, v6);
  CHECK(v6.matched == 1);
}

TEST_CASE("text split anywhere into whole lines counts the same") {
  const std::string text = tcp4;
  for (std::size_t cut = 0; cut < text.size(); ++cut) {
    if (cut != 0 && text[cut - 1] != '\n') continue;
    proc_tcp_counts c;
    count_proc_tcp_lines(std::string_view(text).substr(0, cut), ip_family::v4, {{8080}, {}}, c);
    count_proc_tcp_lines(std::string_view(text).substr(cut), ip_family::v4, {{8080}, {}}, c);
    CHECK(c.matched == 3);
    CHECK(c.malformed == 0);
  }
}

TEST_CASE("a garbage line is counted as malformed") {
  proc_tcp_counts c;
  count_proc_tcp_lines("  sl  local_address\nnot a socket line\n\n", ip_family::v4, {{80}, {}}, c);
  CHECK(c.malformed == 1);
  CHECK(c.sockets == 0);
}
