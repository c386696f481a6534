#pragma once
// A bounds-checked cursor over a byte span with a sticky error: after the first overrun every
// read yields zero and ok() stays false, so a parser reads a whole record and checks once.
// Netlink headers are in host byte order; ports and addresses inside inet_diag are in network
// byte order, hence both flavours.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace loadns::agent {

class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return ok_ ? bytes_.size() - offset_ : 0; }

  std::uint8_t u8() noexcept {
    std::uint8_t v = 0;
    copy(&v, 1);
    return v;
  }
  /// Host byte order (netlink message and attribute headers).
  std::uint16_t u16_host() noexcept { return host<std::uint16_t>(); }
  std::uint32_t u32_host() noexcept { return host<std::uint32_t>(); }
  std::int32_t i32_host() noexcept { return host<std::int32_t>(); }
  /// Network byte order (ports in inet_diag_sockid).
  std::uint16_t u16_be() noexcept {
    std::uint8_t b[2] = {};
    copy(b, 2);
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
  }
  /// Copies n raw bytes into out (zeros after an overrun).
  void bytes(std::uint8_t* out, std::size_t n) noexcept { copy(out, n); }
  void skip(std::size_t n) noexcept {
    if (!ok_ || n > bytes_.size() - offset_) {
      ok_ = false;
      return;
    }
    offset_ += n;
  }

 private:
  template <typename T>
  T host() noexcept {
    T v{};
    copy(&v, sizeof v);
    return v;
  }
  void copy(void* out, std::size_t n) noexcept {
    if (!ok_ || n > bytes_.size() - offset_) {
      ok_ = false;
      std::memset(out, 0, n);
      return;
    }
    std::memcpy(out, bytes_.data() + offset_, n);
    offset_ += n;
  }

  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
  bool ok_ = true;
};

}  // namespace loadns::agent
