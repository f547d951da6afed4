#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace treecached::storage {

// A path is one or more tokens joined by single spaces; a one-token path is
// a flat key. This is the one definition of the store's path form: server/
// turns client keys into it (server/path_codec.h).
inline constexpr char kPathDelimiter = ' ';

[[nodiscard]] inline bool is_nested(std::string_view path) noexcept {
  return path.find(kPathDelimiter) != std::string_view::npos;
}

// "a b c" -> "a b"; a flat key has no parent (empty).
[[nodiscard]] inline std::string_view parent_path(std::string_view path) noexcept {
  const size_t last = path.rfind(kPathDelimiter);
  return last == std::string_view::npos ? std::string_view() : path.substr(0, last);
}

// "a b c" -> "c".
[[nodiscard]] inline std::string_view last_token(std::string_view path) noexcept {
  const size_t last = path.rfind(kPathDelimiter);
  return last == std::string_view::npos ? path : path.substr(last + 1);
}

[[nodiscard]] inline size_t path_depth(std::string_view path) noexcept {
  return static_cast<size_t>(std::count(path.begin(), path.end(), kPathDelimiter)) + 1;
}

}  // namespace treecached::storage
