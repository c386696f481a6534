#pragma once
// Which zone, name and service a query name is about. A service matches its own name and,
// when it accepts nonces, `<nonce>.<service>` and `<nonce>-<first label>.<rest>` (the seed
// style, `1596207957-api.example.com`), a nonce being 1 to 48 of [A-Za-z0-9_-]. Nothing
// looser: `evilapi.example.com` and `x.y.api.example.com` are not the service.

#include <cstddef>
#include <cstdint>
#include <span>

#include "server/core/snapshot.hpp"

namespace loadns::core {

inline constexpr std::size_t max_nonce_length = 48;

struct match_result {
  const zone* zn = nullptr;         ///< the enclosing zone; null: not ours
  const name_node* node = nullptr;  ///< the node of exactly this name, if it exists
  const service* svc = nullptr;     ///< the service asked for, by its name or a nonce form
};

/// Matches `lower_wire`, an uncompressed lower-case wire name. A name that exists in the
/// index is taken as itself (its records win over a nonce reading). Allocation free.
match_result match(const snapshot& snap, std::span<const std::uint8_t> lower_wire) noexcept;

/// True when `text` is a valid nonce: 1..48 octets of letters, digits, '_' or '-'.
bool valid_nonce(std::span<const std::uint8_t> text) noexcept;

}  // namespace loadns::core
