#pragma once
// A bounds-checked write cursor into a caller's buffer with a sticky error: a write that does
// not fit writes nothing and sets no_space; the caller checks once and may rewind to a mark.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "server/dns/errc.hpp"

namespace loadns::dns {

class writer {
 public:
  explicit writer(std::span<std::uint8_t> out) noexcept : out_(out), limit_(out.size()) {}

  void u8(std::uint8_t v) noexcept {
    if (need(1)) {
      out_[pos_++] = v;
    }
  }
  void u16(std::uint16_t v) noexcept {
    if (!need(2)) {
      return;
    }
    out_[pos_] = static_cast<std::uint8_t>(v >> 8);
    out_[pos_ + 1] = static_cast<std::uint8_t>(v);
    pos_ += 2;
  }
  void u32(std::uint32_t v) noexcept {
    if (!need(4)) {
      return;
    }
    out_[pos_] = static_cast<std::uint8_t>(v >> 24);
    out_[pos_ + 1] = static_cast<std::uint8_t>(v >> 16);
    out_[pos_ + 2] = static_cast<std::uint8_t>(v >> 8);
    out_[pos_ + 3] = static_cast<std::uint8_t>(v);
    pos_ += 4;
  }
  void bytes(std::span<const std::uint8_t> b) noexcept {
    if (!need(b.size())) {
      return;
    }
    std::copy(b.begin(), b.end(), out_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ += b.size();
  }
  /// Overwrites two bytes already written (counts, RDLENGTH).
  void patch16(std::size_t at, std::uint16_t v) noexcept {
    if (at + 2 > pos_) {
      return;
    }
    out_[at] = static_cast<std::uint8_t>(v >> 8);
    out_[at + 1] = static_cast<std::uint8_t>(v);
  }

  /// Forgets everything after `pos` and clears the error: undoes a record that did not fit.
  void rewind(std::size_t pos) noexcept {
    pos_ = std::min(pos, pos_);
    error_ = errc{};
  }
  /// Writes stop at `limit` bytes (at most the buffer's size): the UDP size, or room kept for
  /// the OPT record that must still fit after the sections.
  void set_limit(std::size_t limit) noexcept { limit_ = std::min(limit, out_.size()); }
  std::size_t limit() const noexcept { return limit_; }

  bool ok() const noexcept { return error_ == errc{}; }
  errc error() const noexcept { return error_; }
  std::size_t pos() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return limit_ > pos_ ? limit_ - pos_ : 0; }
  std::span<std::uint8_t> buffer() const noexcept { return out_; }
  std::span<const std::uint8_t> written() const noexcept { return out_.first(pos_); }

 private:
  bool need(std::size_t n) noexcept {
    if (!ok()) {
      return false;
    }
    if (remaining() < n) {
      error_ = errc::no_space;
      return false;
    }
    return true;
  }

  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  std::size_t limit_ = 0;
  errc error_{};
};

}  // namespace loadns::dns
