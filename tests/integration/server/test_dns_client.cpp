// The test clients themselves (tests/support/dns_client), checked against NSD, a reference
// authoritative server, so that a failing end-to-end case points at loadns and not at them.

#include <ares.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/dns_client.hpp"
#include "tests/support/server_process.hpp"

namespace {

using namespace std::chrono_literals;
using namespace loadns::test;

const char* const golden = R"(
; <<>> DiG 9.18.49-1~deb12u3-Debian <<>> +norec -p 25353 @127.0.0.1 ExAmple.com NS +dnssec
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 21453
;; flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 2

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags: do; MBZ: 0x0040, udp: 1232
;; QUESTION SECTION:
;ExAmple.com.			IN	NS

;; ANSWER SECTION:
ExAmple.com.		3600	IN	NS	ns1.example.com.
ExAmple.com.		3600	IN	NS	ns2.example.com.

;; ADDITIONAL SECTION:
ns1.example.com.	3600	IN	A	192.0.2.53

;; Query time: 0 msec
;; MSG SIZE  rcvd: 136
)";

/// NSD serving example.com on a free loopback port from a temporary folder.
class nsd_instance {
 public:
  nsd_instance() {
    char tmpl[] = "/tmp/loadns-nsd-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    port_ = free_port();
    std::ofstream zone(dir_ / "example.com.zone");
    zone << "$ORIGIN example.com.\n$TTL 3600\n"
            "@ IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300\n"
            "@ IN NS ns1.example.com.\n@ IN NS ns2.example.com.\n"
            "ns1 IN A 192.0.2.53\nns2 IN A 192.0.2.54\n"
            "www 120 IN A 192.0.2.80\nwww 120 IN AAAA 2001:db8::80\n"
            "txt 120 IN TXT \"hello world\"\n";
    for (int i = 1; i <= 40; ++i) zone << "big 60 IN A 192.0.2." << 100 + i << "\n";
    zone.close();
    const auto d = dir_.string();
    std::ofstream conf(dir_ / "nsd.conf");
    conf << "server:\n  ip-address: 127.0.0.1@" << port_ << "\n  username: \"\"\n  chroot: \"\"\n"
         << "  zonesdir: \"" << d << "\"\n  database: \"\"\n  pidfile: \"" << d << "/nsd.pid\"\n"
         << "  xfrdfile: \"" << d << "/xfrd.state\"\n  zonelistfile: \"" << d << "/zone.list\"\n"
         << "  logfile: \"" << d << "/nsd.log\"\n  server-count: 1\n"
         << "remote-control:\n  control-enable: no\n"
         << "zone:\n  name: example.com\n  zonefile: example.com.zone\n";
    conf.close();
    run_command({"/usr/sbin/nsd", "-c", d + "/nsd.conf"}, 10s);
    for (int i = 0; i < 100; ++i) {
      query_spec q;
      q.name = "example.com";
      q.type = rr_type::soa;
      if (udp_exchange(port_, make_query(q), 100ms)) return;
    }
    FAIL("nsd did not come up");
  }
  ~nsd_instance() {
    std::ifstream pid_file(dir_ / "nsd.pid");
    int pid = 0;
    if (pid_file >> pid && pid > 0) ::kill(pid, SIGTERM);
    std::error_code ec;
    for (int i = 0; i < 100 && std::filesystem::exists(dir_ / "nsd.pid", ec); ++i)
      std::this_thread::sleep_for(20ms);
    std::filesystem::remove_all(dir_, ec);
  }
  std::uint16_t port() const { return port_; }

 private:
  std::filesystem::path dir_;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("dig's output is parsed into header, EDNS and sections") {
  const auto all = parse_dig_output(golden);
  REQUIRE(all.size() == 1);
  const auto& r = all[0];
  r.check_rcode("NOERROR");
  CHECK(r.opcode == "QUERY");
  CHECK(r.id == 21453);
  CHECK(r.flags == std::vector<std::string>{"qr", "aa", "rd"});
  CHECK(r.flag("aa"));
  CHECK(!r.flag("ra"));
  CHECK(r.ancount == 2);
  CHECK(r.arcount == 2);
  CHECK(r.edns);
  CHECK(r.edns_version == 0);
  CHECK(r.edns_flag("do"));
  CHECK(r.edns_mbz == "0x0040");
  CHECK(r.edns_udp == 1232);
  REQUIRE(r.question.size() == 1);
  CHECK(r.question[0].name == "ExAmple.com.");
  CHECK(r.question[0].type == "NS");
  REQUIRE(r.answer.size() == 2);
  CHECK(r.answer[1].name == "ExAmple.com.");
  CHECK(r.answer[1].ttl == 3600);
  CHECK(r.answer[1].data == "ns2.example.com.");
  REQUIRE(r.additional.size() == 1);
  CHECK(r.additional[0].data == "192.0.2.53");
  CHECK(r.msg_size == 136);
}

TEST_CASE("the clients agree with NSD over UDP and TCP") {
  if (::access("/usr/sbin/nsd", X_OK) != 0) {
    MESSAGE("no /usr/sbin/nsd: skipped");
    return;
  }
  nsd_instance nsd;
  for (auto t : both_transports) {
    INFO(to_string(t));
    auto r = dig(nsd.port(), t, "WwW.example.com", "A", {"+dnssec"}).response();
    r.check_rcode("NOERROR");
    CHECK(r.flag("aa"));
    CHECK(r.edns_flag("do"));
    REQUIRE(r.question.size() == 1);
    CHECK(r.question[0].name == "WwW.example.com.");
    CHECK(r.answer_data("A") == std::vector<std::string>{"192.0.2.80"});
    r = dig(nsd.port(), t, "txt.example.com", "TXT").response();
    CHECK(r.answer_data("TXT") == std::vector<std::string>{"\"hello world\""});
    r = dig(nsd.port(), t, "nothere.example.com", "A").response();
    r.check_rcode("NXDOMAIN");
    REQUIRE(r.authority.size() == 1);
    CHECK(r.authority[0].ttl == 300);
    dig(nsd.port(), t, "api.example.com", "A", {"+edns=1", "+noednsnegotiation"})
        .response()
        .check_rcode("BADVERS");

    query_spec q;
    q.id = 0x7777;
    q.name = "www.example.com";
    const auto reply = exchange(nsd.port(), t, make_query(q));
    REQUIRE(reply.has_value());
    const auto h = parse_header(*reply);
    REQUIRE(h.has_value());
    CHECK(h->id == 0x7777);
    CHECK(h->aa);
    CHECK(h->ancount == 1);

    const auto c = cares_resolve(nsd.port(), "www.example.com", false, t == transport::tcp);
    CHECK_MESSAGE(c.status == ARES_SUCCESS, c.status_text);
    CHECK(c.addresses == std::vector<std::string>{"192.0.2.80"});
    CHECK(cares_resolve(nsd.port(), "nothere.example.com", false, t == transport::tcp).status ==
          ARES_ENOTFOUND);
    CHECK(
        cares_resolve(nsd.port(), "big.example.com", false, t == transport::tcp).addresses.size() ==
        40);
  }
  const auto tc = dig(nsd.port(), transport::udp, "big.example.com", "A", {"+noedns", "+ignore"});
  CHECK(tc.response().flag("tc"));
  const auto multi = dig_args(nsd.port(), transport::tcp,
                              {"+keepopen", "www.example.com", "A", "txt.example.com", "TXT"});
  CHECK(multi.responses.size() == 2);
}
