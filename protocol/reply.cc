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
  out.push_back(' ');
  append_number(out, flags);
  out.push_back(' ');
  append_number(out, data.size());
  if (cas != nullptr) {
    out.push_back(' ');
    append_number(out, *cas);
  }
  append(out, "\r\n");
  append(out, data);
  append(out, "\r\n");
}

}  // namespace treecached::protocol
