#pragma once
// The one DNS query builder of the tests, unit and end-to-end alike. RD is clear unless a test
// sets it: the server is authoritative only, and RD is the client's request for recursion,
// which it ignores but copies into the response (RFC 1035 4.1.1).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadns::test {

namespace rr_type {
inline constexpr std::uint16_t a = 1, ns = 2, cname = 5, soa = 6, mx = 15, txt = 16, aaaa = 28,
                               opt = 41, any = 255;
}

/// What goes into a hand-made query.
struct query_spec {
  std::uint16_t id = 0x1234;
  std::string name = "example.com";  ///< presentation, case kept as given (0x20), no escapes
  std::uint16_t type = rr_type::a;
  std::uint16_t qclass = 1;
  std::uint8_t opcode = 0;
  bool rd = false;
  bool qr = false;
  bool cd = false;
  bool edns = false;  ///< an OPT record (RFC 6891 6.1.2) with what follows
  std::uint16_t udp_size = 1232;
  std::uint8_t edns_version = 0;
  bool do_bit = false;
  std::uint16_t z_flags = 0;  ///< undefined EDNS flag bits to set
  std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>> options{};  ///< EDNS options
};

/// Wire form of a query (RFC 1035 4.1).
std::vector<std::uint8_t> make_query(const query_spec& spec);
/// The same for `name` (spec.name is ignored).
std::vector<std::uint8_t> make_query(std::string_view name, query_spec spec = {});

/// Appends the wire form of `name` (presentation, case kept, no escapes) to `out`.
void append_name(std::vector<std::uint8_t>& out, std::string_view name);
/// The wire form of `name`.
std::vector<std::uint8_t> wire_name(std::string_view name);

}  // namespace loadns::test
