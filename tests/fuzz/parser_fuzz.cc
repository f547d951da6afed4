// libFuzzer target: protocol::parse_request on arbitrary bytes, as the real
// server::Session drives it (parse, consume, wait for `need` bytes on
// kNeedMore, swallow refused data blocks, close on a line too long, quit or
// an HTTP request line), observed through the session's RequestObserver.
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
#include "protocol/rules.h"
#include "server/config.h"
#include "server/context.h"
#include "server/session.h"
#include "server/stats.h"
#include "storage/store.h"
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
      // Only a refused value's data block is swallowed: too large, or (a
      // storage command) a path too deep.
      FUZZ_CHECK(r.swallow == 0 || r.error == ParseError::kTooLarge ||
                 r.error == ParseError::kPathTooDeep);
      if (r.error == ParseError::kTooLarge) {
        FUZZ_CHECK(r.swallow >= 2);
      }
      if (r.swallow > 0) {
        FUZZ_CHECK(r.swallow >= 2);
        FUZZ_CHECK(
            req.command == protocol::Command::kSet || req.command == protocol::Command::kAdd ||
            req.command == protocol::Command::kReplace ||
            req.command == protocol::Command::kAppend ||
            req.command == protocol::Command::kPrepend || req.command == protocol::Command::kCas);
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

// Feeds `payload` to a real server::Session in reads ending at the given
// offsets, as a connection does, and records every request (kOk or kError)
// its parser produces, through the session's RequestObserver.
struct Run {
  std::vector<Event> events;
  bool closed = false;        // the session closes (a line too long, quit, HTTP)
  size_t closed_in_read = 0;  // which read it happened in
};

class Recorder final : public server::RequestObserver {
 public:
  Recorder(const protocol::ParserLimits& limits, Run& out) : limits_(limits), out_(out) {}

  void delivered(size_t total) { delivered_ = total; }

  void parsed(std::string_view input, const ParseResult& result, const Request& request) override {
    check_result(input, result, request, limits_);
    // Same bytes, same answer.
    Request again;
    const ParseResult result2 = protocol::parse_request(input, again, limits_);
    FUZZ_CHECK(result2.status == result.status && result2.consumed == result.consumed &&
               result2.need == result.need && result2.error == result.error);
    // A line too long closes at a point that depends on how the bytes
    // arrived: Run::closed records it, not the event list.
    if (result.status == ParseStatus::kNeedMore || result.error == ParseError::kLineTooLong) {
      return;
    }
    // The session's unread bytes end where the delivered ones do.
    const char* at = input.data();
    const size_t stream_at = delivered_ - input.size();
    out_.events.push_back(Event{result.status,
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
  }
  void answered(const ParseResult&, const Request&, std::string_view, bool) override {}
  void streamed(std::string_view, bool) override {}

 private:
  const protocol::ParserLimits& limits_;
  Run& out_;
  size_t delivered_ = 0;
};

storage::StoreConfig store_config() {
  storage::StoreConfig config;
  config.memory_limit = 1024 * 1024;
  config.shard_bits = 1;
  config.rules.parse_number = &protocol::parse_u64;
  config.rules.item_fits = &protocol::fits_item_limit;
  return config;
}

Run run(std::string_view payload, const std::vector<size_t>& read_ends,
        const protocol::ParserLimits& limits) {
  Run out;
  server::Config config;
  config.max_depth = limits.max_depth;
  storage::Store store(store_config());
  server::ServerContext context(config, store);
  server::WorkerCounters counters;
  server::Session session(context, counters, limits);
  Recorder recorder(limits, out);
  session.set_observer(&recorder);
  constexpr uint32_t kNow = 1000;
  size_t delivered = 0;
  for (size_t read = 0; read < read_ends.size(); ++read) {
    while (delivered < read_ends[read]) {
      size_t writable = 0;
      char* space = session.prepare_read(writable);
      const size_t n = std::min(writable, read_ends[read] - delivered);
      std::memcpy(space, payload.data() + delivered, n);
      session.commit_read(n);
      delivered += n;
    }
    recorder.delivered(delivered);
    do {
      session.process(kNow);
      session.output_sent(session.pending_output().size());
    } while (session.runnable());
    if (session.state() == server::Session::State::kClosing) {
      out.closed = true;
      out.closed_in_read = read;
      return out;
    }
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
