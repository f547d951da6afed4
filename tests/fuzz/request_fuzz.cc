// libFuzzer target: the whole request-to-reply path without sockets. The
// payload goes into the real server::Session, driven as
// server/connection.cc drives it (process, send everything, process again
// while runnable, close when closing), against a fresh in-memory Store with
// a small memory limit. The payload arrives in reads of at most 64 bytes,
// the first one ending at the input's split point, and the clock ticks every
// four requests (seen from the next read on).
//
// Through the session's RequestObserver every reply is checked against the
// request that produced it (its shape, the keys it names, what the store
// holds afterwards), and the bytes sent must be exactly the replies, in
// request order: nothing dropped, cut or reordered (SPEC §1.3). The store's
// and the worker's counters are checked for consistency as requests run. At
// the end everything is flushed and swept: the store must then be empty and
// account for zero bytes.
//
// Options byte (see fuzz_input.h):
//   bit 0     --key-separator :
//   bit 1     -M (no evictions)
//   bits 2-3  --max-depth 32, 1, 2 or 4
//   bit 4     -I 1024 (else 1m)
//   bit 5     --max-listing 3 (else 100000)
//   bit 6     a 1 MiB memory limit (else 64 KiB)
//   bit 7     -A (shutdown enabled)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/exptime.h"
#include "protocol/parser.h"
#include "protocol/reply.h"
#include "protocol/request.h"
#include "protocol/rules.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/context.h"
#include "server/path_codec.h"
#include "server/session.h"
#include "server/stats.h"
#include "storage/store.h"
#include "tests/fuzz/fuzz_input.h"

