#include "server/core/zone_index.hpp"

namespace loadns::core {

const name_node* zone_index::find(std::span<const std::uint8_t> lower_wire) const noexcept {
  auto it = nodes_.find(key(lower_wire));
  return it == nodes_.end() ? nullptr : &it->second;
}

zone_index::encloser zone_index::closest_encloser(
    std::span<const std::uint8_t> lower_wire) const noexcept {
  // Walk the suffixes from the name itself up to the TLD; the root is never a zone here.
  for (std::size_t at = 0; at < lower_wire.size() && lower_wire[at] != 0;
       at += 1 + std::size_t{lower_wire[at]}) {
    if (const name_node* node = find(lower_wire.subspan(at))) {
      return {node, at};
    }
  }
  return {};
}

std::uint32_t zone_index::add_zone(zone z) {
  zones_.push_back(std::move(z));
  return static_cast<std::uint32_t>(zones_.size() - 1);
}

name_node& zone_index::insert(std::span<const std::uint8_t> lower_wire, bool& created) {
  auto [it, inserted] = nodes_.try_emplace(std::string(key(lower_wire)));
  created = inserted;
  return it->second;
}

name_node* zone_index::find_mutable(std::span<const std::uint8_t> lower_wire) noexcept {
  auto it = nodes_.find(key(lower_wire));
  return it == nodes_.end() ? nullptr : &it->second;
}

}  // namespace loadns::core
