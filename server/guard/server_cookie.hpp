#pragma once
// DNS server cookies (RFC 7873) in the interoperable form of RFC 9018, so that every server of
// a zone given the same secret accepts the others' cookies:
//
//   Server Cookie = Version (1) | Reserved (3) | Timestamp (4) | Hash (8)
//   Hash = SipHash-2-4(Client Cookie | Version | Reserved | Timestamp | Client IP, Secret)
//
// A cookie is valid for an hour after its timestamp and up to five minutes before it (clock
// skew between servers), RFC 9018 4.3; one older than half an hour is replaced in the reply.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "server/guard/siphash.hpp"

namespace loadns::guard {

inline constexpr std::size_t client_cookie_size = 8;   ///< RFC 7873 4.1
inline constexpr std::size_t server_cookie_size = 16;  ///< RFC 9018 4: version 1
inline constexpr std::uint8_t server_cookie_version = 1;
inline constexpr std::uint32_t cookie_lifetime = 3600;     ///< RFC 9018 4.3: one hour
inline constexpr std::uint32_t cookie_future_skew = 300;   ///< RFC 9018 4.3: five minutes
inline constexpr std::uint32_t cookie_renew_after = 1800;  ///< RFC 9018 4.3: half an hour

/// The secret(s) a server makes and accepts cookies with. After a rotation the previous
/// secret is still accepted (RFC 9018 5: servers learn a new secret before they use it, and
/// accept the old one until the cookies it made have expired).
struct cookie_keys {
  siphash_key current{};
  siphash_key previous{};
  bool has_previous = false;
};

/// Writes the 16-octet server cookie for `client_cookie` (8 octets) from `address` (4 or 16
/// octets, network order) at `now` (seconds since the epoch, modulo 2^32), Reserved zero.
void make_server_cookie(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                        std::span<const std::uint8_t> address, std::uint32_t now,
                        std::span<std::uint8_t, server_cookie_size> out) noexcept;

/// True when `server_cookie` (the octets after the client cookie) is a version 1 cookie that
/// `secret` made for this client cookie and address; the timestamp is not judged here.
bool server_cookie_matches(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                           std::span<const std::uint8_t> server_cookie,
                           std::span<const std::uint8_t> address) noexcept;

/// RFC 9018 4.3, in serial number arithmetic (RFC 1982) so the 2106 wrap is harmless: no more
/// than an hour old and no more than five minutes ahead of `now`.
bool cookie_time_valid(std::uint32_t stamp, std::uint32_t now) noexcept;

/// What a query's COOKIE option proved (RFC 7873 5.2). A malformed option never gets to
/// check_cookie(): the codec refuses it, and the answer is FORMERR (RFC 7873 5.2.2).
enum class cookie_verdict : std::uint8_t {
  none,         ///< no COOKIE option
  client_only,  ///< a client cookie alone (RFC 7873 5.2.3)
  invalid,      ///< a server cookie that is not ours, too old or too new (RFC 7873 5.2.4)
  valid,        ///< a server cookie we (or a server sharing our secret) made (RFC 7873 5.2.5)
  malformed,    ///< set by the caller: a length RFC 7873 5.2.2 answers with FORMERR
};

/// What one answering thread remembers of the server cookies it made or verified lately, so
/// that a client asking again does not cost a SipHash-2-4 each time: a resolver sends the same
/// client cookie with every query to a server from one address (RFC 7873 4.1), so within one
/// second the cookie it is given is the same, and the cookie it sends back is one already
/// verified. Direct mapped by client cookie and address; an entry is used only when the
/// secret, the address and the client cookie are the ones it was computed for, so a flood of
/// other clients only evicts entries, it never makes a wrong cookie pass. One per thread
/// (no sharing, no lock); 64 entries, about 4 KiB.
class cookie_memo {
 public:
  struct entry {
    std::array<std::uint64_t, 2> secret{};   ///< the key words it was made or verified with
    std::array<std::uint64_t, 2> address{};  ///< 4 or 16 octets, zero padded
    std::uint64_t client = 0;                ///< the client cookie's octets
    std::array<std::uint8_t, server_cookie_size> server{};
    std::uint8_t address_size = 0;  ///< 0: empty
  };
  static constexpr std::size_t size = 64;

  /// The entry `client_cookie` from `address` maps to, and whether it holds them with `secret`.
  entry& find(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
              std::span<const std::uint8_t> address, bool& hit) noexcept;
  /// Fills `e` (from find()) with `server_cookie`, made or verified with `secret`.
  static void keep(entry& e, const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                   std::span<const std::uint8_t> address,
                   std::span<const std::uint8_t, server_cookie_size> server_cookie) noexcept;

 private:
  std::array<entry, size> entries_{};
};

/// Judges the COOKIE option `option` (8, or 16 to 40 octets) from `address` and writes the
/// option for the reply into `reply`: the client cookie and a server cookie, the received one
/// echoed when valid and younger than half an hour, else a fresh one made with the current
/// secret (RFC 9018 4.3). Returns the verdict; the reply is always client_cookie_size +
/// server_cookie_size octets. No allocation. With `memo` (the calling thread's), a cookie
/// made for this client within the same second, or verified before, is taken from it instead
/// of hashing again; the result is the same either way.
cookie_verdict check_cookie(const cookie_keys& keys, std::span<const std::uint8_t> option,
                            std::span<const std::uint8_t> address, std::uint32_t now,
                            std::span<std::uint8_t, client_cookie_size + server_cookie_size> reply,
                            cookie_memo* memo = nullptr) noexcept;

}  // namespace loadns::guard
