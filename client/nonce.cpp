#include "client/nonce.hpp"

#include <algorithm>
#include <array>

#include "client/random.hpp"

namespace loadns::client {
namespace {

class nonce_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "loadns.nonce"; }
  std::string message(int ev) const override {
    switch (static_cast<nonce_errc>(ev)) {
      case nonce_errc::ok:
        return "success";
      case nonce_errc::empty_name:
        return "the name is empty";
      case nonce_errc::empty_label:
        return "the name has an empty label";
      case nonce_errc::label_too_long:
        return "a label would be longer than 63 characters (use a shorter nonce or the label "
               "style)";
      case nonce_errc::name_too_long:
        return "the name would be longer than 253 characters";
      case nonce_errc::bad_nonce_length:
        return "the nonce length must be 1 to 48";
      case nonce_errc::bad_character:
        return "the name may hold only letters, digits, '-', '_' and dots";
      case nonce_errc::random_unavailable:
        return "the random source failed";
    }
    return "unknown nonce error";
  }
};

// Host-name characters (RFC 952, RFC 1123 2.1) plus '_' for service-style labels.
constexpr bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

constexpr bool is_nonce_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// 252 = 7 * 36: the largest multiple of the alphabet size that fits in a byte.
constexpr unsigned unbiased_limit = 252;
static_assert(unbiased_limit % nonce_alphabet.size() == 0);

}  // namespace

const std::error_category& nonce_category() noexcept {
  static const nonce_category_impl category;
  return category;
}

std::error_code make_error_code(nonce_errc e) noexcept {
  return {static_cast<int>(e), nonce_category()};
}

bool parse_nonce_style(std::string_view word, nonce_style& out) noexcept {
  if (word == "dash") {
    out = nonce_style::dash;
    return true;
  }
  if (word == "label") {
    out = nonce_style::label;
    return true;
  }
  return false;
}

std::string_view to_string(nonce_style style) noexcept {
  return style == nonce_style::dash ? "dash" : "label";
}

std::size_t nonce_from_bytes(std::span<const std::uint8_t> bytes, std::span<char> out) noexcept {
  std::size_t written = 0;
  for (const std::uint8_t b : bytes) {
    if (written == out.size()) {
      break;
    }
    if (b >= unbiased_limit) {
      continue;
    }
    out[written++] = nonce_alphabet[b % nonce_alphabet.size()];
  }
  return written;
}

std::error_code check_name(std::string_view name) noexcept {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.empty()) {
    return nonce_errc::empty_name;
  }
  if (name.size() > max_name_length) {
    return nonce_errc::name_too_long;
  }
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) {
        return nonce_errc::empty_label;
      }
      label = 0;
      continue;
    }
    if (!is_name_char(c)) {
      return nonce_errc::bad_character;
    }
    if (++label > max_label_length) {
      return nonce_errc::label_too_long;
    }
  }
  if (label == 0) {
    return nonce_errc::empty_label;
  }
  return {};
}

std::error_code compose_nonce_name(std::string_view name, std::string_view nonce, nonce_style style,
                                   std::string& out) {
  if (nonce.empty() || nonce.size() > max_nonce_length) {
    return nonce_errc::bad_nonce_length;
  }
  for (const char c : nonce) {
    if (!is_nonce_char(c)) {
      return nonce_errc::bad_character;
    }
  }
  if (const auto ec = check_name(name)) {
    return ec;
  }

  const bool absolute = name.back() == '.';
  const std::string_view bare = absolute ? name.substr(0, name.size() - 1) : name;
  const std::size_t first_label = std::min(bare.find('.'), bare.size());
  // Both styles add the nonce and one separator character.
  if (bare.size() + nonce.size() + 1 > max_name_length) {
    return nonce_errc::name_too_long;
  }
  if (style == nonce_style::dash && first_label + nonce.size() + 1 > max_label_length) {
    return nonce_errc::label_too_long;
  }

  out.clear();
  out.reserve(name.size() + nonce.size() + 1);
  out.append(nonce);
  out.push_back(style == nonce_style::dash ? '-' : '.');
  out.append(name);
  return {};
}

std::error_code make_nonce(std::size_t length, std::string& out) {
  if (length == 0 || length > max_nonce_length) {
    return nonce_errc::bad_nonce_length;
  }
  out.assign(length, '\0');
  // A byte is rejected with probability 4/256, so twice the length almost always suffices;
  // loop for the rare rest.
  std::array<std::uint8_t, 2 * max_nonce_length> bytes{};
  std::size_t filled = 0;
  while (filled < length) {
    const std::span<std::uint8_t> draw(bytes.data(), 2 * (length - filled));
    if (fill_random(draw)) {
      return nonce_errc::random_unavailable;
    }
    filled += nonce_from_bytes(draw, std::span<char>(out).subspan(filled));
  }
  return {};
}

std::error_code make_nonce_name(std::string_view name, nonce_style style, std::string& out,
                                std::size_t nonce_length) {
  std::string nonce;
  if (const auto ec = make_nonce(nonce_length, nonce)) {
    return ec;
  }
  return compose_nonce_name(name, nonce, style, out);
}

}  // namespace loadns::client
