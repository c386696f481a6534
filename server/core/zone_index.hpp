#pragma once
// Every name the server is authoritative for, keyed by its lower-case wire form: zone apexes,
// static records, service names and the empty non-terminals between them. Built once per
// snapshot; the per-packet lookups hash a stack buffer (transparent hashing), so a query
// allocates nothing. Record data is pre-rendered in wire form so answering only copies.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/guard/table_hash.hpp"

namespace loadns::core {

/// A record for the additional section, prepared when the snapshot is built (the addresses
/// of in-zone name servers and mail exchangers).
struct extra_record {
  std::vector<std::uint8_t> owner;  ///< lower-case wire name
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

/// All records of one owner and type (RFC 2181 5), RDATA in wire form with names
/// uncompressed and lower case (the response writer compresses them).
struct rrset {
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::vector<std::uint8_t>> rdata;
  std::vector<extra_record> additional;
};

inline constexpr std::uint32_t no_service = std::numeric_limits<std::uint32_t>::max();

/// One name that exists in a zone.
struct name_node {
  std::string text;        ///< presentation form, for errors and logs
  std::uint32_t zone = 0;  ///< index into zone_index::zones()
  bool apex = false;
  std::uint32_t service = no_service;  ///< index into snapshot::services, or no_service
  std::vector<rrset> rrsets;           ///< static records, one set per type

  /// The static records of `type` at this name, or null.
  const rrset* find(std::uint16_t type) const noexcept {
    for (const auto& set : rrsets) {
      if (set.type == type) {
        return &set;
      }
    }
    return nullptr;
  }
  /// Exists only because names below it do (RFC 8020: NODATA, not NXDOMAIN).
  bool empty_non_terminal() const noexcept {
    return !apex && service == no_service && rrsets.empty();
  }
};

struct zone {
  std::string name;                ///< presentation form, lower case, no trailing dot
  std::vector<std::uint8_t> wire;  ///< lower-case wire form
  rrset soa;                       ///< one record, TTL = the zone's ttl
  rrset ns;                        ///< the NS set; `additional` holds in-zone glue
  /// TTL of the SOA in negative answers: min(SOA TTL, MINIMUM) (RFC 2308 3, 5).
  std::uint32_t negative_ttl = 0;
  std::vector<std::uint32_t> services;  ///< indexes into snapshot::services
};

class zone_index {
 public:
  /// The node of exactly `lower_wire` (an uncompressed lower-case wire name), or null.
  const name_node* find(std::span<const std::uint8_t> lower_wire) const noexcept;

  /// The nearest existing name at or above `lower_wire`, and where its suffix starts in
  /// `lower_wire` (0: the name itself exists). `node` is null when no zone encloses the name.
  struct encloser {
    const name_node* node = nullptr;
    std::size_t offset = 0;
  };
  encloser closest_encloser(std::span<const std::uint8_t> lower_wire) const noexcept;

  std::span<const zone> zones() const noexcept { return zones_; }
  const zone& zone_at(std::uint32_t index) const noexcept { return zones_[index]; }
  std::size_t node_count() const noexcept { return nodes_.size(); }

  // Building, by snapshot_builder only.

  /// Appends a zone; returns its index.
  std::uint32_t add_zone(zone z);
  zone& zone_at(std::uint32_t index) noexcept { return zones_[index]; }
  /// The node of `lower_wire`, created (in no zone, with no data) when missing; `created`
  /// tells which.
  name_node& insert(std::span<const std::uint8_t> lower_wire, bool& created);
  name_node* find_mutable(std::span<const std::uint8_t> lower_wire) noexcept;

  /// Every node, for the builder's final passes.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& [key, node] : nodes_) {
      f(std::string_view(key), node);
    }
  }

 private:
  // Every query probes this map once per suffix of its name, so its hash is the guard's
  // folded-multiply one (std::hash's murmur was 7% of a UDP answer's instructions). Its key
  // may be fixed: the map's names are the operator's, and a query only looks them up, so no
  // choice of query names can lengthen a bucket.
  struct key_hash {
    using is_transparent = void;
    static constexpr guard::table_hash hash{
        // digits of pi: any fixed key does
        {0x243f6a8885a308d3, 0x13198a2e03707344, 0xa4093822299f31d0, 0x082efa98ec4e6c89}};
    std::size_t operator()(std::string_view s) const noexcept {
      return hash.lower(0, 0, {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    }
  };
  static std::string_view key(std::span<const std::uint8_t> wire) noexcept {
    return {reinterpret_cast<const char*>(wire.data()), wire.size()};  // NOLINT: octets as chars
  }

  std::vector<zone> zones_;
  std::unordered_map<std::string, name_node, key_hash, std::equal_to<>> nodes_;
};

}  // namespace loadns::core
