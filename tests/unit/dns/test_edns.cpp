#include "server/dns/edns.hpp"

#include <array>
#include <vector>

#include <doctest/doctest.h>

using namespace loadns;
using bytes = std::vector<std::uint8_t>;

namespace {

// The OPT fields after owner and TYPE: CLASS, TTL, RDLENGTH, RDATA.
bytes opt_body(std::uint16_t size, std::uint8_t version, std::uint16_t flags, const bytes& rdata) {
  bytes b;
  b.reserve(8 + rdata.size());
  for (auto v :
       {static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size), std::uint8_t{0},
        version, static_cast<std::uint8_t>(flags >> 8), static_cast<std::uint8_t>(flags),
        static_cast<std::uint8_t>(rdata.size() >> 8), static_cast<std::uint8_t>(rdata.size())}) {
    b.push_back(v);
  }
  for (auto v : rdata) b.push_back(v);
  return b;
}

}  // namespace

TEST_CASE("OPT: size, version, DO, options walked") {
  // NSID (empty), an unknown option 65001 (ignored), COOKIE with a client cookie.
  bytes rdata{0, 3, 0, 0, 0xFD, 0xE9, 0, 2, 0xAA, 0xBB, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  bytes b = opt_body(4096, 0, 0x8000, rdata);
  dns::reader r(b);
  dns::edns e;
  REQUIRE(dns::read_opt(r, e));
  CHECK(e.present);
  CHECK(e.udp_size == 4096);
  CHECK(e.version == 0);
  CHECK(e.dnssec_ok);
  CHECK(e.nsid);
  CHECK(e.cookie_length == 8);
  CHECK(e.cookie[7] == 8);
  CHECK(r.remaining() == 0);
}

TEST_CASE("OPT: an option overrunning the RDATA is an error") {
  bytes b = opt_body(1232, 0, 0, bytes{0, 10, 0, 9, 1, 2});
  dns::reader r(b);
  dns::edns e;
  CHECK_FALSE(dns::read_opt(r, e));
  CHECK(r.error() == dns::errc::bad_option);
  bytes half = opt_body(1232, 0, 0, bytes{0, 10, 0});
  dns::reader r2(half);
  CHECK_FALSE(dns::read_opt(r2, e));
}

TEST_CASE("OPT: COOKIE lengths other than 8 or 16..40 are FORMERR material (RFC 7873 5.2.2)") {
  for (std::size_t length : {0u, 7u, 9u, 15u, 41u}) {
    bytes rdata{0, 10, 0, static_cast<std::uint8_t>(length)};
    rdata.insert(rdata.end(), length, 0x55);
    bytes b = opt_body(1232, 0, 0, rdata);
    dns::reader r(b);
    dns::edns e;
    CAPTURE(length);
    CHECK_FALSE(dns::read_opt(r, e));
    CHECK(r.error() == dns::errc::bad_cookie);
  }
  for (std::size_t length : {8u, 16u, 40u}) {
    bytes rdata{0, 10, 0, static_cast<std::uint8_t>(length)};
    rdata.insert(rdata.end(), length, 0x55);
    bytes b = opt_body(1232, 0, 0, rdata);
    dns::reader r(b);
    dns::edns e;
    CHECK(dns::read_opt(r, e));
    CHECK(e.cookie_length == length);
  }
}

TEST_CASE("OPT: options of a later version are not interpreted") {
  bytes b = opt_body(1232, 1, 0, bytes{0, 10, 0, 3, 1, 2, 3});
  dns::reader r(b);
  dns::edns e;
  CHECK(dns::read_opt(r, e));
  CHECK(e.version == 1);
  CHECK(e.cookie_length == 0);
}

TEST_CASE("OPT written: root owner, size, extended rcode, version 0, DO only") {
  std::array<std::uint8_t, 16> out{};
  dns::writer w(out);
  dns::write_opt(w, {1232, 1, true});
  REQUIRE(w.pos() == dns::opt_record_size);
  const bytes golden{0, 0, 41, 0x04, 0xD0, 1, 0, 0x80, 0, 0, 0};
  CHECK(bytes(out.begin(), out.begin() + 11) == golden);
}
