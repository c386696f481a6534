#pragma once
// An IPv4 or IPv6 address as raw network-order bytes, the form both the kernel's inet_diag
// messages and /proc/net/tcp{,6} carry.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadns::agent {

enum class ip_family : std::uint8_t { v4, v6 };

struct ip_address {
  ip_family family = ip_family::v4;
  /// Network byte order; an IPv4 address uses the first 4 bytes, the rest are zero.
  std::array<std::uint8_t, 16> bytes{};

  /// Parses presentation form ("192.0.2.1", "2001:db8::1"). An IPv4-mapped IPv6 address
  /// ("::ffff:192.0.2.1") is returned as the IPv4 address it maps, because the kernel reports
  /// a v4 connection accepted on a dual-stack socket that way and it is the same endpoint.
  /// Empty on anything else (no scope ids, no prefixes, no surrounding blanks).
  static std::optional<ip_address> parse(std::string_view text);

  /// Presentation form.
  [[nodiscard]] std::string to_string() const;

  [[nodiscard]] std::size_t size() const noexcept { return family == ip_family::v4 ? 4 : 16; }

  friend bool operator==(const ip_address&, const ip_address&) = default;
};

/// True when the 16 bytes are an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 2.5.5.2).
[[nodiscard]] bool is_v4_mapped(const std::array<std::uint8_t, 16>& v6) noexcept;

}  // namespace loadns::agent