namespace treecached::fuzz {
namespace {

using protocol::Command;
using protocol::ParseError;
using protocol::ParseStatus;
using protocol::Request;
using server::Counter;
using server::Session;
namespace reply = protocol::reply;

// Reads are at most this long, so the clock moves within one input.
constexpr size_t kReadSize = 64;

// A fixed clock: replays are deterministic. It ticks once every four
// requests, so that short exptimes run out within one input. Server seconds;
// the server "started" at unix time kProcessStarted.
constexpr uint32_t kStartTime = 1000;
constexpr int64_t kProcessStarted = 1'700'000'000;
constexpr size_t kRequestsPerTick = 4;
// The background sweep, every 16 requests.
constexpr size_t kRequestsPerSweep = 16;
constexpr size_t kSweepBuckets = 64;
constexpr size_t kRequestsPerStoreCheck = 4;

server::Config make_config(uint8_t options) {
  server::Config config;
  config.threads = 1;
  config.key_separator = (options & 1) != 0 ? ':' : 0;
  config.evictions_enabled = (options & 2) == 0;
  constexpr size_t kDepths[] = {32, 1, 2, 4};
  config.max_depth = kDepths[(options >> 2) & 3];
  config.max_item_size = (options & 16) != 0 ? 1024 : 1024 * 1024;
  config.max_listing = (options & 32) != 0 ? 3 : 100000;
  config.memory_limit_mb = 1;
  config.shutdown_command = (options & 128) != 0;
  return config;
}

storage::StoreConfig make_store_config(const server::Config& config, uint8_t options) {
  storage::StoreConfig store;
  store.memory_limit = (options & 64) != 0 ? 1024 * 1024 : 64 * 1024;
  store.shard_bits = 2;
  store.evictions_enabled = config.evictions_enabled;
  store.max_item_size = config.max_item_size;
  store.rules.parse_number = &protocol::parse_u64;
  store.rules.item_fits = &protocol::fits_item_limit;
  return store;
}

// Reads one line ending in "\r\n" at `pos` (the line holds no '\n').
bool take_line(std::string_view text, size_t& pos, std::string_view& line) {
  const size_t newline = text.find('\n', pos);
  if (newline == std::string_view::npos || newline == pos || text[newline - 1] != '\r') {
    return false;
  }
  line = text.substr(pos, newline - 1 - pos);
  pos = newline + 1;
  return true;
}

bool is_one_line(std::string_view text) {
  size_t pos = 0;
  std::string_view line;
  return take_line(text, pos, line) && pos == text.size();
}

// The first two space-separated words of a stats line's arguments are
// "detail dump".
bool is_detail_dump(std::string_view args) {
  std::string_view words[2];
  size_t count = 0;
  size_t pos = 0;
  while (count < 2) {
    while (pos < args.size() && args[pos] == ' ') {
      ++pos;
    }
    if (pos == args.size()) {
      break;
    }
    const size_t end = std::min(args.find(' ', pos), args.size());
    words[count++] = args.substr(pos, end - pos);
    pos = end;
  }
  return count == 2 && words[0] == "detail" && words[1] == "dump";
}

// VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n at `pos`. The key may
// hold spaces (a path), so the numbers are read from the right.
bool take_value(std::string_view text, size_t& pos, bool with_cas, std::string_view& key,
                std::string_view& data, uint32_t& flags) {
  std::string_view line;
  if (!take_line(text, pos, line) || !line.starts_with("VALUE ")) {
    return false;
  }
  std::string_view rest = line.substr(6);
  uint64_t numbers[3] = {};
  const size_t count = with_cas ? 3 : 2;
  for (size_t i = 0; i < count; ++i) {
    const size_t space = rest.rfind(' ');
    if (space == std::string_view::npos ||
        !protocol::parse_u64(rest.substr(space + 1), numbers[count - 1 - i])) {
      return false;
    }
    rest = rest.substr(0, space);
  }
  key = rest;
  if (numbers[0] > UINT32_MAX) {
    return false;
  }
  flags = static_cast<uint32_t>(numbers[0]);
  const uint64_t bytes = numbers[1];
  if (bytes > text.size() - pos || text.size() - pos - bytes < 2 ||
      text.substr(pos + bytes, 2) != "\r\n") {
    return false;
  }
  data = text.substr(pos, bytes);
  pos += bytes + 2;
  return true;
}

// A JSON array of strings, as getch sends; returns the element count.
bool json_string_array(std::string_view text, size_t& count) {
  count = 0;
  if (text.size() < 2 || text.front() != '[' || text.back() != ']') {
    return false;
  }
  size_t i = 1;
  const size_t end = text.size() - 1;
  while (i < end) {
    if (count > 0) {
      if (text[i] != ',') {
        return false;
      }
      ++i;
    }
    if (i >= end || text[i] != '"') {
      return false;
    }
    ++i;
    while (i < end && text[i] != '"') {
      i += text[i] == '\\' ? size_t{2} : size_t{1};
    }
    if (i >= end) {
      return false;
    }
    ++i;
    ++count;
  }
  return true;
}

bool is_decimal(std::string_view text) {
  uint64_t ignored = 0;
  return protocol::parse_u64(text, ignored) && !text.empty() && text[0] != '+' &&
         (text.size() == 1 || text[0] != '0');
}

class Harness final : public server::RequestObserver {
 public:
  explicit Harness(uint8_t options)
      : config_(make_config(options)),
        store_(make_store_config(config_, options)),
        context_(config_, store_, server::ServerClock(kProcessStarted)),
        codec_(config_.key_separator, config_.max_depth),
        limits_(server::parser_limits(config_)),
        session_(context_, counters_, limits_) {
    context_.worker_counters.push_back(&counters_);
    context_.request_shutdown = [this] { shutdown_requested_ = true; };
    memory_limit_ = store_.memory_limit();
    session_.set_observer(this);
  }

  // Bytes from the client, in reads of at most kReadSize.
  void deliver(std::string_view bytes) {
    while (!bytes.empty() && !closed_) {
      size_t writable = 0;
      char* space = session_.prepare_read(writable);
      const size_t n = std::min({writable, bytes.size(), kReadSize});
      std::memcpy(space, bytes.data(), n);
      session_.commit_read(n);
      bytes.remove_prefix(n);
      counters_.add(Counter::kBytesRead, n);
      serve();
    }
  }

