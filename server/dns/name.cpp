#include "server/dns/name.hpp"

#include <algorithm>

namespace loadns::dns {

const std::array<std::uint8_t, 256> lower_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t i = 0; i < t.size(); ++i) {
    auto c = static_cast<std::uint8_t>(i);
    t[i] = (c >= 'A' && c <= 'Z') ? static_cast<std::uint8_t>(c + ('a' - 'A')) : c;
  }
  return t;
}();

namespace {

// Top two bits of a length octet (RFC 1035 4.1.4): 00 label, 11 pointer, 01/10 retired.
constexpr std::uint8_t label_type_mask = 0xC0;
constexpr std::uint8_t pointer_type = 0xC0;

/// The checks of a label's length octet `n` (not a pointer) at `len` octets into the name: a
/// label (type 00, so n <= 63) that keeps the name within 255 octets (RFC 1035 2.3.4). Fails
/// `r` otherwise.
bool label_fits(reader& r, std::uint8_t n, std::size_t len) noexcept {
  if ((n & label_type_mask) != 0) {
    r.fail(errc::bad_label_type);
    return false;
  }
  if (len + 1 + n > max_name_length) {
    r.fail(errc::name_too_long);
    return false;
  }
  return true;
}

}  // namespace

std::size_t read_question_name(reader& r, std::span<std::uint8_t, max_name_length> lower) noexcept {
  std::size_t len = 0;
  for (;;) {
    std::uint8_t n = r.u8();
    if (!r.ok()) {
      return 0;
    }
    if ((n & label_type_mask) == pointer_type) {
      r.fail(errc::compression_in_question);
      return 0;
    }
    if (!label_fits(r, n, len)) {
      return 0;
    }
    lower[len++] = n;
    if (n == 0) {
      return len;
    }
    auto label = r.bytes(n);
    if (!r.ok()) {
      return 0;
    }
    for (std::uint8_t c : label) {
      lower[len++] = to_lower(c);
    }
  }
}

std::size_t read_name(reader& r, std::span<std::uint8_t> lower) noexcept {
  const auto msg = r.message();
  const bool store = lower.size() >= max_name_length;
  std::size_t len = 0;
  std::size_t pos = r.pos();    // where the next length octet is read
  std::size_t floor = r.pos();  // a pointer must point below the sequence it ends
  bool jumped = false;
  int hops = 0;
  for (;;) {
    if (pos >= msg.size()) {
      r.fail(errc::truncated);
      return 0;
    }
    std::uint8_t n = msg[pos];
    if ((n & label_type_mask) == pointer_type) {
      if (pos + 1 >= msg.size()) {
        r.fail(errc::truncated);
        return 0;
      }
      std::size_t target = (std::size_t{n} & 0x3Fu) << 8 | msg[pos + 1];
      if (!jumped) {
        r.skip(pos + 2 - r.pos());
        jumped = true;
      }
      if (target >= floor) {
        r.fail(errc::bad_pointer);
        return 0;
      }
      if (++hops > max_pointer_hops) {
        r.fail(errc::too_many_pointers);
        return 0;
      }
      pos = floor = target;
      continue;
    }
    if (!label_fits(r, n, len)) {
      return 0;
    }
    if (pos + 1 + n > msg.size()) {
      r.fail(errc::truncated);
      return 0;
    }
    if (store) {
      lower[len] = n;
      for (std::size_t i = 0; i < n; ++i) {
        lower[len + 1 + i] = to_lower(msg[pos + 1 + i]);
      }
    }
    len += 1 + std::size_t{n};
    pos += 1 + std::size_t{n};
    if (n == 0) {
      if (!jumped) {
        r.skip(pos - r.pos());
      }
      return r.ok() ? len : 0;
    }
  }
}

bool names_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::size_t label_count(std::span<const std::uint8_t> wire) noexcept {
  std::size_t count = 0;
  for (std::size_t i = 0; i < wire.size() && wire[i] != 0; i += 1 + std::size_t{wire[i]}) {
    ++count;
  }
  return count;
}

std::size_t from_text(std::string_view text,
                      std::span<std::uint8_t, max_name_length> out) noexcept {
  if (text == "." || text.empty()) {
    out[0] = 0;
    return 1;
  }
  std::size_t len = 1;       // octets written; out[0] is the first label's length
  std::size_t label_at = 0;  // where the current label's length octet goes
  std::size_t label_len = 0;
  bool dot_last = false;  // the text ended with an unescaped dot
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<std::uint8_t>(text[i]);
    dot_last = false;
    if (c == '.') {
      if (label_len == 0) {
        return 0;  // empty label: "a..b" or ".a"
      }
      out[label_at] = static_cast<std::uint8_t>(label_len);
      dot_last = true;
      if (i + 1 == text.size()) {
        break;
      }
      if (len + 1 > max_name_length) {
        return 0;
      }
      label_at = len++;
      label_len = 0;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) {
        return 0;
      }
      auto d = static_cast<std::uint8_t>(text[i + 1]);
      if (d >= '0' && d <= '9') {  // \DDD, RFC 1035 5.1
        if (i + 3 >= text.size()) {
          return 0;
        }
        unsigned v = 0;
        for (std::size_t k = 1; k <= 3; ++k) {
          auto e = static_cast<unsigned char>(text[i + k]);
          if (e < '0' || e > '9') {
            return 0;
          }
          v = v * 10 + (e - '0');
        }
        if (v > 255) {
          return 0;
        }
        c = static_cast<std::uint8_t>(v);
        i += 3;
      } else {
        c = d;
        i += 1;
      }
    }
    if (label_len == max_label_length || len + 1 > max_name_length) {
      return 0;
    }
    out[len++] = to_lower(c);
    ++label_len;
  }
  if (!dot_last) {
    if (label_len == 0) {
      return 0;
    }
    out[label_at] = static_cast<std::uint8_t>(label_len);
  }
  if (len + 1 > max_name_length) {
    return 0;
  }
  out[len++] = 0;
  return len;
}

std::string to_text(std::span<const std::uint8_t> wire) {
  std::string s;
  std::size_t i = 0;
  while (i < wire.size() && wire[i] != 0) {
    std::size_t n = wire[i];
    if (!s.empty()) {
      s += '.';
    }
    for (std::size_t k = 1; k <= n && i + k < wire.size(); ++k) {
      auto c = wire[i + k];
      if (c == '.' || c == '\\') {
        s += '\\';
        s += static_cast<char>(c);
      } else if (c < 0x21 || c > 0x7E) {
        char buf[5] = {'\\', static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                       static_cast<char>('0' + c % 10), 0};
        s += buf;
      } else {
        s += static_cast<char>(c);
      }
    }
    i += 1 + n;
  }
  return s.empty() ? "." : s;
}

std::string wire_from_text(std::string_view text) {
  name_buffer buf;
  std::size_t n = from_text(text, buf);
  std::string s(n, '\0');
  std::transform(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n), s.begin(),
                 [](std::uint8_t c) { return static_cast<char>(c); });
  return s;
}

}  // namespace loadns::dns
