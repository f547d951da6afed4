// libFuzzer target: protocol::parse_request on arbitrary bytes, driven the
// way server/connection.cc drives it (parse, consume, wait for `need` bytes on
// kNeedMore, swallow refused data blocks, close on kLineTooLong).
//
// Checks every result (consumed within the input, string_views inside the
// bytes of the request, key depth and tokens within the limits, ...), and
// that the sequence of requests does not depend on how the bytes arrive: the
// payload is parsed once whole and once in two reads (split point from the
// input), and both runs must produce the same requests.
//
// Options byte (see fuzz_input.h): bits 0-1 pick max_depth (32, 1, 3, 64),
// bit 2 a small max_item_size (200), bit 3 a small max_multiget_line (3000).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/parser.h"
#include "protocol/request.h"
#include "tests/fuzz/fuzz_input.h"

namespace treecached::fuzz {
namespace {

using protocol::ParseError;
using protocol::ParseResult;
using protocol::ParseStatus;
using protocol::Request;

// A parsed request with its views turned into offsets in the whole stream, so
// that runs with different buffers can be compared.
struct Event {
  ParseStatus status;
  ParseError error;
  size_t start;  // stream offset of the request's first byte
  size_t consumed;
  size_t swallow;
  protocol::Command command;
  bool noreply;
  size_t key_at, key_size;
  uint16_t key_depth;
  bool key_canonical;
  size_t rest_at, rest_size;
  size_t data_at, data_size;
  uint32_t flags;
  int32_t exptime;
  bool has_delay;
  uint64_t cas_unique;
  uint64_t delta;
  uint32_t level;