  // Flushes everything and runs a whole sweep: nothing may remain.
  void finish() {
    FUZZ_CHECK(session_.state() != Session::State::kStreaming || closed_);
    // Held back while a refused value is being swallowed, or sent.
    FUZZ_CHECK(session_.pending_output() == expected_);
    check_store();
    store_.flush_all(now_, now_);
    store_.sweep(now_, SIZE_MAX);
    const storage::StoreStats stats = store_.stats();
    const storage::TreeStats tree = store_.tree_stats();
    FUZZ_CHECK(stats.curr_items == 0);
    FUZZ_CHECK(tree.nodes == 0);
    FUZZ_CHECK(stats.bytes == 0);
  }

  // RequestObserver: the parser's result is checked in answered().
  void parsed(std::string_view input, const protocol::ParseResult& result,
              const Request&) override {
    if (result.status == ParseStatus::kNeedMore) {
      FUZZ_CHECK(result.need > input.size());
    }
  }

  void answered(const protocol::ParseResult& result, const Request& request, std::string_view reply,
                bool streaming) override {
    expected_.append(reply);
    if (result.status == ParseStatus::kError) {
      const bool closes =
          result.error == ParseError::kLineTooLong || result.error == ParseError::kHttpRequest;
      FUZZ_CHECK(!closes || reply.empty());
      FUZZ_CHECK(reply ==
                 (request.noreply ? std::string_view() : protocol::error_reply(result.error)));
    } else {
      check_reply(request, reply, streaming);
    }
    check_counters();
    tick();
  }

  void streamed(std::string_view part, bool done) override {
    expected_.append(part);
    stream_text_.append(part);
    if (done) {
      check_stream();
    }
  }

 private:
  // connection.cc's serve(), with a socket that takes every write.
  void serve() {
    for (;;) {
      session_now_ = now_;
      session_.process(session_now_);
      if (session_.holds_output()) {
        return;
      }
      flush();
      if (session_.state() == Session::State::kClosing) {
        closed_ = true;
        return;
      }
      if (!session_.runnable()) {
        session_.release_idle_buffers();
        return;
      }
    }
  }

  // What the session sends must be the replies as they were answered.
  void flush() {
    const std::string_view pending = session_.pending_output();
    FUZZ_CHECK(pending == expected_);
    counters_.add(Counter::kBytesWritten, pending.size());
    session_.output_sent(pending.size());
    expected_.clear();
  }

  void tick() {
    ++requests_;
    if (requests_ % kRequestsPerTick == 0) {
      ++now_;
    }
    if (requests_ % kRequestsPerStoreCheck == 0) {
      check_store();
    }
    if (requests_ % kRequestsPerSweep == 0) {
      store_.sweep(now_, kSweepBuckets);
      check_store();
    }
  }

  // The client's form of a store path.
  [[nodiscard]] std::string wire(std::string_view path) const {
    std::string text(path);
    if (config_.key_separator != 0) {
      std::replace(text.begin(), text.end(), storage::kPathDelimiter, config_.key_separator);
    }
    return text;
  }

  // The store path of a request's key, or the error line it is answered with.
  bool resolve(const Request& request, std::string& path, std::string_view& error) {
    std::string_view resolved;
    const ParseError e = codec_.to_path(request.key, request.key_canonical, resolved);
    if (e != ParseError::kNone) {
      error = protocol::error_reply(e);
      FUZZ_CHECK(!error.empty());
      return false;
    }
    path.assign(resolved);
    return true;
  }

