#include "protocol/reply.h"

namespace treecached::protocol {

std::string_view error_reply(ParseError error) noexcept {
  switch (error) {
    case ParseError::kUnknownCommand:
      return reply::kError;
    case ParseError::kBadFormat:
      return reply::kBadFormat;
    case ParseError::kInvalidExptime:
      return "CLIENT_ERROR invalid exptime argument\r\n";
    case ParseError::kInvalidDelta:
      return "CLIENT_ERROR invalid numeric delta argument\r\n";
    case ParseError::kBadDataChunk:
      return "CLIENT_ERROR bad data chunk\r\n";
    case ParseError::kTooLarge:
      return reply::kTooLarge;
    case ParseError::kPathTooDeep:
      return "CLIENT_ERROR path too deep\r\n";
    case ParseError::kBadDeleteFormat:
      return "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
    case ParseError::kNone:
    case ParseError::kLineTooLong:
    case ParseError::kHttpRequest:
      break;
  }
  return {};
}

void append_value(OutputBuffer& out, std::string_view key, uint32_t flags, std::string_view data,
                  const uint64_t* cas) {
  append(out, "VALUE ");
  append(out, key);
  append_value_tail(out, flags, data, cas);
}

void append_value_tail(OutputBuffer& out, uint32_t flags, std::string_view data,
                       const uint64_t* cas) {
  const fmt::format_int flag_digits(flags);
  const fmt::format_int size_digits(data.size());
  const fmt::format_int cas_digits(cas != nullptr ? *cas : 0);
  const std::string_view flag_text(flag_digits.data(), flag_digits.size());
  const std::string_view size_text(size_digits.data(), size_digits.size());
  const std::string_view cas_text(cas_digits.data(), cas != nullptr ? cas_digits.size() : 0);
  // The whole block in one extension of the buffer.
  char* at = extend(out, 1 + flag_text.size() + 1 + size_text.size() +
                             (cas != nullptr ? 1 + cas_text.size() : 0) + 2 + data.size() + 2);
  *at++ = ' ';
  at = copy_to(at, flag_text);
  *at++ = ' ';
  at = copy_to(at, size_text);
  if (cas != nullptr) {
    *at++ = ' ';
    at = copy_to(at, cas_text);
  }
  at = copy_to(at, "\r\n");
  at = copy_to(at, data);
  copy_to(at, "\r\n");
}

}  // namespace treecached::protocol
