// The answering rules of docs/answering.md, end to end: dig against the real server reading a
// real PostgreSQL, each case over UDP and over TCP.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/server/environment.hpp"

namespace {

using loadns::test::both_transports;
using loadns::test::dig;
using loadns::test::dig_record;
using loadns::test::dig_response;
using loadns::test::to_string;
using loadns::test::e2e::port;

std::string lower(std::string s) {
  for (auto& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

const std::set<std::string> api_addresses{"192.0.2.10", "192.0.2.11"};

/// Every header and section property an authoritative answer for `qname` shares.
void check_authoritative(const dig_response& r, const std::string& qname,
                         const std::string& qtype) {
  CHECK_MESSAGE(r.flag("qr"), r.text);
  CHECK_MESSAGE(r.flag("aa"), r.text);
  CHECK_MESSAGE(!r.flag("ra"), r.text);  // never recursive
  CHECK_MESSAGE(!r.flag("tc"), r.text);
  REQUIRE_MESSAGE(r.question.size() == 1, r.text);
  CHECK_MESSAGE(r.question[0].name == qname, r.text);  // echoed byte for byte (0x20)
  CHECK(r.question[0].type == qtype);
  CHECK(r.question[0].rclass == "IN");
}

/// NODATA or NXDOMAIN: the zone's SOA alone in authority with TTL min(SOA ttl, minimum).
void check_negative(const dig_response& r, const std::string& zone, std::uint32_t ttl) {
  CHECK_MESSAGE(r.answer.empty(), r.text);
  REQUIRE_MESSAGE(r.authority.size() == 1, r.text);
  CHECK(r.authority[0].type == "SOA");
  CHECK(lower(r.authority[0].name) == zone);  // may carry the query's case, compressed
  CHECK_MESSAGE(r.authority[0].ttl == ttl, "RFC 2308 3: negative TTL\n" << r.text);
}

/// A single A answer owned by exactly `qname` with an address of api.example.com.
void check_api_answer(const std::string& qname) {
  for (auto t : both_transports) {
    INFO(to_string(t), " ", qname);
    const auto r = dig(port(), t, qname, "A").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, qname + ".", "A");
    REQUIRE_MESSAGE(r.answer.size() == 1, r.text);
    CHECK(r.answer[0].name == qname + ".");
    CHECK(r.answer[0].type == "A");
    CHECK(r.answer[0].ttl == 60);
    CHECK_MESSAGE(api_addresses.count(r.answer[0].data) == 1, r.text);
    CHECK(r.authority.empty());
  }
}

void check_nxdomain(const std::string& qname, const std::string& qtype = "A") {
  for (auto t : both_transports) {
    INFO(to_string(t), " ", qname, " ", qtype);
    const auto r = dig(port(), t, qname, qtype).response();
    r.check_rcode("NXDOMAIN");
    check_authoritative(r, qname + ".", qtype);
    check_negative(r, "example.com.", 300);
  }
}

void check_nodata(const std::string& qname, const std::string& qtype,
                  const std::string& zone = "example.com.", std::uint32_t ttl = 300) {
  for (auto t : both_transports) {
    INFO(to_string(t), " ", qname, " ", qtype);
    const auto r = dig(port(), t, qname, qtype).response();
    r.check_rcode("NOERROR");
    check_authoritative(r, qname + ".", qtype);
    check_negative(r, zone, ttl);
  }
}

std::set<std::string> data_set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("a name under no zone is REFUSED without AA") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "www.google.com", "A").response();
    r.check_rcode("REFUSED");
    CHECK_MESSAGE(!r.flag("aa"), r.text);
    CHECK(!r.flag("ra"));
    CHECK(r.answer.empty());
    CHECK(r.authority.empty());
    // A parent of a zone is outside it too.
    dig(port(), t, "com", "SOA").response().check_rcode("REFUSED");
    // Not a suffix match on characters: "example.com" does not contain "badexample.com".
    dig(port(), t, "api.badexample.com", "A").response().check_rcode("REFUSED");
  }
}

TEST_CASE("the service name is answered, its case echoed in question and answer (0x20)") {
  check_api_answer("api.example.com");
  check_api_answer("aPi.ExAmPLE.coM");
  check_api_answer("API.EXAMPLE.COM");
}

TEST_CASE("a dash nonce before the first label is answered: 1596207957-api.example.com") {
  check_api_answer("1596207957-api.example.com");
  check_api_answer("K3J9X-Api.Example.COM");
  check_api_answer("a_b-c-api.example.com");  // '_' and '-' are nonce characters
}

TEST_CASE("a nonce label before the service is answered: k3j9x.api.example.com") {
  check_api_answer("k3j9x.api.example.com");
  check_api_answer("K3j9X.aPi.example.com");
  check_api_answer("a_b-c.api.example.com");
  check_api_answer("1.api.example.com");                        // 1 character
  check_api_answer(std::string(48, 'n') + ".api.example.com");  // 48 characters
  check_api_answer(std::string(48, '7') + "-api.example.com");
}

