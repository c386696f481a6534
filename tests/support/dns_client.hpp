#pragma once
// DNS clients for end-to-end tests: `dig` (its printed answer parsed into sections, so checks
// read like the spec: `r.check_rcode("NOERROR"); CHECK(r.flag("aa"))`), raw UDP/TCP packets
// for what dig cannot send (QDCOUNT=2, short packets, QR set, pipelining), and c-ares.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/dns_query.hpp"

namespace loadns::test {

enum class transport : std::uint8_t { udp, tcp };
inline constexpr transport both_transports[] = {transport::udp, transport::tcp};
inline const char* to_string(transport t) {
  return t == transport::udp ? "udp" : "tcp";
}

// ---------------------------------------------------------------------------------------------
// dig

/// One resource record as dig prints it: `owner ttl class type rdata...`. Question entries
/// have ttl 0.
struct dig_record {
  std::string name;  ///< as printed, with the trailing dot and the case on the wire
  std::uint32_t ttl = 0;
  std::string rclass;
  std::string type;
  std::string data;  ///< rdata fields joined by one space
};

/// One response as dig printed it.
struct dig_response {
  std::string opcode;
  std::string status;  ///< rcode mnemonic: NOERROR, NXDOMAIN, REFUSED, BADVERS, ...
  std::uint16_t id = 0;
  std::vector<std::string> flags;  ///< header flags: qr aa tc rd ra ad cd
  unsigned qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  bool edns = false;  ///< an OPT record came back
  int edns_version = -1;
  std::vector<std::string> edns_flags;  ///< e.g. "do"
  std::string edns_mbz;                 ///< undefined EDNS flag bits dig saw set ("" if none)
  unsigned edns_udp = 0;
  std::vector<dig_record> question, answer, authority, additional;
  std::size_t msg_size = 0;
  std::string text;  ///< dig's output for this response, for failure messages

  bool flag(std::string_view f) const;
  bool edns_flag(std::string_view f) const;
  /// Records of `type` in the answer section.
  std::vector<dig_record> answers_of(std::string_view type) const;
  /// The rdata of every answer record of `type`.
  std::vector<std::string> answer_data(std::string_view type) const;

  void check_rcode(std::string_view expected) const {
    CHECK_MESSAGE(status == expected, "expected status " << expected << ", got " << status << "\n"
                                                         << text);
  }
};

/// All of dig's output for one invocation.
struct dig_result {
  int exit_code = -1;
  std::string output;                   ///< stdout and stderr
  std::vector<dig_response> responses;  ///< in the order dig printed them

  bool answered() const { return !responses.empty(); }
  /// The response the client ended with (after dig's own retry over TCP on TC, the TCP one);
  /// a failed CHECK and an empty response when there is none.
  dig_response response() const;
};

/// Parses dig's printed output (exposed for tests of the parser).
std::vector<dig_response> parse_dig_output(std::string_view output);

/// Runs `/usr/bin/dig +norec +time=2 +tries=1 -p PORT @127.0.0.1 [+tcp] OPTIONS... -q NAME -t
/// TYPE`. Later options override the defaults (`+rec`, `+time=5`).
dig_result dig(std::uint16_t port, transport t, std::string_view name, std::string_view type = "A",
               const std::vector<std::string>& options = {});
/// dig with a free-form argument list after the defaults (several queries in one run).
dig_result dig_args(std::uint16_t port, transport t, const std::vector<std::string>& args);

// ---------------------------------------------------------------------------------------------
// Raw packets

/// The fixed header of a DNS message, read by offset and mask (RFC 1035 4.1.1).
struct header_view {
  std::uint16_t id = 0;
  bool qr = false, aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  std::uint8_t opcode = 0;
  std::uint8_t rcode = 0;  ///< the 4 header bits only
  std::uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
};
/// nullopt when the message is shorter than a header.
std::optional<header_view> parse_header(std::span<const std::uint8_t> msg);

namespace rcode {
inline constexpr std::uint8_t noerror = 0, formerr = 1, servfail = 2, nxdomain = 3, notimp = 4,
                              refused = 5;
}

/// Sends one datagram to 127.0.0.1:port and returns the first reply within `timeout`.
std::optional<std::vector<std::uint8_t>> udp_exchange(
    std::uint16_t port, std::span<const std::uint8_t> packet,
    std::chrono::milliseconds timeout = std::chrono::seconds(2));

/// A blocking-with-deadline TCP client speaking RFC 1035 4.2.2 framing.
class tcp_client {
 public:
  /// Connects to 127.0.0.1:port; throws std::runtime_error when it cannot.
  explicit tcp_client(std::uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::seconds(2));
  ~tcp_client();
  tcp_client(const tcp_client&) = delete;
  tcp_client& operator=(const tcp_client&) = delete;

  /// Writes bytes as they are (callers frame them, or deliberately do not).
  bool send_raw(std::span<const std::uint8_t> bytes);
  /// Writes one message with its two-byte length prefix.
  bool send_message(std::span<const std::uint8_t> msg);
  /// Reads one framed message; nullopt on EOF, error or timeout (see closed()).
  std::optional<std::vector<std::uint8_t>> read_message(
      std::chrono::milliseconds timeout = std::chrono::seconds(2));
  /// True once the peer closed the connection (or reset it).
  bool closed() const { return closed_; }
  int fd() const { return fd_; }

 private:
  bool read_exact(std::uint8_t* out, std::size_t n, std::chrono::steady_clock::time_point until);
  int fd_ = -1;
  bool closed_ = false;
};

/// One query over UDP or TCP (framed); the reply or nullopt.
std::optional<std::vector<std::uint8_t>> exchange(
    std::uint16_t port, transport t, std::span<const std::uint8_t> packet,
    std::chrono::milliseconds timeout = std::chrono::seconds(2));

// ---------------------------------------------------------------------------------------------
// c-ares

struct cares_result {
  int status = -1;  ///< ARES_SUCCESS, ARES_ENOTFOUND (NXDOMAIN), ARES_ENODATA, ARES_EREFUSED...
  std::string status_text;
  std::vector<std::string> addresses;  ///< presentation form
  std::vector<std::uint32_t> ttls;
};

/// Resolves `name` (A when !ipv6, else AAAA) with c-ares at 127.0.0.1:port only, over TCP when
/// `tcp` (ARES_FLAG_USEVC), no recursion desired, one try.
cares_result cares_resolve(std::uint16_t port, std::string_view name, bool ipv6 = false,
                           bool tcp = false,
                           std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace loadns::test
