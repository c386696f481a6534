// DNS over TCP (RFC 7766): pipelined queries on one connection, answered in any order and
// matched by id (6.2.1.1), and several queries from dig on a kept-open connection.

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/server/environment.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::dig_args;
using loadns::test::make_query;
using loadns::test::parse_header;
using loadns::test::query_spec;
using loadns::test::tcp_client;
using loadns::test::transport;
using loadns::test::e2e::port;
namespace rcode = loadns::test::rcode;
namespace rr_type = loadns::test::rr_type;

}  // namespace

TEST_CASE("three pipelined queries in one write get three answers, matched by id") {
  struct expectation {
    std::string name;
    std::uint16_t type;
    std::uint8_t rcode;
    std::uint16_t ancount;
  };
  const std::map<std::uint16_t, expectation> queries{
      {0x0a01, {"k3j9x.api.example.com", rr_type::a, rcode::noerror, 1}},
      {0x0a02, {"nothere.example.com", rr_type::a, rcode::nxdomain, 0}},
      {0x0a03, {"big.example.com", rr_type::a, rcode::noerror, 40}},
  };
  for (int round = 0; round < 3; ++round) {  // the connection stays usable for more
    INFO("round ", round);
    tcp_client c(port());
    std::vector<std::uint8_t> wire;
    for (const auto& [id, e] : queries) {
      query_spec q;
      q.id = static_cast<std::uint16_t>(id + round * 0x100);
      q.name = e.name;
      q.type = e.type;
      const auto msg = make_query(q);
      wire.push_back(static_cast<std::uint8_t>(msg.size() >> 8));
      wire.push_back(static_cast<std::uint8_t>(msg.size() & 0xff));
      wire.insert(wire.end(), msg.begin(), msg.end());
    }
    REQUIRE(c.send_raw(wire));
    std::set<std::uint16_t> seen;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      const auto reply = c.read_message(2s);
      REQUIRE_MESSAGE(reply.has_value(), "answer ", i + 1, " of ", queries.size(), " missing");
      const auto h = parse_header(*reply);
      REQUIRE(h.has_value());
      const auto base = static_cast<std::uint16_t>(h->id - round * 0x100);
      REQUIRE_MESSAGE(queries.count(base) == 1, "unexpected id ", h->id);
      CHECK(seen.insert(h->id).second);
      const auto& e = queries.at(base);
      INFO(e.name);
      CHECK(h->rcode == e.rcode);
      CHECK(h->ancount == e.ancount);
      CHECK(h->aa);
      CHECK(!h->tc);
    }
  }
}

TEST_CASE("a query split across many small writes is answered") {
  tcp_client c(port());
  query_spec q;
  q.id = 0x0b01;
  q.name = "www.example.com";
  const auto msg = make_query(q);
  std::vector<std::uint8_t> wire{static_cast<std::uint8_t>(msg.size() >> 8),
                                 static_cast<std::uint8_t>(msg.size() & 0xff)};
  wire.insert(wire.end(), msg.begin(), msg.end());
  for (std::uint8_t b : wire) {
    REQUIRE(c.send_raw(std::vector<std::uint8_t>{b}));
    std::this_thread::sleep_for(2ms);
  }
  const auto reply = c.read_message(2s);
  REQUIRE(reply.has_value());
  const auto h = parse_header(*reply);
  REQUIRE(h.has_value());
  CHECK(h->id == 0x0b01);
  CHECK(h->rcode == rcode::noerror);
  CHECK(h->ancount == 1);
}

TEST_CASE("dig +keepopen sends several queries on one TCP connection") {
  const auto r = dig_args(port(), transport::tcp,
                          {"+keepopen", "api.example.com", "A", "www.example.com", "AAAA",
                           "txt.example.com", "TXT", "nothere.example.com", "A"});
  REQUIRE_MESSAGE(r.responses.size() == 4, r.output);
  r.responses[0].check_rcode("NOERROR");
  CHECK(r.responses[0].answer.size() == 1);
  r.responses[1].check_rcode("NOERROR");
  CHECK(r.responses[1].answer_data("AAAA") == std::vector<std::string>{"2001:db8::80"});
  r.responses[2].check_rcode("NOERROR");
  CHECK(r.responses[2].answer_data("TXT") == std::vector<std::string>{"\"hello world\""});
  r.responses[3].check_rcode("NXDOMAIN");
}

TEST_CASE("a silent TCP connection is closed by the server (RFC 7766 6.2.3)") {
  tcp_client silent(port());
  const auto t0 = std::chrono::steady_clock::now();
  // read_message returns at EOF (closed) or at its deadline.
  while (!silent.closed() && std::chrono::steady_clock::now() - t0 < 30s) {
    CHECK_FALSE(silent.read_message(1s).has_value());
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  CHECK_MESSAGE(silent.closed(), "an idle connection was still open after 30 s");
  MESSAGE("idle TCP connection closed by the server after ", took.count(), " ms");
}
