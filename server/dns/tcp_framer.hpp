#pragma once
// DNS over TCP framing (RFC 1035 4.2.2, RFC 7766 8): every message is preceded by its length
// as two bytes in network order. The framer only splits a byte stream into messages; it does
// no I/O, so the same code is driven by the TCP session, the unit tests and the fuzzer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace loadns::dns {

class tcp_framer {
 public:
  /// The largest message a 16-bit length prefix can announce.
  static constexpr std::size_t max_message_limit = 65535;

  enum class status {
    need_more,  ///< no complete message buffered: read more (into prepare()) and commit()
    frame,      ///< message() is the next complete message
    too_large,  ///< the next message announces more than the limit: close the stream
  };

  /// `max_message`: longer messages are reported as too_large (at most 65535).
  /// `initial_capacity`: the buffer's first size; it grows once to hold the longest message.
  explicit tcp_framer(std::size_t max_message = max_message_limit,
                      std::size_t initial_capacity = 4096);

  /// Room to read into, never empty unless the last next() said too_large. Moves a partial
  /// message to the front of the buffer first; message() spans are invalid afterwards.
  std::span<std::uint8_t> prepare();
  /// `n` bytes were written at the start of the last prepare()'s span.
  void commit(std::size_t n) noexcept;

  /// The next step: a complete message (then message() holds it until the next prepare()),
  /// the need for more bytes, or a message over the limit. Call until need_more.
  status next() noexcept;
  std::span<const std::uint8_t> message() const noexcept { return message_; }

  /// No byte of an unfinished message is buffered: the stream is between messages.
  bool idle() const noexcept { return filled_ == consumed_; }

  /// Copies `bytes` in through prepare()/commit() and appends every message it completes to
  /// `out` (as copies). Returns need_more, or too_large once a message exceeds the limit.
  /// For tests and the fuzzer; the TCP session reads into prepare() directly.
  status feed(std::span<const std::uint8_t> bytes, std::vector<std::vector<std::uint8_t>>& out);

 private:
  std::size_t max_message_;
  std::vector<std::uint8_t> buffer_;
  std::size_t consumed_ = 0;  ///< start of the first message not yet returned
  std::size_t filled_ = 0;    ///< end of the bytes read
  std::span<const std::uint8_t> message_;
};

}  // namespace loadns::dns
