#include "agent/count/proc_tcp.hpp"

#include <cstring>

namespace loadns::agent {
namespace {

constexpr std::uint8_t tcp_established = 1;  // include/net/tcp_states.h

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Exactly `digits` hex digits at `pos`; advances pos. False (and pos unspecified) otherwise.
bool read_hex(std::string_view s, std::size_t& pos, std::size_t digits,
              std::uint32_t& out) noexcept {
  if (s.size() - pos < digits) {
    return false;
  }
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const int d = hex_digit(s[pos + i]);
    if (d < 0) {
      return false;
    }
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  pos += digits;
  out = v;
  return true;
}

void skip_spaces(std::string_view s, std::size_t& pos) noexcept {
  while (pos < s.size() && s[pos] == ' ') {
    ++pos;
  }
}

}  // namespace

std::optional<proc_tcp_entry> parse_proc_tcp_line(std::string_view line,
                                                  ip_family family) noexcept {
  std::size_t pos = 0;
  skip_spaces(line, pos);
  // "sl" column: a decimal slot number and a colon.
  const std::size_t digits_at = pos;
  while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9') {
    ++pos;
  }
  if (pos == digits_at || pos >= line.size() || line[pos] != ':') {
    return std::nullopt;
  }
  ++pos;
  skip_spaces(line, pos);

  proc_tcp_entry e;
  const std::size_t words = family == ip_family::v4 ? 1 : 4;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t word = 0;
    if (!read_hex(line, pos, 8, word)) {
      return std::nullopt;
    }
    // The kernel printed the in-memory __be32 as a host integer: copying the integer back to
    // memory restores the network-order bytes on any host.
    std::memcpy(e.local.data() + 4 * w, &word, sizeof word);
  }
  std::uint32_t port = 0;
  if (pos >= line.size() || line[pos] != ':') {
    return std::nullopt;
  }
  ++pos;
  if (!read_hex(line, pos, 4, port)) {
    return std::nullopt;
  }
  e.local_port = static_cast<std::uint16_t>(port);

  // rem_address: same shape; only its presence is checked.
  if (pos >= line.size() || line[pos] != ' ') {
    return std::nullopt;
  }
  skip_spaces(line, pos);
  std::uint32_t ignored = 0;
  for (std::size_t w = 0; w < words; ++w) {
    if (!read_hex(line, pos, 8, ignored)) {
      return std::nullopt;
    }
  }
  if (pos >= line.size() || line[pos] != ':') {
    return std::nullopt;
  }
  ++pos;
  if (!read_hex(line, pos, 4, ignored)) {
    return std::nullopt;
  }

  if (pos >= line.size() || line[pos] != ' ') {
    return std::nullopt;
  }
  skip_spaces(line, pos);
  std::uint32_t state = 0;
  if (!read_hex(line, pos, 2, state)) {
    return std::nullopt;
  }
  if (pos < line.size() && line[pos] != ' ') {
    return std::nullopt;
  }
  e.state = static_cast<std::uint8_t>(state);
  return e;
}

void count_proc_tcp_lines(std::string_view text, ip_family family, const socket_filter& filter,
                          proc_tcp_counts& counts, listener_set* listen) noexcept {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

    const auto entry = parse_proc_tcp_line(line, family);
    if (!entry) {
      const std::size_t first = line.find_first_not_of(' ');
      const bool header = first != std::string_view::npos && line.substr(first, 3) == "sl ";
      const bool blank = first == std::string_view::npos;
      if (!header && !blank) {
        ++counts.malformed;
      }
      continue;
    }
    ++counts.sockets;
    if (listen != nullptr) {
      listen->note(family, entry->state, entry->local_port, entry->local);
    }
    if (entry->state == tcp_established &&
        filter.matches(family, entry->local_port, entry->local)) {
      ++counts.matched;
    }
  }
}

}  // namespace loadns::agent
