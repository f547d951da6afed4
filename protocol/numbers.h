#pragma once

#include <cstdint>
#include <string_view>

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

}  // namespace treecached::protocol
