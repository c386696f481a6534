#pragma once
// Nonce names: a fresh, never-cached DNS name per connection (README, "Clients: one fresh name per
// connection").
//
// A resolver caches answers by name, so a client that resolves `api.example.com` for every new
// connection gets the same cached backend for a whole TTL. Prefixing a random nonce makes each
// name new to every cache on the way, and loadns-server answers it as the service itself:
//   dash  style: <nonce>-<first label>.<rest>   k3j9xq2m4t7a-api.example.com
//   label style: <nonce>.<name>                  k3j9xq2m4t7a.api.example.com
// The pure functions here (compose, nonce_from_bytes) take their randomness as input; only
// make_nonce / make_nonce_name draw from the kernel CSPRNG (client/random.hpp).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace loadns::client {

/// Where the nonce goes in the name.
enum class nonce_style {
  dash,   ///< `<nonce>-<first label>.<rest>` (the style of the original article)
  label,  ///< `<nonce>.<name>`: one more label
};

/// Why a nonce name could not be made.
enum class nonce_errc {
  ok = 0,
  empty_name = 1,      ///< the name is empty or only "."
  empty_label,         ///< "a..b", a leading dot
  label_too_long,      ///< a label of the result would exceed 63 octets (RFC 1035 2.3.4)
  name_too_long,       ///< the result would exceed 253 characters (255 octets on the wire)
  bad_nonce_length,    ///< nonce length outside 1..max_nonce_length
  bad_character,       ///< the name holds a character a host name cannot (RFC 952/1123)
  random_unavailable,  ///< getrandom(2) failed
};

const std::error_category& nonce_category() noexcept;
std::error_code make_error_code(nonce_errc e) noexcept;

/// Nonce characters: lower-case letters and digits, 36 symbols (log2 36 = 5.17 bits each).
inline constexpr std::string_view nonce_alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
/// 12 characters = 62 bits: a collision among a billion names is about one in ten thousand.
inline constexpr std::size_t default_nonce_length = 12;
/// The server accepts nonces of 1 to 48 characters (docs/answering.md).
inline constexpr std::size_t max_nonce_length = 48;
/// Longest name in presentation form without the trailing dot (255 wire octets).
inline constexpr std::size_t max_name_length = 253;
inline constexpr std::size_t max_label_length = 63;

/// Parses a style word, "dash" or "label"; returns false for anything else.
bool parse_nonce_style(std::string_view word, nonce_style& out) noexcept;
std::string_view to_string(nonce_style style) noexcept;

/// Maps random bytes to nonce characters without modulo bias: a byte below 252 (= 7 * 36)
/// gives `alphabet[b % 36]`, a byte of 252..255 is skipped. Writes up to out.size()
/// characters and returns how many it wrote (fewer when bytes ran out).
std::size_t nonce_from_bytes(std::span<const std::uint8_t> bytes, std::span<char> out) noexcept;

/// Checks `name` (presentation form, optional trailing dot, no escapes) as a host name:
/// non-empty labels of letters, digits, '-' and '_', each <= 63, total <= 253.
std::error_code check_name(std::string_view name) noexcept;

/// Puts `nonce` into `name` in `style`. Pure. Keeps a trailing dot if `name` has one.
/// Errors: the name fails check_name, the nonce is empty, longer than max_nonce_length or
/// not from nonce_alphabet, or the result breaks a label (63) or name (253) limit.
std::error_code compose_nonce_name(std::string_view name, std::string_view nonce, nonce_style style,
                                   std::string& out);

/// A fresh nonce of `length` characters from the kernel CSPRNG (getrandom(2)).
std::error_code make_nonce(std::size_t length, std::string& out);

/// A fresh nonce name: make_nonce, then compose_nonce_name. Thread-safe.
/// Example: make_nonce_name("api.example.com", nonce_style::dash, out) sets out to
/// "k3j9xq2m4t7a-api.example.com".
std::error_code make_nonce_name(std::string_view name, nonce_style style, std::string& out,
                                std::size_t nonce_length = default_nonce_length);

}  // namespace loadns::client

template <>
struct std::is_error_code_enum<loadns::client::nonce_errc> : std::true_type {};
