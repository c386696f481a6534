#pragma once
// Domain names in wire form (RFC 1035 3.1): the one name parser, with hostile-input limits
// checked on every label and every pointer hop, ASCII case folding by table (never the
// locale), and conversion from presentation form for data read from the database.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "server/dns/errc.hpp"
#include "server/dns/reader.hpp"

namespace loadns::dns {

inline constexpr std::size_t max_name_length = 255;  ///< wire octets incl. the root label
inline constexpr std::size_t max_label_length = 63;
/// A real message never needs more hops than a name has labels; 127 labels is the most a
/// 255-octet name holds, but no honest encoder chains more than a handful.
inline constexpr int max_pointer_hops = 32;

/// A buffer for one uncompressed wire name.
using name_buffer = std::array<std::uint8_t, max_name_length>;

/// ASCII lower-case folding table: 'A'..'Z' -> 'a'..'z', every other octet unchanged.
extern const std::array<std::uint8_t, 256> lower_table;

inline std::uint8_t to_lower(std::uint8_t c) noexcept {
  return lower_table[c];
}

/// Reads an uncompressed name at `r` (the question: compression there is refused, as Knot
/// does). Writes its lower-case wire form to `lower` and returns its length including the
/// root octet; on error returns 0 and records the cause in `r`.
std::size_t read_question_name(reader& r, std::span<std::uint8_t, max_name_length> lower) noexcept;

/// Reads a possibly compressed name at `r`: pointers must point strictly before the label
/// sequence they end (so they cannot loop) and are capped at max_pointer_hops. `r` ends after
/// the name's first pointer or root octet. When `lower` is not empty (it then must hold
/// max_name_length octets) the decompressed lower-case name is written there. Returns the
/// decompressed length, 0 on error (recorded in `r`).
std::size_t read_name(reader& r, std::span<std::uint8_t> lower = {}) noexcept;

/// True when the uncompressed wire names `a` and `b` are equal ignoring ASCII case.
bool names_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

/// Number of labels before the root in an uncompressed wire name.
std::size_t label_count(std::span<const std::uint8_t> wire) noexcept;

/// Converts presentation form (`api.example.com`, trailing dot optional, `\.` and `\DDD`
/// escapes, "." or "" for the root) to lower-case wire form in `out`. Returns the length, or
/// 0 when the text is not a valid name. Not for the packet path's hot loop but allocation free.
std::size_t from_text(std::string_view text, std::span<std::uint8_t, max_name_length> out) noexcept;

/// Converts an uncompressed wire name to presentation form without the trailing dot
/// (root: "."), escaping as RFC 4343 2.1 describes. For logs, errors and tests.
std::string to_text(std::span<const std::uint8_t> wire);

/// Convenience for building snapshots: the lower-case wire form of `text` as a string of
/// octets (empty when invalid).
std::string wire_from_text(std::string_view text);

}  // namespace loadns::dns