  void check_reply(const Request& request, std::string_view text, bool streaming) {
    switch (request.command) {
      case Command::kGet:
      case Command::kGets:
      case Command::kGat:
      case Command::kGats:
        if (streaming) {
          start_stream(request, text);
        } else {
          check_retrieval(request.command, request.rest, text);
        }
        return;
      default:
        break;
    }
    if (streaming) {
      FUZZ_CHECK(request.command == Command::kGetChildren ||
                 request.command == Command::kGetSubtree);
      start_stream(request, text);
      std::string_view error;
      FUZZ_CHECK(request.key.empty() || resolve(request, stream_path_, error));
      if (request.key.empty()) {
        stream_path_.clear();
      }
      return;
    }
    switch (request.command) {
      case Command::kGetNode:
      case Command::kGetsNode:
        check_node_read(request, text);
        return;
      case Command::kGetChildren:
      case Command::kGetSubtree:
        check_listing_miss(request, text);
        return;
      case Command::kSet:
      case Command::kAdd:
      case Command::kReplace:
      case Command::kAppend:
      case Command::kPrepend:
      case Command::kCas:
        check_storage(request, text);
        return;
      case Command::kIncr:
      case Command::kDecr:
        check_arithmetic(request, text);
        return;
      case Command::kTouch:
      case Command::kDelete:
        check_touch_delete(request, text);
        return;
      case Command::kFlushAll:
      case Command::kVerbosity:
        FUZZ_CHECK(text == (request.noreply ? std::string_view() : reply::kOk));
        return;
      case Command::kCacheMemlimit: {
        std::string_view expected = reply::kOk;
        if (request.level < 8) {
          expected = reply::kMemlimitTooSmall;
        } else if (request.level > 1000000000) {
          expected = reply::kMemlimitNotBytes;
        } else {
          memory_limit_ = size_t{request.level} * 1024 * 1024;
        }
        FUZZ_CHECK(text == (request.noreply ? std::string_view() : expected));
        FUZZ_CHECK(store_.memory_limit() == memory_limit_);
        return;
      }
      case Command::kStats:
        check_stats_reply(request, text);
        return;
      case Command::kVersion:
        FUZZ_CHECK(text == "VERSION 1.6.18\r\n");
        return;
      case Command::kQuit:
        FUZZ_CHECK(text.empty());
        return;
      case Command::kShutdown:
        if (!config_.shutdown_command) {
          FUZZ_CHECK(text == reply::kShutdownDisabled);
        } else if (shutdown_requested_) {
          FUZZ_CHECK(text.empty());
        } else {
          FUZZ_CHECK(text == reply::kBadShutdownMode);
        }
        return;
      default:
        FUZZ_CHECK(false);
    }
  }

  // A reply that goes on in streamed() parts.
  void start_stream(const Request& request, std::string_view first_part) {
    stream_command_ = request.command;
    stream_keys_.assign(request.rest);
    stream_text_.assign(first_part);
  }

  void check_stream() {
    if (stream_command_ == Command::kGetChildren || stream_command_ == Command::kGetSubtree) {
      check_listing();
    } else {
      check_retrieval(stream_command_, stream_keys_, stream_text_);
    }
  }

  // get|gets|gat|gats: VALUE blocks for the keys found, in request order,
  // then END. A key over 250 bytes answers the request with one error line
  // (and leaves earlier replies alone: flush() checks that).
  void check_retrieval(Command command, std::string_view rest, std::string_view text) {
    std::vector<std::string_view> keys;
    protocol::KeyCursor cursor(rest);
    std::string_view key;
    bool too_long = false;
    while (cursor.next(key)) {
      keys.push_back(key);
      too_long = too_long || key.size() > protocol::kMaxKeyLength;
    }
    if (too_long) {
      FUZZ_CHECK(text == reply::kBadFormat);
      return;
    }
    const bool with_cas = command == Command::kGets || command == Command::kGats;
    size_t pos = 0;
    size_t next_key = 0;
    while (text.substr(pos) != reply::kEnd) {
      std::string_view found;
      std::string_view data;
      uint32_t flags = 0;
      FUZZ_CHECK(take_value(text, pos, with_cas, found, data, flags));
      while (next_key < keys.size() && keys[next_key] != found) {
        ++next_key;
      }
      FUZZ_CHECK(next_key < keys.size());
      ++next_key;
    }
  }

  // getn|getsn: one VALUE block for the node if it holds a value, then END.
  void check_node_read(const Request& request, std::string_view text) {
    std::string path;
    std::string_view error;
    if (!resolve(request, path, error)) {
      FUZZ_CHECK(text == error);
      return;
    }
    if (text == reply::kEnd) {
      return;
    }
    size_t pos = 0;
    std::string_view key;
    std::string_view data;
    uint32_t flags = 0;
    FUZZ_CHECK(take_value(text, pos, request.command == Command::kGetsNode, key, data, flags));
    FUZZ_CHECK(key == wire(path));
    FUZZ_CHECK(text.substr(pos) == reply::kEnd);
  }