TEST_CASE("names that only look like a service are NXDOMAIN") {
  check_nxdomain("evilapi.example.com");
  check_nxdomain("x.y.api.example.com");
  check_nxdomain("-api.example.com");                         // empty nonce
  check_nxdomain(std::string(49, 'n') + ".api.example.com");  // nonce too long
  check_nxdomain(std::string(49, '7') + "-api.example.com");
  check_nxdomain("k3j9x.api.example.com.example.com");
  check_nxdomain("k3!9x.api.example.com");  // '!' is not a nonce character
  check_nxdomain("api-k3j9x.example.com");  // the nonce goes before, not after
}

TEST_CASE("a service with accept_nonce = false answers only its own name") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "strict.example.com", "A").response();
    r.check_rcode("NOERROR");
    CHECK(r.answer_data("A") == std::vector<std::string>{"192.0.2.40"});
  }
  check_nxdomain("k3j9x.strict.example.com");
  check_nxdomain("1596207957-strict.example.com");
}

TEST_CASE("A and AAAA at a dual-stack service answer the matching family") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto a = dig(port(), t, "k3j9x.dual.example.com", "A").response();
    a.check_rcode("NOERROR");
    check_authoritative(a, "k3j9x.dual.example.com.", "A");
    CHECK(a.answer_data("A") == std::vector<std::string>{"192.0.2.20"});
    REQUIRE(a.answer.size() == 1);
    CHECK(a.answer[0].ttl == 30);  // the service's ttl
    const auto aaaa = dig(port(), t, "k3j9x.dual.example.com", "AAAA").response();
    aaaa.check_rcode("NOERROR");
    check_authoritative(aaaa, "k3j9x.dual.example.com.", "AAAA");
    CHECK_MESSAGE(aaaa.answer_data("AAAA") == std::vector<std::string>{"2001:db8::20"}, aaaa.text);
  }
}

TEST_CASE("AAAA at an IPv4-only service is NODATA with the SOA, TTL min(SOA ttl, minimum)") {
  check_nodata("api.example.com", "AAAA");
  check_nodata("1596207957-api.example.com", "AAAA");
  check_nodata("k3j9x.api.example.com", "AAAA");
  // example.net: ttl 120 < minimum 600.
  check_nodata("api.example.net", "AAAA", "example.net.", 120);
}

TEST_CASE("other types at a service are NODATA") {
  check_nodata("api.example.com", "TXT");
  check_nodata("api.example.com", "MX");
  check_nodata("k3j9x.api.example.com", "CNAME");
}

TEST_CASE("answers carries up to `answers` records, all of the service") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "k3j9x.big.example.com", "A").response();
    r.check_rcode("NOERROR");
    CHECK_MESSAGE(r.answer.size() == 40, r.text);
    std::set<std::string> distinct;
    for (const auto& rec : r.answer) {
      CHECK(rec.name == "k3j9x.big.example.com.");
      distinct.insert(rec.data);
    }
    CHECK_MESSAGE(distinct.size() == r.answer.size(), "no backend twice in one answer\n" << r.text);
  }
}

TEST_CASE("SOA at the apex") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "ExAmple.COM", "SOA").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, "ExAmple.COM.", "SOA");
    REQUIRE_MESSAGE(r.answer.size() == 1, r.text);
    CHECK(r.answer[0].name == "ExAmple.COM.");
    CHECK(r.answer[0].ttl == 3600);
    // "mname rname serial refresh retry expire minimum"
    std::vector<std::string> f;
    for (std::size_t i = 0, j; i < r.answer[0].data.size(); i = j + 1) {
      j = r.answer[0].data.find(' ', i);
      if (j == std::string::npos) j = r.answer[0].data.size();
      f.push_back(r.answer[0].data.substr(i, j - i));
    }
    REQUIRE_MESSAGE(f.size() == 7, r.text);
    CHECK(f[0] == "ns1.example.com.");
    CHECK(f[1] == "hostmaster.example.com.");
    CHECK(std::stoul(f[2]) > 0);  // serial
    CHECK(f[3] == "7200");
    CHECK(f[4] == "3600");
    CHECK(f[5] == "1209600");
    CHECK(f[6] == "300");
  }
}

TEST_CASE("NS at the apex, with glue for in-zone nameservers") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "example.com", "NS").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, "example.com.", "NS");
    const std::set<std::string> ns_set{"ns1.example.com.", "ns2.example.com."};
    CHECK_MESSAGE(data_set(r.answer_data("NS")) == ns_set, r.text);
    for (const auto& rec : r.answer) CHECK(rec.ttl == 3600);
    std::set<std::string> glue;
    for (const auto& rec : r.additional) glue.insert(rec.name + " " + rec.type + " " + rec.data);
    CHECK_MESSAGE(glue.count("ns1.example.com. A 192.0.2.53") == 1, r.text);
    CHECK_MESSAGE(glue.count("ns1.example.com. AAAA 2001:db8::53") == 1, r.text);
    CHECK_MESSAGE(glue.count("ns2.example.com. A 192.0.2.54") == 1, r.text);
  }
}

