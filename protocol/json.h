#pragma once

#include <cstddef>
#include <string_view>

#include "protocol/reply.h"

namespace treecached::protocol {

// Appends `text` as a JSON string (RFC 8259): quote, backslash and control
// characters are escaped, valid UTF-8 passes through, and every byte that is
// not part of valid UTF-8 is written as \u00XX.
void append_json_string(OutputBuffer& out, std::string_view text);

// Bytes append_json_string() writes for `text`.
[[nodiscard]] size_t json_string_size(std::string_view text) noexcept;

}  // namespace treecached::protocol
