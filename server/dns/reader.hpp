#pragma once
// A bounds-checked read cursor over a message with a sticky error: after the first overrun
// every read yields zero and the position stops moving, so a parser reads a whole structure
// and checks ok() once (the idea of Knot's wire_ctx).

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/dns/errc.hpp"

namespace loadns::dns {

class reader {
 public:
  /// Reads `msg` from `pos`. The whole message stays visible for compression pointers.
  explicit reader(std::span<const std::uint8_t> msg, std::size_t pos = 0) noexcept
      : msg_(msg), pos_(pos <= msg.size() ? pos : msg.size()) {
    if (pos > msg.size()) {
      fail(errc::truncated);
    }
  }

  std::uint8_t u8() noexcept {
    if (!need(1)) {
      return 0;
    }
    return msg_[pos_++];
  }
  std::uint16_t u16() noexcept {
    if (!need(2)) {
      return 0;
    }
    auto v = static_cast<std::uint16_t>((msg_[pos_] << 8) | msg_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() noexcept {
    if (!need(4)) {
      return 0;
    }
    std::uint32_t v = (std::uint32_t{msg_[pos_]} << 24) | (std::uint32_t{msg_[pos_ + 1]} << 16) |
                      (std::uint32_t{msg_[pos_ + 2]} << 8) | std::uint32_t{msg_[pos_ + 3]};
    pos_ += 4;
    return v;
  }
  /// The next `n` bytes, or an empty span (and the sticky error) when fewer are left.
  std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
    if (!need(n)) {
      return {};
    }
    auto s = msg_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  void skip(std::size_t n) noexcept {
    if (need(n)) {
      pos_ += n;
    }
  }

  /// Records `e` unless an error is already recorded (the first cause wins).
  void fail(errc e) noexcept {
    if (error_ == errc{}) {
      error_ = e;
    }
  }
  bool ok() const noexcept { return error_ == errc{}; }
  errc error() const noexcept { return error_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return ok() ? msg_.size() - pos_ : 0; }
  std::span<const std::uint8_t> message() const noexcept { return msg_; }

 private:
  bool need(std::size_t n) noexcept {
    if (!ok()) {
      return false;
    }
    if (msg_.size() - pos_ < n) {
      fail(errc::truncated);
      return false;
    }
    return true;
  }

  std::span<const std::uint8_t> msg_;
  std::size_t pos_ = 0;
  errc error_{};
};

}  // namespace loadns::dns
