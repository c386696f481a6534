#include "server/core/match.hpp"

#include <algorithm>
#include <array>

#include "server/dns/name.hpp"

namespace loadns::core {
namespace {

constexpr std::array<bool, 256> nonce_chars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = true;
  }
  t['_'] = true;
  t['-'] = true;
  return t;
}();

const service* nonce_service(const snapshot& snap, const name_node* node) noexcept {
  if (node == nullptr || node->service == no_service) {
    return nullptr;
  }
  const service& svc = snap.services[node->service];
  return svc.accept_nonce ? &svc : nullptr;
}

}  // namespace

bool valid_nonce(std::span<const std::uint8_t> text) noexcept {
  if (text.empty() || text.size() > max_nonce_length) {
    return false;
  }
  return std::all_of(text.begin(), text.end(), [](std::uint8_t c) { return nonce_chars[c]; });
}

match_result match(const snapshot& snap, std::span<const std::uint8_t> lower_wire) noexcept {
  const auto enc = snap.zones.closest_encloser(lower_wire);
  if (enc.node == nullptr) {
    return {};
  }
  match_result m;
  m.zn = &snap.zones.zone_at(enc.node->zone);
  if (enc.offset == 0) {
    m.node = enc.node;
    if (enc.node->service != no_service) {
      m.svc = &snap.services[enc.node->service];
    }
    return m;
  }
  // The name does not exist. Both nonce forms are one label below an existing name (the
  // service itself, or the parent the service shares with the query), so nothing deeper can
  // match.
  const std::size_t first = lower_wire[0];
  if (enc.offset != 1 + first) {
    return m;
  }
  const auto label = lower_wire.subspan(1, first);
  const auto rest = lower_wire.subspan(enc.offset);

  // <nonce>.<service>
  if (valid_nonce(label)) {
    if (const service* svc = nonce_service(snap, enc.node)) {
      m.svc = svc;
      return m;
    }
  }
  // <nonce>-<first label>.<rest>: the nonce may itself hold '-', so try each split, shortest
  // nonce (longest service label) first.
  dns::name_buffer candidate;
  for (std::size_t dash = 1; dash + 1 < label.size() && dash <= max_nonce_length; ++dash) {
    if (label[dash] != '-') {
      continue;
    }
    if (!valid_nonce(label.first(dash))) {
      break;  // the nonce only grows from here
    }
    const auto service_label = label.subspan(dash + 1);
    candidate[0] = static_cast<std::uint8_t>(service_label.size());
    std::copy(service_label.begin(), service_label.end(), candidate.begin() + 1);
    std::copy(rest.begin(), rest.end(),
              candidate.begin() + 1 + static_cast<std::ptrdiff_t>(service_label.size()));
    const auto name =
        std::span<const std::uint8_t>(candidate).first(1 + service_label.size() + rest.size());
    if (const service* svc = nonce_service(snap, snap.zones.find(name))) {
      m.svc = svc;
      return m;
    }
  }
  return m;
}

}  // namespace loadns::core
