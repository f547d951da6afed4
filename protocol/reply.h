#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "protocol/parser.h"

namespace treecached::protocol {

// Replies are appended to a connection's output buffer and sent in one write
// per batch of pipelined requests.
using OutputBuffer = fmt::memory_buffer;

namespace reply {
inline constexpr std::string_view kStored = "STORED\r\n";
inline constexpr std::string_view kNotStored = "NOT_STORED\r\n";
inline constexpr std::string_view kExists = "EXISTS\r\n";
inline constexpr std::string_view kNotFound = "NOT_FOUND\r\n";
inline constexpr std::string_view kDeleted = "DELETED\r\n";
inline constexpr std::string_view kTouched = "TOUCHED\r\n";
inline constexpr std::string_view kEnd = "END\r\n";
inline constexpr std::string_view kOk = "OK\r\n";
inline constexpr std::string_view kReset = "RESET\r\n";
inline constexpr std::string_view kError = "ERROR\r\n";
inline constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format\r\n";
inline constexpr std::string_view kNonNumeric =
    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
inline constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
inline constexpr std::string_view kOutOfMemory = "SERVER_ERROR out of memory storing object\r\n";
inline constexpr std::string_view kOutOfMemoryArith = "SERVER_ERROR out of memory\r\n";
inline constexpr std::string_view kShutdownDisabled = "ERROR: shutdown not enabled\r\n";
inline constexpr std::string_view kBadShutdownMode = "CLIENT_ERROR invalid shutdown mode\r\n";
inline constexpr std::string_view kFlushNotAllowed = "CLIENT_ERROR flush_all not allowed\r\n";
inline constexpr std::string_view kStatsDetailUsage =
    "CLIENT_ERROR usage: stats detail on|off|dump\r\n";
inline constexpr std::string_view kTooManyConnections = "ERROR Too many open connections\r\n";
inline constexpr std::string_view kMemlimitTooSmall =
    "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n";
inline constexpr std::string_view kMemlimitNotBytes =
    "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n";
}  // namespace reply

// The wire text for a parse error (empty for kLineTooLong and kHttpRequest,
// which close the connection).
[[nodiscard]] std::string_view error_reply(ParseError error) noexcept;

// Grows `out` by `count` bytes and returns where they start. Replies are
// built from a few short pieces per request; one size check and a memcpy
// per piece is cheaper than fmt's general append loop.
inline char* extend(OutputBuffer& out, size_t count) {
  const size_t at = out.size();
  out.resize(at + count);
  return out.data() + at;
}

inline char* copy_to(char* at, std::string_view text) noexcept {
  if (!text.empty()) {
    std::memcpy(at, text.data(), text.size());
  }
  return at + text.size();
}

inline void append(OutputBuffer& out, std::string_view text) {
  copy_to(extend(out, text.size()), text);
}

inline void append_number(OutputBuffer& out, uint64_t value) {
  const fmt::format_int digits(value);
  append(out, {digits.data(), digits.size()});
}

// VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n
void append_value(OutputBuffer& out, std::string_view key, uint32_t flags, std::string_view data,
                  const uint64_t* cas);
// The part of a VALUE block after its key: " <flags> <bytes>[ <cas>]\r\n<data>\r\n".
void append_value_tail(OutputBuffer& out, uint32_t flags, std::string_view data,
                       const uint64_t* cas);

// STAT <name> <value>\r\n
template <typename T>
void append_stat(OutputBuffer& out, std::string_view name, const T& value) {
  fmt::format_to(std::back_inserter(out), "STAT {} {}\r\n", name, value);
}

}  // namespace treecached::protocol
