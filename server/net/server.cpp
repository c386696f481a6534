#include "server/net/server.hpp"

#include <random>
#include <stdexcept>

namespace loadns::net {
namespace {

/// Buckets of the rate limiter: 8 octets each, 2 MiB in all, whatever the flood. Enough for
/// 100,000 client networks being limited at once, with room to spare for the two-choice table.
constexpr std::size_t limiter_slots = std::size_t{1} << 18;

std::unique_ptr<guard::rate_limiter> make_limiter(unsigned rate) {
  if (rate == 0) return nullptr;
  // A secret hash key: which sources share a slot must not be predictable from outside.
  guard::siphash_key key{};
  std::random_device rd;
  for (auto& b : key) b = static_cast<std::uint8_t>(rd());
  return std::make_unique<guard::rate_limiter>(rate, limiter_slots, key);
}

}  // namespace

server::server(options opts, const core::snapshot_holder& holder)
    : limiter_(make_limiter(opts.rrl_rate)), opts_(std::move(opts)), holder_(holder) {
  opts_.limiter = limiter_.get();
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
