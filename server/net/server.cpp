#include "server/net/server.hpp"

#include <random>
#include <stdexcept>

namespace loadns::net {
namespace {

/// Buckets of the rate limiter: 8 octets each, 2 MiB in all, whatever the flood. Enough for
/// 100,000 client networks being limited at once, with room to spare for the two-choice table.
constexpr std::size_t limiter_slots = std::size_t{1} << 18;

/// Counters of TCP connections per client network: 4 octets each, 256 KiB in all.
constexpr std::size_t per_source_slots = std::size_t{1} << 16;

/// Slots of the table that pairs a nonce name's A and AAAA queries: 8 octets each, 512 KiB in
/// all. A slot is overwritten by another name after about as many queries as there are slots,
/// 0.6 s at 100,000 queries a second, while a client's two queries come milliseconds apart.
constexpr std::size_t pair_slots = std::size_t{1} << 16;

/// A secret hash key: which sources share a slot must not be predictable from outside.
guard::siphash_key random_key() {
  guard::siphash_key key{};
  std::random_device rd;
  for (auto& b : key) b = static_cast<std::uint8_t>(rd());
  return key;
}

/// Likewise, for a table that hashes with a 64-bit seed.
std::uint64_t random_seed() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

std::unique_ptr<guard::rate_limiter> make_limiter(unsigned rate) {
  if (rate == 0) return nullptr;
  return std::make_unique<guard::rate_limiter>(rate, limiter_slots, random_key());
}

std::unique_ptr<guard::source_counter> make_per_source(unsigned cap) {
  if (cap == 0) return nullptr;
  return std::make_unique<guard::source_counter>(cap, per_source_slots, random_key());
}

}  // namespace

server::server(options opts, const core::snapshot_holder& holder)
    : limiter_(make_limiter(opts.rrl_rate)),
      per_source_(make_per_source(opts.tcp_max_per_source)),
      pairs_(std::make_unique<core::family_pairs>(pair_slots, random_seed())),
      opts_(std::move(opts)),
      holder_(holder) {
  opts_.limiter = limiter_.get();
  opts_.per_source = per_source_.get();
  opts_.pairs = pairs_.get();
}

server::~server() {
  stop();
}

void server::start(bool optional_v6) {
  for (unsigned i = 0; i < opts_.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i, opts_, holder_, tcp_open_));
    workers_.back()->open(optional_v6);
  }
  if (workers_.front()->listener_count() == 0) {
    throw std::runtime_error("no listen address could be opened");
  }
  for (auto& w : workers_) w->start();
}

void server::stop() {
  for (auto& w : workers_) w->stop();
}

}  // namespace loadns::net
