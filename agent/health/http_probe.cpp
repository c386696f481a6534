#include "agent/health/http_probe.hpp"

#include <charconv>

namespace loadns::agent {

std::string http_target::url() const {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + path;
}

std::optional<http_target> parse_http_url(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    error = "an HTTP check is http://HOST:PORT/PATH (https is not supported): " + std::string(url);
    return std::nullopt;
  }
  std::string_view rest = url.substr(scheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  http_target t;
  if (slash != std::string_view::npos) {
    t.path = std::string(rest.substr(slash));
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "no user information in a check URL: " + std::string(url);
    return std::nullopt;
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unclosed '[' in " + std::string(url);
      return std::nullopt;
    }
    t.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "garbage after ']' in " + std::string(url);
        return std::nullopt;
      }
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (t.host.empty()) {
    error = "no host in " + std::string(url);
    return std::nullopt;
  }
  for (const char c : t.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      error = "blank or control character in the path of " + std::string(url);
      return std::nullopt;
    }
  }
  for (const char c : t.host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '?' || c == '#') {
      error = "bad character in the host of " + std::string(url);
      return std::nullopt;
    }
  }
  if (!port_text.empty() || authority.ends_with(':')) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      error = "bad port in " + std::string(url);
      return std::nullopt;
    }
    t.port = static_cast<std::uint16_t>(port);
  }
  return t;
}

std::string build_http_get(const http_target& t) {
  const bool v6 = t.host.find(':') != std::string::npos;
  const std::string host = (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
  return "GET " + t.path + " HTTP/1.1\r\nHost: " + host +
         "\r\nUser-Agent: loadns-agent\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

http_status parse_http_status(std::string_view received) noexcept {
  constexpr std::size_t max_line = 8192;
  const std::size_t end = received.find("\r\n");
  if (end == std::string_view::npos) {
    // Reject early what can no longer become a status line.
    constexpr std::string_view start = "HTTP/1.";
    const std::size_t n = std::min(received.size(), start.size());
    if (received.substr(0, n) != start.substr(0, n) || received.size() > max_line) {
      return {http_status::kind::malformed, 0};
    }
    return {http_status::kind::need_more, 0};
  }
  const std::string_view line = received.substr(0, end);
  // "HTTP/1.1 200 OK": version (8), SP, three digits, then SP reason (may be empty) or end.
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[7] < '0' || line[7] > '9' ||
      line[8] != ' ') {
    return {http_status::kind::malformed, 0};
  }
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      return {http_status::kind::malformed, 0};
    }
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') {
    return {http_status::kind::malformed, 0};
  }
  if (code < 100) {
    return {http_status::kind::malformed, 0};
  }
  return {http_status::kind::complete, code};
}

}  // namespace loadns::agent
