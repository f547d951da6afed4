#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/parser.h"
#include "protocol/reply.h"

namespace treecached::server {

// Translates keys as clients send them into store paths (tokens joined by
// single spaces) and back. In separator mode (--key-separator C) every key is
// also split on C, and paths are shown joined with C.
class PathCodec {
 public:
  // `separator` 0 means separator mode is off.
  PathCodec(char separator, size_t max_depth) noexcept
      : separator_(separator), max_depth_(max_depth) {}

  // The store path for `key` (from a Request: `canonical` says whether its
  // tokens are single-spaced). Returns kNone, or the error to answer. The
  // path may point into an internal buffer, valid until the next call.
  [[nodiscard]] protocol::ParseError to_path(std::string_view key, bool canonical,
                                             std::string_view& path);

  // Appends the client's form of a store path.
  void append_wire(protocol::OutputBuffer& out, std::string_view path) const;

 private:
  char separator_;
  size_t max_depth_;
  std::string buffer_;
};

}  // namespace treecached::server
