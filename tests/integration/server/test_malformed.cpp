// What the server does with packets a resolver would not send: other opcodes, broken
// questions, packets to drop, and a bounded storm of random and mutated packets.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "tests/integration/server/environment.hpp"

namespace {

using namespace std::chrono_literals;
using loadns::test::both_transports;
using loadns::test::exchange;
using loadns::test::header_view;
using loadns::test::make_query;
using loadns::test::parse_header;
using loadns::test::query_spec;
using loadns::test::tcp_client;
using loadns::test::to_string;
using loadns::test::transport;
using loadns::test::udp_exchange;
using loadns::test::e2e::environment;
using loadns::test::e2e::port;
namespace rcode = loadns::test::rcode;
namespace rr_type = loadns::test::rr_type;
using bytes = std::vector<std::uint8_t>;

void set16(bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v & 0xff);
}

/// The server still answers a good query over both transports, and is alive.
void check_still_answering() {
  auto& server = *environment::shared().server;
  INFO(server.log_tail());
  REQUIRE(server.running());
  for (auto t : both_transports) {
    INFO(to_string(t));
    query_spec q;
    q.id = 0x4242;
    q.name = "k3j9x.api.example.com";
    const auto reply = exchange(port(), t, make_query(q), 2s);
    REQUIRE_MESSAGE(reply.has_value(), "no answer to a good query after the abuse");
    const auto h = parse_header(*reply);
    REQUIRE(h.has_value());
    CHECK(h->id == 0x4242);
    CHECK(h->rcode == rcode::noerror);
    CHECK(h->ancount == 1);
  }
}

header_view expect_reply(transport t, const bytes& packet, std::uint16_t id) {
  const auto reply = exchange(port(), t, packet, 2s);
  REQUIRE_MESSAGE(reply.has_value(), "no reply");
  const auto h = parse_header(*reply);
  REQUIRE(h.has_value());
  CHECK(h->id == id);
  CHECK(h->qr);
  CHECK(!h->ra);
  return *h;
}

}  // namespace

TEST_CASE("opcodes other than QUERY get NOTIMP") {
  for (auto t : both_transports) {
    for (int op : {1, 2, 4, 5, 6, 15}) {
      const auto opcode = static_cast<std::uint8_t>(op);
      INFO(to_string(t), " opcode ", op);
      query_spec q;
      q.id = static_cast<std::uint16_t>(0x5000 + opcode);
      q.name = "api.example.com";
      q.opcode = opcode;
      const auto h = expect_reply(t, make_query(q), q.id);
      CHECK(h.rcode == rcode::notimp);
      CHECK(h.opcode == opcode);
      CHECK(h.ancount == 0);
    }
  }
  // dig agrees: +opcode=status.
  for (auto t : both_transports) {
    INFO(to_string(t));
    loadns::test::dig(port(), t, "api.example.com", "A", {"+opcode=status"})
        .response()
        .check_rcode("NOTIMP");
  }
}

