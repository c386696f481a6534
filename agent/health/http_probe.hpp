#pragma once
// The HTTP health check's protocol, without I/O: the URL given to `--check`, the GET request
// (HTTP/1.1, RFC 9112 section 3; `Connection: close`, no body), and the status line of the
// answer (RFC 9112 section 4), which is all the check reads.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loadns::agent {

struct http_target {
  std::string host;  ///< as written, without brackets for an IPv6 literal
  std::uint16_t port = 80;
  std::string path = "/";  ///< starts with '/', query included

  /// "http://HOST:PORT/PATH" again, for messages.
  [[nodiscard]] std::string url() const;
};

/// Parses "http://HOST[:PORT][/PATH]" (HOST a name, an IPv4 address or a bracketed IPv6
/// address). Empty with `error` set for anything else (https, user info, a bad port).
[[nodiscard]] std::optional<http_target> parse_http_url(std::string_view url, std::string& error);

/// The request bytes for `t`.
[[nodiscard]] std::string build_http_get(const http_target& t);

/// What the bytes received so far say.
struct http_status {
  enum class kind : std::uint8_t {
    need_more,  ///< no complete status line yet
    complete,   ///< `code` holds the status code
    malformed,  ///< not an HTTP/1.x status line
  };
  kind what = kind::need_more;
  int code = 0;
};

/// Reads the status line "HTTP/1.x SP 3DIGIT SP reason CRLF" at the start of `received`.
/// A line longer than 8 KiB without its CRLF is malformed.
[[nodiscard]] http_status parse_http_status(std::string_view received) noexcept;

}  // namespace loadns::agent
