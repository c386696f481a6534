#include "server/dns/tcp_framer.hpp"

#include <algorithm>
#include <cstring>

namespace loadns::dns {

namespace {
constexpr std::size_t prefix = 2;
}

tcp_framer::tcp_framer(std::size_t max_message, std::size_t initial_capacity)
    : max_message_(std::min(max_message, max_message_limit)),
      buffer_(std::clamp(initial_capacity, prefix + 1, prefix + max_message_)) {}

std::span<std::uint8_t> tcp_framer::prepare() {
  message_ = {};
  if (consumed_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + consumed_, filled_ - consumed_);
    filled_ -= consumed_;
    consumed_ = 0;
  }
  // A message longer than the buffer, or a buffer full of a partial one: grow once to the
  // longest message, so a large query costs one allocation, not a doubling each read.
  std::size_t needed = filled_ + 1;
  if (filled_ >= prefix) {
    const std::size_t length = (std::size_t{buffer_[0]} << 8) | buffer_[1];
    if (length <= max_message_) needed = std::max(needed, prefix + length);
  }
  if (needed > buffer_.size()) buffer_.resize(std::max(buffer_.size(), prefix + max_message_));
  return std::span<std::uint8_t>(buffer_).subspan(filled_);
}

void tcp_framer::commit(std::size_t n) noexcept {
  filled_ += std::min(n, buffer_.size() - filled_);
}

tcp_framer::status tcp_framer::next() noexcept {
  message_ = {};
  const std::size_t available = filled_ - consumed_;
  if (available < prefix) return status::need_more;
  const std::size_t length = (std::size_t{buffer_[consumed_]} << 8) | buffer_[consumed_ + 1];
  if (length > max_message_) return status::too_large;
  if (available - prefix < length) return status::need_more;
  message_ = std::span<const std::uint8_t>(buffer_).subspan(consumed_ + prefix, length);
  consumed_ += prefix + length;
  return status::frame;
}

tcp_framer::status tcp_framer::feed(std::span<const std::uint8_t> bytes,
                                    std::vector<std::vector<std::uint8_t>>& out) {
  for (;;) {
    status s;
    while ((s = next()) == status::frame) out.emplace_back(message_.begin(), message_.end());
    if (s == status::too_large || bytes.empty()) return s;
    const auto room = prepare();
    const std::size_t n = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), n);
    commit(n);
    bytes = bytes.subspan(n);
  }
}

}  // namespace loadns::dns
