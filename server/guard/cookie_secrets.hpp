#pragma once
// The cookie secrets every answering thread reads and one thread replaces when the secret
// file changes. A sequence lock over atomic words: a reader never waits for a lock and never
// allocates; it only retries in the rare instant a rotation is being written.

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

#include "server/guard/server_cookie.hpp"

namespace loadns::guard {

class cookie_secrets {
 public:
  explicit cookie_secrets(const cookie_keys& initial) noexcept { store(initial); }
  cookie_secrets(const cookie_secrets&) = delete;
  cookie_secrets& operator=(const cookie_secrets&) = delete;

  /// Replaces the keys. One writer at a time (the secret file watcher).
  void store(const cookie_keys& keys) noexcept;
  /// The keys as last stored; any thread, lock free.
  cookie_keys load() const noexcept;
  /// How many times store() ran (1 after construction); for tests and logs.
  std::uint32_t generation() const noexcept { return seq_.load(std::memory_order_acquire) / 2; }

 private:
  static constexpr std::size_t word_count = 5;  // current (2), previous (2), has_previous
  std::atomic<std::uint32_t> seq_{0};           // odd while a store is under way
  std::array<std::atomic<std::uint64_t>, word_count> words_{};
};

/// Reads the text of a secret file: the first line the secret cookies are made with, an
/// optional second line a secret also accepted (RFC 9018 5: during a rotation every server
/// first accepts the new secret, then makes cookies with it, then drops the old one). Each
/// is 32 hexadecimal digits (128 bits, RFC 9018 4.4), optionally prefixed "0x"; blank lines
/// and lines starting with '#' are skipped. Empty result: not a valid secret file.
std::optional<cookie_keys> parse_secret_text(std::string_view text) noexcept;

}  // namespace loadns::guard
