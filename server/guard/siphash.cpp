#include "server/guard/siphash.hpp"

#include <bit>

namespace loadns::guard {
namespace {

std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// The state of one hash: four words, the pending tail of up to 7 octets, the length so far.
class sip_state {
 public:
  explicit sip_state(const siphash_key& key) noexcept {
    const std::uint64_t k0 = load_le64(key.data());
    const std::uint64_t k1 = load_le64(key.data() + 8);
    v0_ = k0 ^ 0x736f6d6570736575ULL;  // "somepseudorandomlygeneratedbytes"
    v1_ = k1 ^ 0x646f72616e646f6dULL;
    v2_ = k0 ^ 0x6c7967656e657261ULL;
    v3_ = k1 ^ 0x7465646279746573ULL;
  }

  void update(std::span<const std::uint8_t> data) noexcept {
    std::size_t i = 0;
    // Complete a partial word left by the previous part.
    while (pending_ != 0 && i < data.size()) {
      tail_ |= std::uint64_t{data[i++]} << (8 * pending_);
      if (++pending_ == 8) {
        compress(tail_);
        tail_ = 0;
        pending_ = 0;
      }
    }
    for (; i + 8 <= data.size(); i += 8) compress(load_le64(data.data() + i));
    for (; i < data.size(); ++i) tail_ |= std::uint64_t{data[i]} << (8 * pending_++);
    length_ += data.size();
  }

  std::uint64_t finish() noexcept {
    compress(tail_ | (std::uint64_t{length_ & 0xff} << 56));
    v2_ ^= 0xff;
    for (int r = 0; r < 4; ++r) round();  // d = 4 finalization rounds
    return v0_ ^ v1_ ^ v2_ ^ v3_;
  }

 private:
  void round() noexcept {
    v0_ += v1_;
    v1_ = std::rotl(v1_, 13);
    v1_ ^= v0_;
    v0_ = std::rotl(v0_, 32);
    v2_ += v3_;
    v3_ = std::rotl(v3_, 16);
    v3_ ^= v2_;
    v0_ += v3_;
    v3_ = std::rotl(v3_, 21);
    v3_ ^= v0_;
    v2_ += v1_;
    v1_ = std::rotl(v1_, 17);
    v1_ ^= v2_;
    v2_ = std::rotl(v2_, 32);
  }
  void compress(std::uint64_t m) noexcept {
    v3_ ^= m;
    round();  // c = 2 compression rounds
    round();
    v0_ ^= m;
  }

  std::uint64_t v0_, v1_, v2_, v3_;
  std::uint64_t tail_ = 0;
  unsigned pending_ = 0;
  std::size_t length_ = 0;
};

}  // namespace

std::uint64_t siphash24(const siphash_key& key, std::span<const std::uint8_t> message) noexcept {
  sip_state s(key);
  s.update(message);
  return s.finish();
}

std::uint64_t siphash24(const siphash_key& key,
                        std::span<const std::span<const std::uint8_t>> parts) noexcept {
  sip_state s(key);
  for (const auto part : parts) s.update(part);
  return s.finish();
}

}  // namespace loadns::guard