  bool operator==(const Event&) const = default;
};

// Checks that a non-empty view lies inside [begin, end).
void check_inside(std::string_view view, const char* begin, const char* end) {
  if (view.empty()) {
    return;
  }
  FUZZ_CHECK(view.data() >= begin);
  FUZZ_CHECK(view.data() + view.size() <= end);
}

size_t offset_of(std::string_view view, const char* base, size_t base_offset) {
  return view.empty() ? 0 : base_offset + static_cast<size_t>(view.data() - base);
}

// The invariants of one parse_request call on `input`.
void check_result(std::string_view input, const ParseResult& r, const Request& req,
                  const protocol::ParserLimits& limits) {
  FUZZ_CHECK(r.consumed <= input.size());
  const bool has_newline = input.find('\n') != std::string_view::npos;
  switch (r.status) {
    case ParseStatus::kNeedMore:
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(r.swallow == 0);
      // Otherwise the connection would parse the same bytes again forever.
      FUZZ_CHECK(r.need > input.size());
      return;
    case ParseStatus::kError:
      FUZZ_CHECK(r.error != ParseError::kNone);
      if (r.error == ParseError::kLineTooLong) {
        FUZZ_CHECK(r.consumed == 0);
        FUZZ_CHECK(!has_newline);
        FUZZ_CHECK(input.size() > protocol::kMaxLineWithoutNewline);
        return;
      }
      FUZZ_CHECK(r.consumed > 0);
      FUZZ_CHECK(r.swallow == 0 || r.error == ParseError::kTooLarge);
      if (r.error == ParseError::kTooLarge) {
        FUZZ_CHECK(r.swallow >= 2);
      }
      if (r.error != ParseError::kBadDataChunk) {
        FUZZ_CHECK(input[r.consumed - 1] == '\n');
      }
      break;
    case ParseStatus::kOk:
      FUZZ_CHECK(r.error == ParseError::kNone);
      FUZZ_CHECK(r.consumed > 0);
      FUZZ_CHECK(r.swallow == 0);
      FUZZ_CHECK(input[r.consumed - 1] == '\n');
      break;
  }
  FUZZ_CHECK(has_newline);
  const char* begin = input.data();
  const char* end = input.data() + r.consumed;
  check_inside(req.key, begin, end);
  check_inside(req.rest, begin, end);
  check_inside(req.data, begin, end);
  const size_t first_line = input.find('\n');

  // The key or path: tokens of 1..250 bytes joined by spaces, on the first
  // line, no deeper than the limit.
  if (req.key.empty()) {
    FUZZ_CHECK(req.key_depth == 0);
  } else {
    FUZZ_CHECK(static_cast<size_t>(req.key.data() - begin) + req.key.size() <= first_line);
    FUZZ_CHECK(req.key.front() != ' ' && req.key.back() != ' ');
    FUZZ_CHECK(req.key.find('\n') == std::string_view::npos);
    FUZZ_CHECK(req.key.find('\0') == std::string_view::npos);
    size_t depth = 0;
    bool canonical = true;
    protocol::KeyCursor tokens(req.key);
    std::string_view token;
    while (tokens.next(token)) {
      ++depth;
      FUZZ_CHECK(token.size() <= protocol::kMaxKeyLength);
    }
    canonical = req.key.find("  ") == std::string_view::npos;
    FUZZ_CHECK(depth == req.key_depth);
    FUZZ_CHECK(canonical == req.key_canonical);
    if (r.status == ParseStatus::kOk) {
      FUZZ_CHECK(depth >= 1 && depth <= limits.max_depth);
    }
  }
  if (!req.rest.empty()) {
    FUZZ_CHECK(static_cast<size_t>(req.rest.data() - begin) + req.rest.size() <= first_line);
  }
  if (r.status == ParseStatus::kOk) {
    switch (req.command) {
      case protocol::Command::kSet:
      case protocol::Command::kAdd:
      case protocol::Command::kReplace:
      case protocol::Command::kAppend:
      case protocol::Command::kPrepend:
      case protocol::Command::kCas: {
        FUZZ_CHECK(!req.key.empty());
        // The block starts after the header line and ends in "\r\n" or "\n".
        FUZZ_CHECK(req.data.empty() || req.data.data() == begin + first_line + 1);
        const size_t data_end = first_line + 1 + req.data.size();
        FUZZ_CHECK(r.consumed == data_end + 1 || r.consumed == data_end + 2);
        if (r.consumed == data_end + 2) {
          FUZZ_CHECK(input[data_end] == '\r');
        }
        FUZZ_CHECK(protocol::fits_item_limit(req.key.size(), req.flags, req.data.size(),
                                             limits.max_item_size));
        break;
      }
      case protocol::Command::kIncr:
      case protocol::Command::kDecr:
      case protocol::Command::kTouch:
      case protocol::Command::kDelete:
      case protocol::Command::kGetNode:
      case protocol::Command::kGetsNode:
      case protocol::Command::kGetSubtree:
        FUZZ_CHECK(!req.key.empty());
        FUZZ_CHECK(r.consumed == first_line + 1);
        break;
      default:
        FUZZ_CHECK(req.data.empty());
        FUZZ_CHECK(r.consumed == first_line + 1);
        break;
    }
  }
}

// Feeds `payload` in reads ending at the given offsets, the way a connection
// does, and records every request (kOk or kError) it parses.
struct Run {
  std::vector<Event> events;
  bool closed = false;        // kLineTooLong
  size_t closed_in_read = 0;  // which read it happened in
};

Run run(std::string_view payload, const std::vector<size_t>& read_ends,
        const protocol::ParserLimits& limits) {
  Run out;
  std::string buffer;  // unread bytes; buffer[0] is stream offset `base`
  size_t base = 0;
  size_t delivered = 0;
  size_t needed = 0;
  size_t swallow = 0;
  for (size_t read = 0; read < read_ends.size(); ++read) {
    // Compact, then append the new bytes: views from earlier reads are dead.
    buffer.append(payload.substr(delivered, read_ends[read] - delivered));
    delivered = read_ends[read];
    size_t start = 0;
    for (;;) {
      if (swallow > 0) {
        const size_t dropped = std::min(swallow, buffer.size() - start);
        start += dropped;
        swallow -= dropped;
        if (swallow > 0) {
          break;
        }
      }
      const size_t available = buffer.size() - start;
      if (available == 0 || available < needed) {
        break;
      }
      const std::string_view input(buffer.data() + start, available);
      Request request;
      const ParseResult result = protocol::parse_request(input, request, limits);
      check_result(input, result, request, limits);
      // Same bytes, same answer.
      Request again;
      const ParseResult result2 = protocol::parse_request(input, again, limits);
      FUZZ_CHECK(result2.status == result.status && result2.consumed == result.consumed &&
                 result2.need == result.need && result2.error == result.error);
      if (result.status == ParseStatus::kNeedMore) {
        needed = result.need;
        break;
      }
      needed = 0;
      if (result.error == ParseError::kLineTooLong) {
        out.closed = true;
        out.closed_in_read = read;
        return out;
      }
      const char* at = input.data();
      const size_t stream_at = base + start;
      out.events.push_back(Event{result.status,
                                 result.error,
                                 stream_at,
                                 result.consumed,
                                 result.swallow,
                                 request.command,
                                 request.noreply,
                                 offset_of(request.key, at, stream_at),
                                 request.key.size(),
                                 request.key_depth,
                                 request.key_canonical,
                                 offset_of(request.rest, at, stream_at),
                                 request.rest.size(),
                                 offset_of(request.data, at, stream_at),
                                 request.data.size(),
                                 request.flags,
                                 request.exptime,
                                 request.has_delay,
                                 request.cas_unique,
                                 request.delta,
                                 request.level});
      start += result.consumed;
      swallow = result.swallow;
    }
    buffer.erase(0, start);
    base += start;
  }
  return out;
}

}  // namespace
}  // namespace treecached::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace treecached::fuzz;
  FuzzInput input;
  if (!read_input(data, size, input)) {
    return 0;
  }
  treecached::protocol::ParserLimits limits;
  constexpr size_t kDepths[] = {32, 1, 3, treecached::protocol::kMaxPathDepth};
  limits.max_depth = kDepths[input.options & 3];
  if ((input.options & 4) != 0) {
    limits.max_item_size = 200;
  }
  if ((input.options & 8) != 0) {
    limits.max_multiget_line = 3000;
  }

  const Run whole = run(input.payload, {input.payload.size()}, limits);
  const Run split = run(input.payload, {input.split, input.payload.size()}, limits);
  if (split.closed && split.closed_in_read == 0) {
    // A line over the limit without its newline yet closes the connection,
    // though the rest of the line would have ended it (as in memcached).
    FUZZ_CHECK(split.events.size() <= whole.events.size());
    FUZZ_CHECK(std::equal(split.events.begin(), split.events.end(), whole.events.begin()));
  } else {
    FUZZ_CHECK(split.closed == whole.closed);
    FUZZ_CHECK(split.events == whole.events);
  }
  return 0;
}
