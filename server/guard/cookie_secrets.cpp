#include "server/guard/cookie_secrets.hpp"

#include <bit>
#include <cstring>

namespace loadns::guard {
namespace {

std::uint64_t pack(const siphash_key& key, std::size_t at) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= std::uint64_t{key[at + i]} << (8 * i);
  return v;
}

void unpack(std::uint64_t v, siphash_key& key, std::size_t at) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(key.data() + at, &v, sizeof v);  // one store: load() runs per query
  } else {
    for (std::size_t i = 0; i < 8; ++i) key[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<siphash_key> parse_key(std::string_view s) noexcept {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  siphash_key key{};
  if (s.size() != 2 * key.size()) return std::nullopt;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int hi = hex_value(s[2 * i]);
    const int lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return key;
}

}  // namespace

void cookie_secrets::store(const cookie_keys& keys) noexcept {
  const std::uint32_t s = seq_.load(std::memory_order_relaxed);
  seq_.store(s + 1, std::memory_order_relaxed);
  // Release stores of the words (rather than a release fence, which ThreadSanitizer cannot
  // model) keep the odd sequence before them: a reader that sees a new word sees s + 1.
  // On x86 a release store is a plain store.
  words_[0].store(pack(keys.current, 0), std::memory_order_release);
  words_[1].store(pack(keys.current, 8), std::memory_order_release);
  words_[2].store(pack(keys.previous, 0), std::memory_order_release);
  words_[3].store(pack(keys.previous, 8), std::memory_order_release);
  words_[4].store(keys.has_previous ? 1 : 0, std::memory_order_release);
  seq_.store(s + 2, std::memory_order_release);
}

cookie_keys cookie_secrets::load() const noexcept {
  cookie_keys keys;
  for (;;) {
    const std::uint32_t before = seq_.load(std::memory_order_acquire);
    std::array<std::uint64_t, word_count> w{};
    // Acquire loads (not an acquire fence, for ThreadSanitizer's sake; plain loads on x86)
    // keep the second read of the sequence after them.
    for (std::size_t i = 0; i < word_count; ++i) w[i] = words_[i].load(std::memory_order_acquire);
    if ((before & 1) != 0 || seq_.load(std::memory_order_relaxed) != before) continue;
    unpack(w[0], keys.current, 0);
    unpack(w[1], keys.current, 8);
    unpack(w[2], keys.previous, 0);
    unpack(w[3], keys.previous, 8);
    keys.has_previous = w[4] != 0;
    return keys;
  }
}

std::optional<cookie_keys> parse_secret_text(std::string_view text) noexcept {
  cookie_keys keys;
  int found = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto key = parse_key(line);
    if (!key || found == 2) return std::nullopt;
    if (found == 0) {
      keys.current = *key;
    } else {
      keys.previous = *key;
      keys.has_previous = true;
    }
    ++found;
  }
  if (found == 0) return std::nullopt;
  return keys;
}

}  // namespace loadns::guard
