#include "agent/count/netlink_dump.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>
#include <vector>

#include "agent/count/inet_diag_bytecode.hpp"

using namespace loadns::agent;

// Datagrams built with the kernel's own UAPI structs, as the kernel lays them out.
namespace {

constexpr std::uint32_t seq = 77;
// NLMSG_* / NLA_* macros mix signed and unsigned arithmetic; spelled out here.
constexpr std::size_t nl_hdr = sizeof(nlmsghdr);
constexpr std::size_t nla_hdr = sizeof(nlattr);
constexpr std::size_t align4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

struct datagram {
  std::vector<std::uint8_t> bytes;

  void message(std::uint16_t type, const void* payload, std::size_t size, std::uint32_t s = seq,
               std::uint16_t flags = NLM_F_MULTI) {
    nlmsghdr h{};
    h.nlmsg_len = static_cast<std::uint32_t>(nl_hdr + size);
    h.nlmsg_type = type;
    h.nlmsg_flags = flags;
    h.nlmsg_seq = s;
    h.nlmsg_pid = 4242;
    const std::size_t at = bytes.size();
    bytes.resize(at + align4(nl_hdr + size), 0);
    std::memcpy(bytes.data() + at, &h, sizeof h);
    if (size != 0) std::memcpy(bytes.data() + at + nl_hdr, payload, size);
  }

  void socket(int family, std::uint8_t state, const char* src, std::uint16_t sport,
              std::uint32_t s = seq) {
    inet_diag_msg m{};
    m.idiag_family = static_cast<std::uint8_t>(family);
    m.idiag_state = state;
    m.id.idiag_sport = htons(sport);
    m.id.idiag_dport = htons(50000);
    REQUIRE(inet_pton(family, src, m.id.idiag_src) == 1);
    m.idiag_inode = 12345;
    message(SOCK_DIAG_BY_FAMILY, &m, sizeof m, s);
  }

  void done(int status = 0) { message(NLMSG_DONE, &status, sizeof status); }

  void error(int err) {
    nlmsgerr e{};
    e.error = -err;
    message(NLMSG_ERROR, &e, sizeof e, seq, 0);
  }

  [[nodiscard]] std::span<const std::uint8_t> span() const { return bytes; }
};

const socket_filter port_8080{{8080}, std::nullopt};

}  // namespace

TEST_CASE("dump request: header with inet_diag_req_v2 and the bytecode attribute") {
  const auto bc = build_inet_diag_bytecode(port_8080);
  REQUIRE(bc);
  auto req = build_dump_request(ip_family::v6, *bc, 5);
  REQUIRE(req.size() == nl_hdr + sizeof(inet_diag_req_v2) + nla_hdr + bc->size());

  nlmsghdr h{};
  std::memcpy(&h, req.data(), sizeof h);
  CHECK(h.nlmsg_len == req.size());
  CHECK(h.nlmsg_type == SOCK_DIAG_BY_FAMILY);
  CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(h.nlmsg_seq == 5);

  inet_diag_req_v2 r{};
  std::memcpy(&r, req.data() + nl_hdr, sizeof r);
  CHECK(r.sdiag_family == AF_INET6);
  CHECK(r.sdiag_protocol == IPPROTO_TCP);
  CHECK(r.idiag_ext == 0);
  CHECK(r.idiag_states == (1U << TCP_ESTABLISHED));

  nlattr a{};
  std::memcpy(&a, req.data() + nl_hdr + sizeof r, sizeof a);
  CHECK(a.nla_type == INET_DIAG_REQ_BYTECODE);
  CHECK(a.nla_len == nla_hdr + bc->size());
  CHECK(std::memcmp(req.data() + nl_hdr + sizeof r + nla_hdr, bc->data(), bc->size()) == 0);

  set_request_seq(req, 6);
  std::memcpy(&h, req.data(), sizeof h);
  CHECK(h.nlmsg_seq == 6);

  const auto plain = build_dump_request(ip_family::v4, {}, 1);
  CHECK(plain.size() == nl_hdr + sizeof(inet_diag_req_v2));
  CHECK(plain[nl_hdr] == AF_INET);
}

TEST_CASE("a datagram of sockets: only matching ESTABLISHED ones count") {
  datagram d;
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);
  d.socket(AF_INET6, TCP_ESTABLISHED, "::1", 8080);
  d.socket(AF_INET6, TCP_ESTABLISHED, "::ffff:127.0.0.1", 8080);
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 9090);  // other port
  d.socket(AF_INET, TCP_CLOSE_WAIT, "127.0.0.1", 8080);   // other state
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080);
  CHECK(c.status == dump_status::more);
  CHECK(c.sockets == 5);
  CHECK(c.matched == 3);
}

TEST_CASE("the local address filter applies to dump messages") {
  datagram d;
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.2", 8080);
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.3", 8080);
  d.socket(AF_INET6, TCP_ESTABLISHED, "::ffff:127.0.0.2", 8080);
  const socket_filter f{{8080}, ip_address::parse("127.0.0.2")};
  CHECK(parse_dump_datagram(d.span(), seq, f).matched == 2);
}

TEST_CASE("NLMSG_DONE ends the dump and a negative status in it is an error") {
  datagram d;
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);
  d.done();
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);  // after DONE: never read
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080);
  CHECK(c.status == dump_status::done);
  CHECK(c.matched == 1);

  datagram failed;
  failed.done(-ENOBUFS);
  const dump_chunk f = parse_dump_datagram(failed.span(), seq, port_8080);
  CHECK(f.status == dump_status::error);
  CHECK(f.error == ENOBUFS);

  // A DONE without a payload (old kernels) is still the end.
  datagram bare;
  bare.message(NLMSG_DONE, nullptr, 0);
  CHECK(parse_dump_datagram(bare.span(), seq, port_8080).status == dump_status::done);
}

