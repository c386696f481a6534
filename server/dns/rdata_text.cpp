#include "server/dns/rdata_text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

#include "server/dns/name.hpp"
#include "server/dns/types.hpp"

namespace loadns::dns {
namespace {

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_lower(static_cast<std::uint8_t>(x)) == to_lower(static_cast<std::uint8_t>(y));
         });
}

// TXT data (RFC 1035 5.1): one or more "quoted" character-strings with \" \\ \DDD escapes.
// Text without any quote is taken as one string, so `v=spf1 -all` is not split at spaces;
// it is cut into 255-octet strings when longer (RFC 7208 3.3 joins them again).
bool render_txt(std::string_view data, std::vector<std::uint8_t>& rdata, std::string& error) {
  data = trim_blanks(data);
  if (data.find('"') == std::string_view::npos) {
    do {
      auto piece = data.substr(0, 255);
      rdata.push_back(static_cast<std::uint8_t>(piece.size()));
      rdata.insert(rdata.end(), piece.begin(), piece.end());
      data.remove_prefix(piece.size());
    } while (!data.empty());
    return true;
  }
  std::size_t i = 0;
  while (i < data.size()) {
    if (data[i] == ' ' || data[i] == '\t') {
      ++i;
      continue;
    }
    if (data[i] != '"') {
      error = "TXT strings must all be quoted";
      return false;
    }
    ++i;
    std::size_t length_at = rdata.size();
    rdata.push_back(0);
    std::size_t length = 0;
    bool closed = false;
    while (i < data.size()) {
      char c = data[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      auto octet = static_cast<std::uint8_t>(c);
      if (c == '\\') {
        if (i >= data.size()) {
          break;
        }
        if (data[i] >= '0' && data[i] <= '9') {
          unsigned v = 0;
          auto r = std::from_chars(data.data() + i, data.data() + std::min(i + 3, data.size()), v);
          if (r.ptr != data.data() + i + 3 || v > 255) {
            error = "bad \\DDD escape in TXT";
            return false;
          }
          octet = static_cast<std::uint8_t>(v);
          i += 3;
        } else {
          octet = static_cast<std::uint8_t>(data[i++]);
        }
      }
      if (++length > 255) {
        error = "TXT string longer than 255 octets";
        return false;
      }
      rdata.push_back(octet);
    }
    if (!closed) {
      error = "unterminated TXT string";
      return false;
    }
    rdata[length_at] = static_cast<std::uint8_t>(length);
  }
  if (rdata.empty()) {
    rdata.push_back(0);
  }
  return true;
}

}  // namespace

std::string_view trim_blanks(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool name_from_text(std::string_view text, std::vector<std::uint8_t>& wire) {
  name_buffer buf;
  const std::size_t n = from_text(text, buf);
  if (n <= 1) {
    return false;  // invalid, or the root
  }
  wire.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  return true;
}

bool address_from_text(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
  // PostgreSQL prints an inet with a full-length mask without it; accept /32 and /128 too.
  std::string s(trim_blanks(text));
  if (auto slash = s.find('/'); slash != std::string::npos) {
    std::string_view mask = std::string_view(s).substr(slash + 1);
    const bool colon = s.find(':') != std::string::npos;
    if (mask != (colon ? "128" : "32")) {
      return false;
    }
    s.resize(slash);
  }
  out = {};
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

bool rdata_from_text(std::string_view type, std::string_view data, std::uint16_t& rrtype,
                     std::vector<std::uint8_t>& rdata, std::string& error) {
  rdata.clear();
  std::string text(trim_blanks(data));
  if (iequals(type, "A") || iequals(type, "AAAA")) {
    const bool v6 = type.size() == 4;
    rrtype = v6 ? type::aaaa : type::a;
    std::array<std::uint8_t, 16> addr{};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), addr.data()) != 1) {
      error = v6 ? "invalid IPv6 address" : "invalid IPv4 address";
      return false;
    }
    rdata.assign(addr.begin(), addr.begin() + (v6 ? 16 : 4));
    return true;
  }
  if (iequals(type, "CNAME")) {
    rrtype = type::cname;
    if (!name_from_text(text, rdata)) {
      error = "invalid target name";
      return false;
    }
    return true;
  }
  if (iequals(type, "MX")) {
    rrtype = type::mx;
    std::string_view rest(text);
    unsigned preference = 0;
    auto r = std::from_chars(rest.data(), rest.data() + rest.size(), preference);
    if (r.ec != std::errc{} || preference > 0xFFFF || r.ptr == rest.data()) {
      error = "MX data must be 'PREFERENCE EXCHANGE'";
      return false;
    }
    rest.remove_prefix(static_cast<std::size_t>(r.ptr - rest.data()));
    std::vector<std::uint8_t> exchange;
    if (rest.empty() || (rest.front() != ' ' && rest.front() != '\t') ||
        !name_from_text(trim_blanks(rest), exchange)) {
      error = "MX data must be 'PREFERENCE EXCHANGE'";
      return false;
    }
    put16(rdata, static_cast<std::uint16_t>(preference));
    rdata.insert(rdata.end(), exchange.begin(), exchange.end());
    return true;
  }
  if (iequals(type, "TXT")) {
    rrtype = type::txt;
    if (!render_txt(data, rdata, error)) {
      return false;
    }
    if (rdata.size() > 0xFFFF) {
      error = "TXT data too long";
      return false;
    }
    return true;
  }
  error = "unsupported type (A, AAAA, CNAME, MX, TXT)";
  return false;
}

}  // namespace loadns::dns
