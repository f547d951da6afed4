#include "server/path_codec.h"

#include <algorithm>

#include "storage/path.h"

namespace treecached::server {

using protocol::ParseError;

// A key whose tokens are single-spaced is its own store path, without a copy.
static_assert(storage::kPathDelimiter == ' ', "wire tokens and store paths share the separator");

ParseError PathCodec::to_path(std::string_view key, bool canonical, std::string_view& path) {
  const bool split = separator_ != 0 && key.find(separator_) != std::string_view::npos;
  if (!split && canonical) {
    path = key;  // the common case: no copy
    return ParseError::kNone;
  }
  // Rebuild with single spaces. Spaces separate tokens as on the wire; a
  // separator separates exactly two non-empty tokens.
  buffer_.clear();
  size_t depth = 0;
  size_t token_size = 0;
  bool after_separator = false;
  for (const char c : key) {
    if (c == ' ' || (split && c == separator_)) {
      const bool is_separator = c != ' ';
      if ((is_separator && token_size == 0) || after_separator) {
        return ParseError::kBadFormat;  // empty token: "a::b", ":a", "a :b", "a: b"
      }
      if (token_size > 0) {
        buffer_.push_back(storage::kPathDelimiter);
      }
      token_size = 0;
      after_separator = is_separator;
      continue;
    }
    if (token_size == 0) {
      ++depth;
    }
    buffer_.push_back(c);
    ++token_size;
    after_separator = false;
  }
  if (after_separator || token_size == 0) {
    return ParseError::kBadFormat;  // "a:" or trailing garbage
  }
  if (depth > max_depth_) {
    return ParseError::kPathTooDeep;
  }
  path = buffer_;
  return ParseError::kNone;
}

void PathCodec::append_wire(protocol::OutputBuffer& out, std::string_view path) const {
  const size_t start = out.size();
  protocol::append(out, path);
  if (separator_ != 0) {
    std::replace(out.data() + start, out.data() + out.size(), storage::kPathDelimiter, separator_);
  }
}

}  // namespace treecached::server