TEST_CASE("NLMSG_ERROR carries the errno but an ACK is not an error") {
  datagram d;
  d.error(EINVAL);
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080);
  CHECK(c.status == dump_status::error);
  CHECK(c.error == EINVAL);

  datagram ack;
  ack.error(0);
  ack.done();
  CHECK(parse_dump_datagram(ack.span(), seq, port_8080).status == dump_status::done);
}

TEST_CASE("messages of another dump (sequence) are skipped") {
  datagram d;
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080, seq - 1);
  d.message(NLMSG_DONE, nullptr, 0, seq - 1);
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080);
  CHECK(c.status == dump_status::more);
  CHECK(c.sockets == 1);
  CHECK(c.matched == 1);
}

TEST_CASE("malformed datagrams are reported and never read past") {
  datagram d;
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);
  const auto whole = d.bytes;

  SUBCASE("every truncation") {
    for (std::size_t n = 1; n < whole.size(); ++n) {
      CAPTURE(n);
      const std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(n));
      const dump_chunk c = parse_dump_datagram(cut, seq, port_8080);
      CHECK(c.status == dump_status::malformed);
      CHECK(c.matched == 0);
    }
  }
  SUBCASE("a length shorter than the header") {
    auto bad = whole;
    const std::uint32_t len = 8;
    std::memcpy(bad.data(), &len, sizeof len);
    CHECK(parse_dump_datagram(bad, seq, port_8080).status == dump_status::malformed);
  }
  SUBCASE("a length past the datagram") {
    auto bad = whole;
    const auto len = static_cast<std::uint32_t>(whole.size() + 4);
    std::memcpy(bad.data(), &len, sizeof len);
    CHECK(parse_dump_datagram(bad, seq, port_8080).status == dump_status::malformed);
  }
  SUBCASE("an inet_diag_msg too short for its type") {
    datagram s;
    const std::uint8_t part[20] = {AF_INET, TCP_ESTABLISHED};
    s.message(SOCK_DIAG_BY_FAMILY, part, sizeof part);
    CHECK(parse_dump_datagram(s.span(), seq, port_8080).status == dump_status::malformed);
  }
  SUBCASE("an empty datagram is just more of the dump") {
    CHECK(parse_dump_datagram({}, seq, port_8080).status == dump_status::more);
  }
}

TEST_CASE("unknown message types and families are ignored") {
  datagram d;
  const std::uint32_t junk = 0;
  d.message(NLMSG_NOOP, &junk, sizeof junk);
  d.message(0x77, &junk, sizeof junk);
  inet_diag_msg m{};
  m.idiag_family = AF_UNIX;
  m.idiag_state = TCP_ESTABLISHED;
  m.id.idiag_sport = htons(8080);
  d.message(SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080);
  CHECK(c.status == dump_status::more);
  CHECK(c.matched == 1);
}

TEST_CASE("the all-families request: TCPDIAG_GETSOCK with inet_diag_req and the bytecode") {
  const auto bc = build_inet_diag_bytecode(port_8080);
  REQUIRE(bc);
  const auto req = build_all_families_request(*bc, 9);
  REQUIRE(req.size() == nl_hdr + sizeof(inet_diag_req) + nla_hdr + bc->size());
  nlmsghdr h{};
  std::memcpy(&h, req.data(), sizeof h);
  CHECK(h.nlmsg_len == req.size());
  CHECK(h.nlmsg_type == TCPDIAG_GETSOCK);
  CHECK(h.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(h.nlmsg_seq == 9);
  inet_diag_req r{};
  std::memcpy(&r, req.data() + nl_hdr, sizeof r);
  CHECK(r.idiag_states == (1U << TCP_ESTABLISHED));
  CHECK(r.idiag_ext == 0);
  CHECK(r.idiag_dbs == 0);
  nlattr a{};
  std::memcpy(&a, req.data() + nl_hdr + sizeof r, sizeof a);
  CHECK(a.nla_type == INET_DIAG_REQ_BYTECODE);
  CHECK(a.nla_len == nla_hdr + bc->size());
}

TEST_CASE("an all-families dump answers with TCPDIAG_GETSOCK messages of both families") {
  datagram d;
  inet_diag_msg m{};
  m.idiag_family = AF_INET6;
  m.idiag_state = TCP_ESTABLISHED;
  m.id.idiag_sport = htons(8080);
  REQUIRE(inet_pton(AF_INET6, "::1", m.id.idiag_src) == 1);
  d.message(TCPDIAG_GETSOCK, &m, sizeof m);
  m.idiag_family = AF_INET;
  std::memset(m.id.idiag_src, 0, sizeof m.id.idiag_src);
  REQUIRE(inet_pton(AF_INET, "127.0.0.1", m.id.idiag_src) == 1);
  d.message(TCPDIAG_GETSOCK, &m, sizeof m);
  d.socket(AF_INET, TCP_ESTABLISHED, "127.0.0.1", 8080);  // SOCK_DIAG_BY_FAMILY: not this dump
  const dump_chunk c = parse_dump_datagram(d.span(), seq, port_8080, dump_kind::all_families);
  CHECK(c.sockets == 2);
  CHECK(c.matched == 2);
  // And the other way round: a per-family dump ignores TCPDIAG_GETSOCK messages.
  CHECK(parse_dump_datagram(d.span(), seq, port_8080).matched == 1);
}
