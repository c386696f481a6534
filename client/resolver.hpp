#pragma once
// A small synchronous DNS stub over c-ares 1.18: one channel, one query at a time, the
// sockets driven by poll() here (c-ares 1.18 has no event thread of its own).

#include <ares.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/status.hpp"

namespace loadns::client {

/// The record type asked for: A for IPv4 backends, AAAA for IPv6 ones.
enum class record_type { a, aaaa };

/// Parses "A" or "AAAA" (any case); returns false otherwise.
bool parse_record_type(std::string_view word, record_type& out) noexcept;
std::string_view to_string(record_type type) noexcept;

struct resolver_options {
  /// Servers as "IP[:PORT]" separated by commas ("127.0.0.1:5300", "[::1]:5300",
  /// "192.0.2.53"); empty: the system's resolvers from /etc/resolv.conf.
  std::string servers;
  /// Deadline for one whole lookup, retransmissions included.
  std::chrono::milliseconds timeout{5000};
  /// UDP tries per server within the deadline (c-ares retransmits with back-off).
  int tries = 3;
};

/// The outcome of one lookup.
struct lookup_result {
  lookup_status status = lookup_status::error;
  /// Addresses in the order of the answer section, in presentation form.
  std::vector<std::string> addresses;
  /// TTL of the first address.
  std::uint32_t ttl = 0;
  /// c-ares' own description of a failure, for messages.
  std::string detail;
};

/// Owns one c-ares channel. Not thread-safe: use one resolver per thread.
class resolver {
 public:
  /// Initialises c-ares and sets the servers. Throws std::invalid_argument when
  /// `options.servers` does not parse, std::runtime_error when c-ares cannot start.
  explicit resolver(const resolver_options& options);
  ~resolver();
  resolver(const resolver&) = delete;
  resolver& operator=(const resolver&) = delete;

  /// Resolves `name` (sent as given, no search list: nonce names are fully qualified)
  /// for `type` in class IN and waits for the answer or options.timeout. Never throws
  /// except std::bad_alloc.
  lookup_result resolve(std::string_view name, record_type type);

 private:
  void drive(const bool& done, std::chrono::steady_clock::time_point deadline);

  ares_channel channel_ = nullptr;
  std::chrono::milliseconds timeout_;
};

}  // namespace loadns::client
