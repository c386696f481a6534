#pragma once
// Test-side DNS messages: the query builder (tests/support/dns_query.hpp, keeping the name's
// case as given, to test 0x20 echoing), and a response reader that decodes every section to
// readable values, so that a check reads like the spec: CHECK(resp.rcode == "NXDOMAIN").

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/dns_query.hpp"

namespace loadns::test {

struct record {
  std::string owner;  ///< presentation, as decoded (compressed owners follow pointers)
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::string data;  ///< presentation of the RDATA for A, AAAA, NS, CNAME, MX, SOA, TXT
};

struct message {
  bool ok = false;  ///< false: the message could not be decoded (see error)
  std::string error;
  std::size_t size = 0;
  std::uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  bool z = false;
  std::uint8_t opcode = 0;
  std::string rcode;  ///< "NOERROR", "NXDOMAIN", ... "BADVERS" (the extended value)
  std::uint16_t qdcount = 0;
  std::vector<std::uint8_t> qname_wire;  ///< the question name's octets, as written
  std::uint16_t qtype = 0, qclass = 0;
  std::vector<record> answer, authority, additional;
  bool edns = false;
  std::uint16_t udp_size = 0;
  std::uint8_t edns_version = 0;
  bool dnssec_ok = false;
  std::uint16_t edns_flags = 0;
  std::size_t edns_options = 0;
};

/// Decodes a response; never throws on bad input (ok = false).
message parse(std::span<const std::uint8_t> msg);

std::string rcode_name(unsigned rcode);

}  // namespace loadns::test