  // getch|getr answered without streaming: an error, a miss or over-limit.
  void check_listing_miss(const Request& request, std::string_view text) {
    std::string path;
    std::string_view error;
    if (!request.key.empty() && !resolve(request, path, error)) {
      FUZZ_CHECK(text == error);
      return;
    }
    FUZZ_CHECK(text == reply::kEnd || text == "SERVER_ERROR more than " +
                                                  std::to_string(config_.max_listing) +
                                                  " nodes to list\r\n");
  }

  // A streamed getch or getr reply, once complete.
  void check_listing() {
    const std::string_view text = stream_text_;
    const std::string prefix = wire(stream_path_);
    size_t pos = 0;
    std::string_view key;
    std::string_view data;
    uint32_t flags = 0;
    if (stream_command_ == Command::kGetChildren) {
      // VALUE <path> 0 <bytes>\r\n["a","b"]\r\nEND\r\n
      FUZZ_CHECK(take_value(text, pos, false, key, data, flags));
      // The top level is named "/": VALUE lines need a key token.
      FUZZ_CHECK(key == (stream_path_.empty() ? std::string("/") : prefix) && flags == 0);
      size_t count = 0;
      FUZZ_CHECK(json_string_array(data, count));
      FUZZ_CHECK(count <= config_.max_listing);
      FUZZ_CHECK(text.substr(pos) == reply::kEnd);
      return;
    }
    // VALUE blocks of the node and its descendants, parents first.
    const char delimiter = config_.key_separator != 0 ? config_.key_separator : ' ';
    size_t count = 0;
    while (text.substr(pos) != reply::kEnd) {
      FUZZ_CHECK(take_value(text, pos, false, key, data, flags));
      FUZZ_CHECK(key == prefix || (key.size() > prefix.size() + 1 && key.starts_with(prefix) &&
                                   key[prefix.size()] == delimiter));
      ++count;
    }
    FUZZ_CHECK(count >= 1 && count <= config_.max_listing);
  }

  void check_storage(const Request& request, std::string_view text) {
    std::string path;
    std::string_view error;
    const bool resolved = resolve(request, path, error);
    if (request.noreply) {
      FUZZ_CHECK(text.empty());
    } else if (!resolved) {
      FUZZ_CHECK(text == error);
    } else {
      const bool cas = request.command == Command::kCas;
      const bool add_like = request.command != Command::kSet && !cas;
      FUZZ_CHECK(text == reply::kStored || text == reply::kTooLarge ||
                 text == reply::kOutOfMemory || (add_like && text == reply::kNotStored) ||
                 (cas && (text == reply::kExists || text == reply::kNotFound)));
    }
    if (!resolved || text != reply::kStored) {
      return;
    }
    // What was stored can be read back at once (unless already expired).
    const storage::ItemRef item = store_.get(path, session_now_);
    switch (request.command) {
      case Command::kAppend:
        FUZZ_CHECK(item && item.value().ends_with(request.data));
        break;
      case Command::kPrepend:
        FUZZ_CHECK(item && item.value().starts_with(request.data));
        break;
      default: {
        const uint32_t deadline =
            protocol::to_deadline(request.exptime, session_now_, kProcessStarted);
        if (deadline != 0 && deadline <= session_now_) {
          FUZZ_CHECK(!item);
        } else {
          FUZZ_CHECK(item && item.value() == request.data && item.flags() == request.flags);
        }
        break;
      }
    }
  }

  void check_arithmetic(const Request& request, std::string_view text) {
    std::string path;
    std::string_view error;
    const bool resolved = resolve(request, path, error);
    if (request.noreply) {
      FUZZ_CHECK(text.empty());
      return;
    }
    if (!resolved) {
      FUZZ_CHECK(text == error);
      return;
    }
    if (text == reply::kNotFound || text == reply::kNonNumeric ||
        text == reply::kOutOfMemoryArith) {
      return;
    }
    FUZZ_CHECK(is_one_line(text));
    const std::string_view number = text.substr(0, text.size() - 2);
    FUZZ_CHECK(is_decimal(number));
    // The stored value is the new number, with its own length.
    const storage::ItemRef item = store_.get(path, session_now_);
    FUZZ_CHECK(item && item.value() == number);
  }