TEST_CASE("static A, AAAA, TXT and MX records") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    auto r = dig(port(), t, "WWW.example.com", "A").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, "WWW.example.com.", "A");
    REQUIRE_MESSAGE(r.answer.size() == 1, r.text);
    CHECK(r.answer[0].name == "WWW.example.com.");
    CHECK(r.answer[0].ttl == 120);
    CHECK(r.answer[0].data == "192.0.2.80");

    r = dig(port(), t, "www.example.com", "AAAA").response();
    r.check_rcode("NOERROR");
    CHECK_MESSAGE(r.answer_data("AAAA") == std::vector<std::string>{"2001:db8::80"}, r.text);

    r = dig(port(), t, "txt.example.com", "TXT").response();
    r.check_rcode("NOERROR");
    CHECK_MESSAGE(r.answer_data("TXT") == std::vector<std::string>{"\"hello world\""}, r.text);

    r = dig(port(), t, "example.com", "MX").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, "example.com.", "MX");
    CHECK_MESSAGE(r.answer_data("MX") == std::vector<std::string>{"10 mail.example.com."}, r.text);

    r = dig(port(), t, "ns1.example.com", "A").response();  // glue is an ordinary name too
    r.check_rcode("NOERROR");
    CHECK(r.answer_data("A") == std::vector<std::string>{"192.0.2.53"});
  }
  check_nodata("www.example.com", "MX");
  check_nodata("txt.example.com", "A");
  check_nodata("example.com", "TXT");
  check_nodata("example.com", "A");
}

TEST_CASE("a CNAME is in the answer, followed by its in-zone target (RFC 1034 4.3.2)") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    auto r = dig(port(), t, "Alias.example.com", "A").response();
    r.check_rcode("NOERROR");
    check_authoritative(r, "Alias.example.com.", "A");
    REQUIRE_MESSAGE(r.answer.size() >= 1, r.text);
    CHECK(r.answer[0].name == "Alias.example.com.");
    CHECK(r.answer[0].type == "CNAME");
    CHECK(r.answer[0].data == "www.example.com.");
    CHECK_MESSAGE(r.answer_data("A") == std::vector<std::string>{"192.0.2.80"}, r.text);

    r = dig(port(), t, "alias.example.com", "CNAME").response();
    r.check_rcode("NOERROR");
    REQUIRE_MESSAGE(r.answer.size() == 1, r.text);
    CHECK(r.answer[0].type == "CNAME");
  }
}

TEST_CASE("an empty non-terminal is NODATA, not NXDOMAIN (RFC 8020)") {
  check_nodata("eu.example.com", "A");  // api.eu.example.com is a service
  check_nodata("EU.example.com", "AAAA");
  check_nodata("lab.example.com", "A");  // host.lab.example.com is a record
  // And the service below it still answers.
  for (auto t : both_transports) {
    INFO(to_string(t));
    const auto r = dig(port(), t, "k3j9x.api.eu.example.com", "A").response();
    r.check_rcode("NOERROR");
    CHECK(r.answer_data("A") == std::vector<std::string>{"192.0.2.30"});
  }
}

TEST_CASE("an unknown name in a zone is NXDOMAIN with the SOA") {
  check_nxdomain("nothere.example.com");
  check_nxdomain("NotHere.Example.Com", "AAAA");
  check_nxdomain("sub.www.example.com");
  check_nxdomain("a.b.c.lab.example.com", "TXT");
  for (auto t : both_transports) {  // example.net's negative TTL is its SOA ttl, 120
    INFO(to_string(t));
    const auto r = dig(port(), t, "nothere.example.net", "A").response();
    r.check_rcode("NXDOMAIN");
    check_negative(r, "example.net.", 120);
  }
}

TEST_CASE("ANY gets a minimal answer (RFC 8482)") {
  for (auto t : both_transports) {
    for (const std::string name : {"example.com", "www.example.com", "k3j9x.api.example.com"}) {
      INFO(to_string(t), " ", name);
      const auto r = dig(port(), t, name, "ANY").response();
      r.check_rcode("NOERROR");
      check_authoritative(r, std::string(name) + ".", "ANY");
      REQUIRE_MESSAGE(!r.answer.empty(), r.text);
      // One RRset: every answer record has the same owner and type.
      for (const auto& rec : r.answer) {
        CHECK_MESSAGE(rec.type == r.answer[0].type, r.text);
        CHECK(rec.name == r.answer[0].name);
      }
    }
    INFO(to_string(t));
    dig(port(), t, "nothere.example.com", "ANY").response().check_rcode("NXDOMAIN");
  }
}

TEST_CASE("RD is copied and RA is never set") {
  for (auto t : both_transports) {
    for (const std::string name : {"api.example.com", "nothere.example.com", "www.google.com"}) {
      INFO(to_string(t), " ", name);
      const auto rec = dig(port(), t, name, "A", {"+rec"}).response();
      CHECK_MESSAGE(rec.flag("rd"), rec.text);
      CHECK_MESSAGE(!rec.flag("ra"), rec.text);
      const auto norec = dig(port(), t, name, "A", {"+norec"}).response();
      CHECK_MESSAGE(!norec.flag("rd"), norec.text);
      CHECK_MESSAGE(!norec.flag("ra"), norec.text);
    }
  }
}
