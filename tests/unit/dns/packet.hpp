#pragma once
// Test-side DNS messages: a query builder that keeps the name's case as given (to test 0x20
// echoing), and a response reader that decodes every section to readable values, so that a
// check reads like the spec: CHECK(resp.rcode == "NXDOMAIN").

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadns::test {

struct query_options {
  std::uint16_t id = 0x1234;
  std::uint16_t qtype = 1;
  std::uint16_t qclass = 1;
  std::uint8_t opcode = 0;
  bool rd = true;
  bool cd = false;
  bool edns = false;
  std::uint16_t udp_size = 1232;
  std::uint8_t version = 0;
  bool dnssec_ok = false;
  std::uint16_t z_flags = 0;  ///< undefined EDNS flag bits to set
  std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>> options;
};

/// Wire form of `name` (presentation, case kept, no escapes).
std::vector<std::uint8_t> wire_name(std::string_view name);

/// A query for `name` (case kept as given).
std::vector<std::uint8_t> make_query(std::string_view name, const query_options& o = {});

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