  void check_touch_delete(const Request& request, std::string_view text) {
    std::string path;
    std::string_view error;
    const bool resolved = resolve(request, path, error);
    if (request.noreply) {
      FUZZ_CHECK(text.empty());
    } else if (!resolved) {
      FUZZ_CHECK(text == error);
    } else if (request.command == Command::kTouch) {
      FUZZ_CHECK(text == reply::kTouched || text == reply::kNotFound);
    } else {
      FUZZ_CHECK(text == reply::kDeleted || text == reply::kNotFound);
    }
    if (resolved && request.command == Command::kDelete) {
      // Gone with its whole subtree.
      std::vector<storage::ItemRef> children;
      FUZZ_CHECK(!store_.get(path, session_now_));
      FUZZ_CHECK(store_.list_children(path, session_now_, SIZE_MAX, children) ==
                 storage::StoreStatus::kNotFound);
    }
  }

  // STAT lines and END, or one line (RESET, ERROR, a usage message);
  // `stats detail dump` answers PREFIX lines instead, as memcached does.
  void check_stats_reply(const Request& request, std::string_view text) {
    if (is_one_line(text)) {
      return;
    }
    const std::string_view line_start = is_detail_dump(request.rest) ? "PREFIX " : "STAT ";
    size_t pos = 0;
    std::string_view line;
    while (take_line(text, pos, line)) {
      if (line == "END") {
        FUZZ_CHECK(pos == text.size());
        return;
      }
      FUZZ_CHECK(line.starts_with(line_start));
    }
    FUZZ_CHECK(false);
  }

  // The counters every request must leave consistent.
  void check_counters() {
    const auto count = [this](Counter c) { return counters_.get(c); };
    FUZZ_CHECK(count(Counter::kCmdGet) == count(Counter::kGetHits) + count(Counter::kGetMisses));
    FUZZ_CHECK(count(Counter::kCmdTouch) ==
               count(Counter::kTouchHits) + count(Counter::kTouchMisses));
  }

  // The store's figures, which must agree with each other. (Every few
  // requests: tree_stats() scans per-depth counts and dominates otherwise.)
  void check_store() {
    const storage::StoreStats stats = store_.stats();
    const storage::TreeStats tree = store_.tree_stats();
    FUZZ_CHECK(stats.curr_items == tree.value_nodes);
    FUZZ_CHECK(tree.value_nodes <= tree.nodes);
    // A value-less node lives only above a value.
    FUZZ_CHECK(tree.nodes <= tree.value_nodes * std::max<size_t>(config_.max_depth, 1));
    FUZZ_CHECK(tree.max_depth <= config_.max_depth);
    FUZZ_CHECK(tree.nodes != 0 || stats.bytes == 0);
    FUZZ_CHECK(stats.bytes <= memory_limit_);
    FUZZ_CHECK(stats.budget_used <= memory_limit_);
    FUZZ_CHECK(stats.limit_maxbytes == memory_limit_);
  }

  server::Config config_;
  storage::Store store_;
  server::ServerContext context_;
  server::WorkerCounters counters_;
  server::PathCodec codec_;  // the harness's own, to compute expected keys
  protocol::ParserLimits limits_;
  Session session_;
  size_t memory_limit_ = 0;

  std::string expected_;  // replies answered and not yet sent
  bool closed_ = false;
  bool shutdown_requested_ = false;

  uint32_t now_ = kStartTime;
  uint32_t session_now_ = kStartTime;  // the clock of the session's current run
  size_t requests_ = 0;

  // The reply being streamed.
  std::string stream_text_;
  Command stream_command_ = Command::kGet;
  std::string stream_keys_;
  std::string stream_path_;
};

}  // namespace
}  // namespace treecached::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace treecached::fuzz;
  FuzzInput input;
  if (!read_input(data, size, input)) {
    return 0;
  }
  Harness harness(input.options);
  harness.deliver(input.payload.substr(0, input.split));
  harness.deliver(input.payload.substr(input.split));
  harness.finish();
  return 0;
}
