#include "server/guard/server_cookie.hpp"

#include <algorithm>
#include <cstring>

namespace loadns::guard {
namespace {

constexpr std::size_t stamp_offset = 4;  // after Version and Reserved
constexpr std::size_t hash_offset = 8;

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

/// The hash over Client Cookie | Version | Reserved | Timestamp | Client IP; `head` is the
/// first eight octets of the server cookie (Version, Reserved, Timestamp).
std::uint64_t cookie_hash(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                          std::span<const std::uint8_t> head,
                          std::span<const std::uint8_t> address) noexcept {
  const std::array<std::span<const std::uint8_t>, 3> parts{client_cookie, head, address};
  return siphash24(secret, parts);
}

/// The hash's octets as SipHash's reference implementation writes them (little endian).
void store_hash(std::uint64_t h, std::uint8_t* out) noexcept {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(h >> (8 * i));
}

/// An address of 4 or 16 octets into two words, zero padded (fixed-size copies, no call).
void copy_address(std::span<const std::uint8_t> address,
                  std::array<std::uint64_t, 2>& to) noexcept {
  if (address.size() == 16) {
    std::memcpy(to.data(), address.data(), 16);
  } else if (address.size() == 4) {
    std::memcpy(to.data(), address.data(), 4);
  }
}

}  // namespace

void make_server_cookie(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                        std::span<const std::uint8_t> address, std::uint32_t now,
                        std::span<std::uint8_t, server_cookie_size> out) noexcept {
  out[0] = server_cookie_version;
  out[1] = out[2] = out[3] = 0;  // Reserved: zero when made (RFC 9018 4.1)
  for (std::size_t i = 0; i < 4; ++i) {
    out[stamp_offset + i] = static_cast<std::uint8_t>(now >> (24 - 8 * i));
  }
  store_hash(cookie_hash(secret, client_cookie, std::span(out).first(hash_offset), address),
             out.data() + hash_offset);
}

bool server_cookie_matches(const siphash_key& secret, std::span<const std::uint8_t> client_cookie,
                           std::span<const std::uint8_t> server_cookie,
                           std::span<const std::uint8_t> address) noexcept {
  if (server_cookie.size() != server_cookie_size || server_cookie[0] != server_cookie_version) {
    return false;
  }
  std::array<std::uint8_t, 8> expected{};
  // Reserved as received is part of the hash (RFC 9018 4.2).
  store_hash(cookie_hash(secret, client_cookie, server_cookie.first(hash_offset), address),
             expected.data());
  // Compare all eight octets whatever the first difference, so timing tells nothing.
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff = static_cast<std::uint8_t>(diff | (expected[i] ^ server_cookie[hash_offset + i]));
  }
  return diff == 0;
}

bool cookie_time_valid(std::uint32_t stamp, std::uint32_t now) noexcept {
  const std::uint32_t age = now - stamp;  // modulo 2^32
  const std::uint32_t ahead = stamp - now;
  return age <= cookie_lifetime || ahead <= cookie_future_skew;
}

cookie_memo::entry& cookie_memo::find(const siphash_key& secret,
                                      std::span<const std::uint8_t> client_cookie,
                                      std::span<const std::uint8_t> address, bool& hit) noexcept {
  std::uint64_t cc = 0;
  std::memcpy(&cc, client_cookie.data(), sizeof cc);
  std::array<std::uint64_t, 2> a{};
  copy_address(address, a);
  std::array<std::uint64_t, 2> k{};
  std::memcpy(k.data(), secret.data(), sizeof k);
  // Which entry: the client cookie (random per client, RFC 7873 4.1) mixed with the address.
  const std::uint64_t mix = (cc ^ a[0] ^ a[1]) * 0x9E3779B97F4A7C15ULL;
  entry& e = entries_[mix >> 58];
  static_assert(size == 64);
  hit = e.address_size == address.size() && e.client == cc && e.address == a && e.secret == k;
  return e;
}

void cookie_memo::keep(entry& e, const siphash_key& secret,
                       std::span<const std::uint8_t> client_cookie,
                       std::span<const std::uint8_t> address,
                       std::span<const std::uint8_t, server_cookie_size> server_cookie) noexcept {
  std::memcpy(e.secret.data(), secret.data(), sizeof e.secret);
  e.address = {};
  copy_address(address, e.address);
  std::memcpy(&e.client, client_cookie.data(), sizeof e.client);
  std::copy(server_cookie.begin(), server_cookie.end(), e.server.begin());
  e.address_size = static_cast<std::uint8_t>(address.size());
}

cookie_verdict check_cookie(const cookie_keys& keys, std::span<const std::uint8_t> option,
                            std::span<const std::uint8_t> address, std::uint32_t now,
                            std::span<std::uint8_t, client_cookie_size + server_cookie_size> reply,
                            cookie_memo* memo) noexcept {
  const auto client_cookie = option.first(client_cookie_size);
  std::copy(client_cookie.begin(), client_cookie.end(), reply.begin());
  auto server_out = reply.subspan<client_cookie_size, server_cookie_size>();
  // The memo's entry for this client, if it was computed with the current secret.
  bool hit = false;
  cookie_memo::entry* const remembered =
      memo != nullptr && (address.size() == 4 || address.size() == 16)
          ? &memo->find(keys.current, client_cookie, address, hit)
          : nullptr;
  cookie_verdict verdict = cookie_verdict::client_only;
  if (option.size() > client_cookie_size) {
    verdict = cookie_verdict::invalid;
    const auto server_cookie = option.subspan(client_cookie_size);
    if (server_cookie.size() == server_cookie_size) {
      const std::uint32_t stamp = load_be32(server_cookie.data() + stamp_offset);
      if (cookie_time_valid(stamp, now)) {
        // The very cookie the current secret made or verified for this client: valid.
        const bool known = hit && std::equal(server_cookie.begin(), server_cookie.end(),
                                             remembered->server.begin());
        const bool by_current =
            known || server_cookie_matches(keys.current, client_cookie, server_cookie, address);
        if (by_current && !known && remembered != nullptr) {
          cookie_memo::keep(*remembered, keys.current, client_cookie, address,
                            server_cookie.first<server_cookie_size>());
        }
        if (by_current || (keys.has_previous && server_cookie_matches(keys.previous, client_cookie,
                                                                      server_cookie, address))) {
          verdict = cookie_verdict::valid;
          // Made with the current secret and younger than half an hour: echo it, sparing a
          // hash; otherwise the client gets a fresh one (RFC 9018 4.3).
          if (by_current && now - stamp <= cookie_renew_after) {
            std::copy(server_cookie.begin(), server_cookie.end(), server_out.begin());
            return verdict;
          }
        }
      }
    }
  }
  // One this thread made for the client in this second (version 1, Reserved zero, this
  // timestamp) is the one it would make now.
  if (hit && load_be32(remembered->server.data()) == std::uint32_t{server_cookie_version} << 24 &&
      load_be32(remembered->server.data() + stamp_offset) == now) {
    std::copy(remembered->server.begin(), remembered->server.end(), server_out.begin());
    return verdict;
  }
  make_server_cookie(keys.current, client_cookie, address, now, server_out);
  if (remembered != nullptr) {
    cookie_memo::keep(*remembered, keys.current, client_cookie, address, server_out);
  }
  return verdict;
}

}  // namespace loadns::guard
