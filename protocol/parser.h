#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/request.h"
#include "protocol/rules.h"

namespace treecached::protocol {

enum class ParseStatus : uint8_t {
  kOk,        // `out` holds a complete request; `consumed` bytes belong to it
  kNeedMore,  // nothing consumed; call again with at least `need` bytes
  kError,     // answer with `error`; `consumed` bytes are used up
};

enum class ParseError : uint8_t {
  kNone,
  kUnknownCommand,   // ERROR
  kBadFormat,        // CLIENT_ERROR bad command line format
  kInvalidExptime,   // CLIENT_ERROR invalid exptime argument
  kInvalidDelta,     // CLIENT_ERROR invalid numeric delta argument
  kBadDataChunk,     // CLIENT_ERROR bad data chunk
  kTooLarge,         // SERVER_ERROR object too large for cache; swallow data
  kPathTooDeep,      // CLIENT_ERROR path too deep
  kBadDeleteFormat,  // CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]
  kLineTooLong,      // no newline within the limit: close the connection
  kHttpRequest,      // an HTTP request line: close the connection, no reply
};

// Enumerator names ("kOk", "kBadFormat", "get", ...), for logs and tests.
[[nodiscard]] std::string_view name(ParseStatus status) noexcept;
[[nodiscard]] std::string_view name(ParseError error) noexcept;
[[nodiscard]] std::string_view name(Command command) noexcept;

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  ParseError error = ParseError::kNone;
  // Bytes of input that this request used (header line, and data block when
  // it was read). Zero on kNeedMore.
  size_t consumed = 0;
  // kTooLarge, and kPathTooDeep on a storage command whose length parses:
  // bytes of data block that follow `consumed` and must be discarded, even
  // if they are not buffered yet, so the stream stays in sync.
  size_t swallow = 0;
  // kNeedMore: total bytes the request needs, when known (storage commands
  // whose header is complete); otherwise input.size() + 1.
  size_t need = 0;
};

struct ParserLimits {
  // memcached's -I: largest item, counted the way memcached counts it.
  size_t max_item_size = 1024 * 1024;
  // A multi-get line may grow to this size before the connection is closed.
  size_t max_multiget_line = 1024 * 1024;
  // Most tokens in a path (the depth-limit flag); at most kMaxPathDepth.
  size_t max_depth = 32;
  // memcached's fixed token counts for the value commands: one key token, and
  // extra tokens are errors (or memcached's legacy `delete <key> 0`) instead
  // of a path. Hierarchy then comes only from getn/getch/getr and the key
  // separator. For clients and test suites that rely on those errors.
  bool memcached_syntax = false;
};

// A line without '\n' longer than this closes the connection unless it is a
// multi-get (memcached's rule).
inline constexpr size_t kMaxLineWithoutNewline = 2048;

// Parses the first request in `input`. Never allocates or throws. On kOk and
// on kError the request fields that could be read are filled (command, key,
// noreply): the caller uses them to decide whether to reply and, for a `set`
// that is too large, which key to drop.
[[nodiscard]] ParseResult parse_request(std::string_view input, Request& out,
                                        const ParserLimits& limits) noexcept;

}  // namespace treecached::protocol