TEST_CASE("QDCOUNT other than 1 or a broken question gets FORMERR") {
  for (auto t : both_transports) {
    INFO(to_string(t));
    query_spec q;
    q.name = "api.example.com";

    SUBCASE("QDCOUNT = 2") {
      q.id = 0x6001;
      bytes two = make_query(q);
      const bytes one = two;
      two.insert(two.end(), one.begin() + 12, one.end());  // a second question
      set16(two, 4, 2);
      CHECK(expect_reply(t, two, q.id).rcode == rcode::formerr);
    }
    SUBCASE("QDCOUNT = 0 without a cookie") {
      q.id = 0x6002;
      bytes zero = make_query(q);
      zero.resize(12);
      set16(zero, 4, 0);
      CHECK(expect_reply(t, zero, q.id).rcode == rcode::formerr);
    }
    SUBCASE("QDCOUNT = 1 but the question is cut in the name") {
      q.id = 0x6003;
      bytes cut = make_query(q);
      cut.resize(12 + 6);
      CHECK(expect_reply(t, cut, q.id).rcode == rcode::formerr);
    }
    SUBCASE("QDCOUNT = 1 but the type and class are missing") {
      q.id = 0x6004;
      bytes cut = make_query(q);
      cut.resize(cut.size() - 3);
      CHECK(expect_reply(t, cut, q.id).rcode == rcode::formerr);
    }
    SUBCASE("a compression pointer in the question") {
      q.id = 0x6005;
      bytes p = make_query(q);
      p.resize(12);
      p.insert(p.end(), {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01});
      CHECK(expect_reply(t, p, q.id).rcode == rcode::formerr);
    }
    SUBCASE("a label longer than 63") {
      q.id = 0x6006;
      bytes p = make_query(q);
      p.resize(12);
      p.push_back(64);
      p.insert(p.end(), 64, 'a');
      p.insert(p.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
      CHECK(expect_reply(t, p, q.id).rcode == rcode::formerr);
    }
    SUBCASE("ANCOUNT = 1 with no answer present") {
      q.id = 0x6007;
      bytes p = make_query(q);
      set16(p, 6, 1);
      CHECK(expect_reply(t, p, q.id).rcode == rcode::formerr);
    }
  }
  check_still_answering();
}

TEST_CASE("a packet shorter than a header, or with QR set, gets no reply") {
  SUBCASE("UDP") {
    query_spec q;
    q.name = "api.example.com";
    const bytes good = make_query(q);
    const bytes short_packet(good.begin(), good.begin() + 11);
    CHECK_FALSE(udp_exchange(port(), short_packet, 300ms).has_value());
    CHECK_FALSE(udp_exchange(port(), bytes{}, 300ms).has_value());
    q.qr = true;
    CHECK_FALSE(udp_exchange(port(), make_query(q), 300ms).has_value());
  }
  SUBCASE("TCP") {
    query_spec q;
    q.name = "api.example.com";
    q.qr = true;
    {
      tcp_client c(port());
      REQUIRE(c.send_message(make_query(q)));
      CHECK_FALSE(c.read_message(300ms).has_value());
    }
    {
      tcp_client c(port());
      q.qr = false;
      const bytes good = make_query(q);
      REQUIRE(c.send_message(bytes(good.begin(), good.begin() + 11)));
      CHECK_FALSE(c.read_message(300ms).has_value());
    }
  }
  check_still_answering();
}

TEST_CASE("10,000 random and mutated UDP packets and 300 TCP sessions leave it answering") {
  // LOADNS_FUZZ_SEED replays a failing run.
  const char* seed_env = std::getenv("LOADNS_FUZZ_SEED");
  const auto seed = seed_env != nullptr ? static_cast<std::uint32_t>(std::stoul(seed_env))
                                        : std::random_device{}();
  INFO("seed ", seed);
  MESSAGE("fuzz seed ", seed);
  std::mt19937 rng(seed);
  auto uniform = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };

  // Valid queries to mutate: every kind of name the server knows, with and without EDNS.
  std::vector<bytes> seeds;
  for (const std::string name :
       {"api.example.com", "k3j9x.api.example.com", "1596207957-api.example.com", "example.com",
        "www.example.com", "alias.example.com", "big.example.com", "nothere.example.com",
        "www.google.com", "eu.example.com"}) {
    for (std::uint16_t type :
         {rr_type::a, rr_type::aaaa, rr_type::soa, rr_type::ns, rr_type::any, rr_type::txt}) {
      query_spec q;
      q.name = name;
      q.type = type;
      q.edns = uniform(0, 1) == 1;
      q.do_bit = uniform(0, 1) == 1;
      seeds.push_back(make_query(q));
    }
  }
  auto mutate = [&]() -> bytes {
    bytes p = seeds[uniform(0, seeds.size() - 1)];
    switch (uniform(0, 6)) {
      case 0:  // bit flips
        for (std::size_t n = uniform(1, 8); n > 0; --n)
          p[uniform(0, p.size() - 1)] ^= static_cast<std::uint8_t>(1u << uniform(0, 7));
        break;
      case 1:  // truncation
        p.resize(uniform(0, p.size()));
        break;
      case 2: {  // random bytes of a random length
        p.resize(uniform(0, 700));
        for (auto& b : p) b = static_cast<std::uint8_t>(uniform(0, 255));
        break;
      }
      case 3:  // header counts and flags rewritten
        set16(p, 2 * uniform(1, 5), static_cast<std::uint16_t>(uniform(0, 0xffff)));
        break;
      case 4:  // garbage appended
        for (std::size_t n = uniform(1, 300); n > 0; --n)
          p.push_back(static_cast<std::uint8_t>(uniform(0, 255)));
        break;
      case 5:  // a compression pointer anywhere, pointing anywhere
        if (p.size() > 14) {
          const std::size_t at = uniform(12, p.size() - 2);
          p[at] = static_cast<std::uint8_t>(0xc0 | uniform(0, 0x3f));
          p[at + 1] = static_cast<std::uint8_t>(uniform(0, 255));
        }
        break;
      default:  // a byte overwritten in the question
        if (p.size() > 12)
          p[uniform(12, p.size() - 1)] = static_cast<std::uint8_t>(uniform(0, 255));
        break;
    }
    return p;
  };

  auto& server = *environment::shared().server;
  const auto started = std::chrono::steady_clock::now();
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port());
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::size_t sent = 0;
    std::size_t replies = 0;
    std::uint8_t sink[65536];
    const auto until = started + 60s;
    for (int i = 0; i < 10'000 && std::chrono::steady_clock::now() < until; ++i) {
      const bytes p = mutate();
      if (::sendto(fd, p.data(), p.size(), 0, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) >=
          0)
        ++sent;
      // Drain replies now and then, and give the server a moment every 100 packets, so the
      // storm tests parsing rather than the kernel's receive buffer.
      if (i % 100 == 99) {
        pollfd pfd{fd, POLLIN, 0};
        ::poll(&pfd, 1, 5);
        while (::recv(fd, sink, sizeof sink, 0) > 0) ++replies;
      }
    }
    ::close(fd);
    MESSAGE("UDP: sent ", sent, " packets, drained ", replies, " replies");
    CHECK(sent >= 9'000);
  }
  REQUIRE_MESSAGE(server.running(), server.log_tail());
  check_still_answering();

  // TCP: 300 sessions in batches of 25, each sending one framed mutated message, sometimes with
  // a lying length prefix, sometimes several at once, sometimes only part of the prefix.
  std::size_t tcp_replies = 0;
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<std::unique_ptr<tcp_client>> clients;
    for (int i = 0; i < 25; ++i) {
      auto c = std::make_unique<tcp_client>(port());
      bytes wire;
      for (std::size_t n = uniform(1, 3); n > 0; --n) {
        const bytes p = mutate();
        std::size_t len = p.size();
        if (uniform(0, 9) == 0) len = uniform(0, 0xffff);  // lying prefix
        wire.push_back(static_cast<std::uint8_t>(len >> 8));
        wire.push_back(static_cast<std::uint8_t>(len & 0xff));
        wire.insert(wire.end(), p.begin(), p.end());
      }
      if (uniform(0, 9) == 0) wire.resize(1);  // half a length prefix, then silence
      c->send_raw(wire);
      clients.push_back(std::move(c));
    }
    const auto until = std::chrono::steady_clock::now() + 300ms;
    for (auto& c : clients) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      while (c->read_message(std::max(left, 1ms))) ++tcp_replies;
    }
  }
  MESSAGE("TCP: 300 sessions, ", tcp_replies, " replies; whole storm took ",
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                started)
              .count(),
          " ms");
  REQUIRE_MESSAGE(server.running(), server.log_tail());
  check_still_answering();
}

TEST_CASE("silent TCP clients do not hold the server") {
  // Connections that never send anything must not stop others from being served.
  std::vector<std::unique_ptr<tcp_client>> silent;
  for (int i = 0; i < 50; ++i) silent.push_back(std::make_unique<tcp_client>(port()));
  // And one that sent half a message.
  auto half = std::make_unique<tcp_client>(port());
  half->send_raw(bytes{0x00, 0x30, 0x12});
  check_still_answering();
}
