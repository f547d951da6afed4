#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

// memcached's rules that protocol/ and storage/ both need, defined once
// here: number syntax (for command arguments and for stored values that
// incr/decr read) and the item-size formula (for a set refused before its
// data is read, and for an append that would grow an item too far). storage/
// does not depend on protocol/; server/ hands these to it
// (storage::ValueRules).

namespace treecached::protocol {

// Number parsing with memcached's exact acceptance rules, so that the same
// command line is accepted or refused by both servers.
//
// memcached parses numeric tokens with strtoul/strtol/strtoull and then
// checks that the token ends there (or continues with whitespace). So leading
// whitespace and a sign are accepted, "-0" is a valid unsigned zero, and
// values are truncated to the destination width after a 64-bit parse.
// A NUL byte or any whitespace byte ends the number like the end of the view.

// memcached's safe_strtoull: a 64-bit unsigned value; negative values are
// refused unless they negate to a non-negative signed value ("-0").
[[nodiscard]] bool parse_u64(std::string_view text, uint64_t& out) noexcept;

// memcached's safe_strtoul: parsed as 64-bit unsigned, then truncated to 32 bits.
[[nodiscard]] bool parse_u32(std::string_view text, uint32_t& out) noexcept;

// memcached's safe_strtol: parsed as 64-bit signed, then truncated to 32 bits.
[[nodiscard]] bool parse_i32(std::string_view text, int32_t& out) noexcept;

// True when memcached would accept an item of this size under `max_item_size`.
// memcached counts its 56-byte header, the key plus a NUL, the value plus
// "\r\n" and 4 bytes for non-zero flags; mirroring that keeps the boundary
// identical for clients.
[[nodiscard]] constexpr bool fits_item_limit(size_t key_size, uint32_t flags, size_t value_size,
                                             size_t max_item_size) noexcept {
  const size_t counted = 56 + key_size + 1 + value_size + 2 + (flags != 0 ? 4 : 0);
  return counted <= max_item_size;
}

}  // namespace treecached::protocol
