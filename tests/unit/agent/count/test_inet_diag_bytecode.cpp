#include "agent/count/inet_diag_bytecode.hpp"

#include <doctest/doctest.h>
#include <linux/inet_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <span>

using namespace loadns::agent;

// A model of the kernel's checker and interpreter (net/ipv4/inet_diag.c: inet_diag_bc_audit,
// valid_cc, valid_hostcond, inet_diag_bc_run) for the ops the builder emits, so these tests
// show the program is accepted and selects the right sockets without a kernel. The
// integration tests run the same programs in the real kernel.
namespace {

struct op {
  std::uint8_t code;
  std::uint8_t yes;
  std::uint16_t no;
};

op op_at(std::span<const std::uint8_t> bc, std::size_t pos) {
  op o{};
  o.code = bc[pos];
  o.yes = bc[pos + 1];
  std::memcpy(&o.no, bc.data() + pos + 2, 2);
  return o;
}

bool valid_cc(std::span<const std::uint8_t> bc, long len, long cc) {
  std::size_t pos = 0;
  while (len >= 0) {
    if (cc > len) return false;
    if (cc == len) return true;
    const op o = op_at(bc, pos);
    if (o.yes < 4 || (o.yes & 3) != 0) return false;
    len -= o.yes;
    pos += o.yes;
  }
  return false;
}

bool audit(std::span<const std::uint8_t> bc) {
  const long bytecode_len = static_cast<long>(bc.size());
  long len = bytecode_len;
  std::size_t pos = 0;
  if (len < 4) return false;
  while (len > 0) {
    long min_len = 4;
    const op o = op_at(bc, pos);
    switch (o.code) {
      case INET_DIAG_BC_S_COND:
      case INET_DIAG_BC_D_COND: {
        if (len < 4 + 8) return false;
        const std::uint8_t family = bc[pos + 4];
        const std::uint8_t prefix = bc[pos + 5];
        long addr_len = 0;
        if (family == AF_INET)
          addr_len = 4;
        else if (family == AF_INET6)
          addr_len = 16;
        else if (family != AF_UNSPEC)
          return false;
        min_len = 4 + 8 + addr_len;
        if (len < min_len) return false;
        if (prefix > 8 * addr_len) return false;
        break;
      }
      case INET_DIAG_BC_JMP:
      case INET_DIAG_BC_NOP:
        break;
      default:
        return false;
    }
    if (o.code != INET_DIAG_BC_NOP) {
      if (o.no < min_len || o.no > len + 4 || (o.no & 3) != 0) return false;
      if (o.no < len && !valid_cc(bc, bytecode_len, len - o.no)) return false;
    }
    if (o.yes < min_len || o.yes > len + 4 || (o.yes & 3) != 0) return false;
    pos += o.yes;
    len -= o.yes;
  }
  return len == 0;
}

struct entry {
  int family;
  std::uint16_t sport;
  std::array<std::uint8_t, 16> saddr;
};

bool prefix_match(const std::uint8_t* a, const std::uint8_t* b, int bits) {
  const int bytes = bits / 8;
  if (std::memcmp(a, b, static_cast<std::size_t>(bytes)) != 0) return false;
  const int rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

bool run(std::span<const std::uint8_t> bc, const entry& e) {
  long len = static_cast<long>(bc.size());
  std::size_t pos = 0;
  while (len > 0) {
    const op o = op_at(bc, pos);
    bool yes = true;
    switch (o.code) {
      case INET_DIAG_BC_NOP:
        break;
      case INET_DIAG_BC_JMP:
        yes = false;
        break;
      case INET_DIAG_BC_S_COND: {
        const std::uint8_t family = bc[pos + 4];
        const std::uint8_t prefix = bc[pos + 5];
        int port = 0;
        std::memcpy(&port, bc.data() + pos + 4 + 4, sizeof port);
        const std::uint8_t* addr = bc.data() + pos + 4 + 8;
        if (port != -1 && port != e.sport) {
          yes = false;
          break;
        }
        if (family != AF_UNSPEC && family != e.family) {
          const bool mapped = e.family == AF_INET6 && family == AF_INET &&
                              std::all_of(e.saddr.begin(), e.saddr.begin() + 10,
                                          [](std::uint8_t b) { return b == 0; }) &&
                              e.saddr[10] == 0xff && e.saddr[11] == 0xff;
          if (mapped && prefix_match(e.saddr.data() + 12, addr, prefix)) break;
          yes = false;
          break;
        }
        if (prefix == 0) break;
        if (prefix_match(e.saddr.data(), addr, prefix)) break;
        yes = false;
        break;
      }
      default:
        FAIL("unexpected op ", int{o.code});
        return false;
    }
    const std::size_t step = yes ? o.yes : o.no;
    pos += step;
    len -= static_cast<long>(step);
  }
  return len == 0;
}

entry v4(const char* addr, std::uint16_t port) {
  return {AF_INET, port, ip_address::parse(addr)->bytes};
}
entry v6(const char* addr, std::uint16_t port) {
  // parse() folds mapped addresses to v4; build the raw v6 form by hand for those.
  entry e{AF_INET6, port, {}};
  const std::string_view text(addr);
  if (text.starts_with("::ffff:")) {
    const auto a = ip_address::parse(text.substr(7));
    e.saddr[10] = 0xff;
    e.saddr[11] = 0xff;
    std::copy(a->bytes.begin(), a->bytes.begin() + 4, e.saddr.begin() + 12);
  } else {
    e.saddr = ip_address::parse(addr)->bytes;
  }
  return e;
}

}  // namespace

// The `port` field of inet_diag_hostcond sits at offset 4 after two bytes of padding.
static_assert(offsetof(inet_diag_hostcond, port) == 4);

TEST_CASE("bytecode for one port passes the audit and selects that port") {
  const auto bc = build_inet_diag_bytecode({{8080}, std::nullopt});
  REQUIRE(bc);
  CHECK(bc->size() == 12);
  CHECK(audit(*bc));
  CHECK(run(*bc, v4("127.0.0.1", 8080)));
  CHECK(run(*bc, v6("::1", 8080)));
  CHECK(run(*bc, v6("::ffff:127.0.0.1", 8080)));
  CHECK_FALSE(run(*bc, v4("127.0.0.1", 8081)));
  CHECK_FALSE(run(*bc, v6("::1", 80)));
}

TEST_CASE("bytecode for several ports is an OR the kernel accepts") {
  const auto bc = build_inet_diag_bytecode({{443, 80, 8443, 80}, std::nullopt});
  REQUIRE(bc);
  CHECK(bc->size() == 3 * 12 + 2 * 4);  // duplicates dropped
  CHECK(audit(*bc));
  for (const std::uint16_t p : std::initializer_list<std::uint16_t>{80, 443, 8443}) {
    CAPTURE(p);
    CHECK(run(*bc, v4("192.0.2.1", p)));
    CHECK(run(*bc, v6("2001:db8::1", p)));
  }
  for (const std::uint16_t p :
       std::initializer_list<std::uint16_t>{0, 79, 81, 444, 8442, 8444, 65535}) {
    CAPTURE(p);
    CHECK_FALSE(run(*bc, v4("192.0.2.1", p)));
  }
}

TEST_CASE("bytecode with a local IPv4 address") {
  const auto bc = build_inet_diag_bytecode({{80, 443}, ip_address::parse("127.0.0.2")});
  REQUIRE(bc);
  CHECK(bc->size() == 2 * 16 + 4);
  CHECK(audit(*bc));
  CHECK(run(*bc, v4("127.0.0.2", 80)));
  CHECK(run(*bc, v4("127.0.0.2", 443)));
  CHECK(run(*bc, v6("::ffff:127.0.0.2", 443)));
  CHECK_FALSE(run(*bc, v4("127.0.0.3", 80)));
  CHECK_FALSE(run(*bc, v6("::ffff:127.0.0.3", 80)));
  CHECK_FALSE(run(*bc, v6("::1", 80)));
  CHECK_FALSE(run(*bc, v4("127.0.0.2", 81)));
}

TEST_CASE("bytecode with a local IPv6 address") {
  const auto bc = build_inet_diag_bytecode({{443}, ip_address::parse("2001:db8::5")});
  REQUIRE(bc);
  CHECK(bc->size() == 28);
  CHECK(audit(*bc));
  CHECK(run(*bc, v6("2001:db8::5", 443)));
  CHECK_FALSE(run(*bc, v6("2001:db8::6", 443)));
  CHECK_FALSE(run(*bc, v4("192.0.2.5", 443)));
}

TEST_CASE("bytecode that cannot fit the attribute is not built") {
  socket_filter f{{}, ip_address::parse("2001:db8::5")};
  CHECK_FALSE(build_inet_diag_bytecode(f));  // no port
  for (std::uint32_t p = 1; p <= 3000; ++p) f.ports.push_back(static_cast<std::uint16_t>(p));
  CHECK_FALSE(build_inet_diag_bytecode(f));
  f.ports.resize(2000);
  const auto bc = build_inet_diag_bytecode(f);
  REQUIRE(bc);
  CHECK(audit(*bc));
  CHECK(run(*bc, v6("2001:db8::5", 1999)));
  CHECK_FALSE(run(*bc, v6("2001:db8::5", 2001)));
}
