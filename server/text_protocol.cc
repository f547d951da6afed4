#include "server/text_protocol.h"

#include <string_view>

#include "protocol/json.h"
#include "server/config.h"

namespace treecached::server {
namespace {

using protocol::Command;
using protocol::OutputBuffer;
using protocol::Request;
using storage::StoreStatus;
namespace reply = protocol::reply;

// What a top-level `getch` names in its VALUE line: the key must be one
// token for client parsers, and "/" reads as the root.
constexpr std::string_view kTopLevelName = "/";

void reply_unless_noreply(const Request& request, OutputBuffer& out, std::string_view text) {
  if (!request.noreply) {
    protocol::append(out, text);
  }
}

std::string_view storage_reply(StoreStatus status) {
  switch (status) {
    case StoreStatus::kStored:
      return reply::kStored;
    case StoreStatus::kNotStored:
      return reply::kNotStored;
    case StoreStatus::kExists:
      return reply::kExists;
    case StoreStatus::kNotFound:
      return reply::kNotFound;
    case StoreStatus::kTooLarge:
      return reply::kTooLarge;
    case StoreStatus::kNoMemory:
      return reply::kOutOfMemory;
    case StoreStatus::kOk:
    case StoreStatus::kNonNumeric:
      break;
  }
  return reply::kError;
}

Operations::StoreMode store_mode(Command command) {
  switch (command) {
    case Command::kAdd:
      return Operations::StoreMode::kAdd;
    case Command::kReplace:
      return Operations::StoreMode::kReplace;
    case Command::kAppend:
      return Operations::StoreMode::kAppend;
    case Command::kPrepend:
      return Operations::StoreMode::kPrepend;
    case Command::kCas:
      return Operations::StoreMode::kCas;
    default:
      return Operations::StoreMode::kSet;
  }
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
  }
  while (!text.empty() && text.back() == ' ') {
    text.remove_suffix(1);
  }
  return text;
}

// First space-separated word of `text`, and what follows it.
std::string_view first_word(std::string_view text, std::string_view* rest) {
  text = trim_spaces(text);
  const size_t end = std::min(text.find(' '), text.size());
  if (rest != nullptr) {
    *rest = trim_spaces(text.substr(end));
  }
  return text.substr(0, end);
}

// STAT <name> <value>\r\n
class TextStatSink final : public StatSink {
 public:
  explicit TextStatSink(OutputBuffer& out) : out_(out) {}
  using StatSink::stat;
  void stat(std::string_view name, std::string_view value) override {
    char* at = protocol::extend(out_, 5 + name.size() + 1 + value.size() + 2);
    at = protocol::copy_to(at, "STAT ");
    at = protocol::copy_to(at, name);
    *at++ = ' ';
    at = protocol::copy_to(at, value);
    protocol::copy_to(at, "\r\n");
  }

 private:
  OutputBuffer& out_;
};

}  // namespace

Step TextProtocol::step(std::string_view input, OutputBuffer& out, uint32_t now) {
  Request request;
  const protocol::ParseResult parsed = protocol::parse_request(input, request, limits_);
  if (observer_ != nullptr) {
    observer_->parsed(input, parsed, request);
  }
  Step step;
  step.consumed = parsed.consumed;
  const size_t reply_start = out.size();
  switch (parsed.status) {
    case protocol::ParseStatus::kNeedMore:
      step.next = Step::Next::kNeedMore;
      step.need = parsed.need;
      return step;
    case protocol::ParseStatus::kError:
      if (parsed.error == protocol::ParseError::kLineTooLong ||
          parsed.error == protocol::ParseError::kHttpRequest) {
        step.next = Step::Next::kCloseAfterWrite;  // no reply, as memcached
      } else {
        refuse(parsed, request, out, now);
        step.swallow = parsed.swallow;
      }
      break;
    case protocol::ParseStatus::kOk:
      if (!execute(request, out, now)) {
        step.next = Step::Next::kCloseAfterWrite;
      }
      break;
  }
  if (observer_ != nullptr) {
    observer_->answered(parsed, request,
                        std::string_view(out.data() + reply_start, out.size() - reply_start),
                        streaming());
  }
  return step;
}

bool TextProtocol::execute(const Request& request, OutputBuffer& out, uint32_t now) {
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      retrieve(request, out, now);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      store_value(request, out, now);
      break;
    case Command::kIncr:
    case Command::kDecr:
      arithmetic(request, out, now);
      break;
    case Command::kTouch:
      touch(request, out, now);
      break;
    case Command::kDelete:
      remove(request, out, now);
      break;
    case Command::kFlushAll:
      flush_all(request, out, now);
      break;
    case Command::kStats:
      stats(request, out, now);
      break;
    case Command::kVersion:
      protocol::append(out, "VERSION ");
      protocol::append(out, kProtocolVersion);
      protocol::append(out, "\r\n");
      break;
    case Command::kVerbosity:
      operations_.set_verbosity(request.level);
      reply_unless_noreply(request, out, reply::kOk);
      break;
    case Command::kQuit:
      return false;
    case Command::kShutdown:
      return !shutdown(request, out);
    case Command::kCacheMemlimit:
      cache_memlimit(request, out, now);
      break;
    case Command::kGetNode:
    case Command::kGetsNode:
      get_node(request, out, now);
      break;
    case Command::kGetChildren:
      list_children(request, out, now);
      break;
    case Command::kGetSubtree:
      get_subtree(request, out, now);
      break;
  }
  return true;
}

void TextProtocol::refuse(const protocol::ParseResult& result, const Request& request,
                          OutputBuffer& out, uint32_t now) {
  if (result.error == protocol::ParseError::kTooLarge) {
    std::string_view path;
    if (codec_.to_path(request.key, request.key_canonical, path) != protocol::ParseError::kNone) {
      path = {};
    }
    operations_.refuse_too_large(request.command == Command::kSet, path, now);
  } else if (result.error == protocol::ParseError::kBadDataChunk) {
    operations_.count_bad_data_chunk();
  }
  reply_unless_noreply(request, out, protocol::error_reply(result.error));
}

bool TextProtocol::resolve(const Request& request, OutputBuffer& out, std::string_view& path) {
  const protocol::ParseError error = codec_.to_path(request.key, request.key_canonical, path);
  if (error == protocol::ParseError::kNone) {
    return true;
  }
  reply_unless_noreply(request, out, protocol::error_reply(error));
  return false;
}

void TextProtocol::append_value(OutputBuffer& out, const storage::ItemRef& item, bool with_cas) {
  const uint64_t cas = item.cas();
  protocol::append(out, "VALUE ");
  codec_.append_wire(out, item.key());
  protocol::append_value_tail(out, item.flags(), item.value(), with_cas ? &cas : nullptr);
}

// get|gets <key>*    gat|gats <exptime> <key>*
void TextProtocol::retrieve(const Request& request, OutputBuffer& out, uint32_t now) {
  const bool touching = request.command == Command::kGat || request.command == Command::kGats;
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  const uint32_t deadline = touching ? operations_.deadline(request.exptime, now) : 0;
  // Nothing is being streamed when a request starts (the Session finishes a
  // stream first), so this request's reply is everything from here on.
  const size_t reply_start = out.size();
  protocol::KeyCursor keys(request.rest);
  std::string_view key;
  while (keys.next(key)) {
    if (key.size() > protocol::kMaxKeyLength) {
      // memcached answers the whole get with this error (the keys before it
      // were looked up). It also drops every earlier reply it has not sent;
      // here a client error answers its own request only (SPEC §1.3).
      out.resize(reply_start);
      stream_.clear();
      protocol::append(out, reply::kBadFormat);
      return;
    }
    std::string_view path;
    if (codec_.to_path(key, true, path) != protocol::ParseError::kNone) {
      // Separator mode: a key that does not split into a valid path misses.
      operations_.count_invalid_key(touching);
      continue;
    }
    storage::ItemRef item =
        touching ? operations_.get_and_touch(path, deadline, now) : operations_.get(path, now);
    if (!item) {
      continue;
    }
    // Past a batch's worth of output the values are kept by reference and
    // written as the client reads (continue_stream), so a multi-get of many
    // large values never sits whole in the buffer.
    if (out.size() < kOutputBatchBytes) {
      append_value(out, item, with_cas);
    } else {
      stream_.push_back(std::move(item));
    }
  }
  if (stream_.empty()) {
    protocol::append(out, reply::kEnd);
    return;
  }
  stream_kind_ = with_cas ? StreamKind::kValuesWithCas : StreamKind::kValues;
  stream_next_ = 0;
}

// getn|getsn <path>
void TextProtocol::get_node(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  if (const storage::ItemRef item = operations_.get_node(path, now)) {
    append_value(out, item, request.command == Command::kGetsNode);
  }
  protocol::append(out, reply::kEnd);
}

// getch [<path>]
void TextProtocol::list_children(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!request.key.empty() && !resolve(request, out, path)) {
    return;
  }
  if (!start_listing(operations_.list_children(path, now, stream_), out)) {
    return;
  }
  // VALUE <path> 0 <bytes>\r\n["a","b"]\r\nEND: the size is known before the
  // names are written, so they can be streamed.
  size_t json_size = 2 + (stream_.empty() ? 0 : stream_.size() - 1);
  for (const storage::ItemRef& child : stream_) {
    json_size += protocol::json_string_size(storage::last_token(child.key()));
  }
  protocol::append(out, "VALUE ");
  if (path.empty()) {
    protocol::append(out, kTopLevelName);
  } else {
    codec_.append_wire(out, path);
  }
  protocol::append(out, " 0 ");
  protocol::append_number(out, json_size);
  protocol::append(out, "\r\n[");
  stream_kind_ = StreamKind::kChildren;
}

// getr <path>
void TextProtocol::get_subtree(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  if (start_listing(operations_.collect_subtree(path, now, stream_), out)) {
    stream_kind_ = StreamKind::kSubtree;
  }
}

bool TextProtocol::start_listing(StoreStatus status, OutputBuffer& out) {
  if (status == StoreStatus::kTooLarge) {
    fmt::format_to(std::back_inserter(out), "SERVER_ERROR more than {} nodes to list\r\n",
                   operations_.max_listing());
    return false;
  }
  if (status != StoreStatus::kOk) {
    protocol::append(out, reply::kEnd);
    return false;
  }
  stream_next_ = 0;
  return true;
}

void TextProtocol::continue_stream(OutputBuffer& out, size_t limit) {
  const size_t part_start = out.size();
  write_stream(out, limit);
  if (observer_ != nullptr) {
    observer_->streamed(std::string_view(out.data() + part_start, out.size() - part_start),
                        !streaming());
  }
}

void TextProtocol::write_stream(OutputBuffer& out, size_t limit) {
  const bool children = stream_kind_ == StreamKind::kChildren;
  const bool with_cas = stream_kind_ == StreamKind::kValuesWithCas;
  for (; stream_next_ < stream_.size() && out.size() < limit; ++stream_next_) {
    storage::ItemRef& node = stream_[stream_next_];
    if (children) {
      if (stream_next_ > 0) {
        out.push_back(',');
      }
      protocol::append_json_string(out, storage::last_token(node.key()));
    } else {
      append_value(out, node, with_cas);
    }
    node.reset();  // written: the item need not be held (and charged) any longer
  }
  if (stream_next_ < stream_.size()) {
    return;
  }
  if (children) {
    protocol::append(out, "]\r\n");
  }
  protocol::append(out, reply::kEnd);
  stream_.clear();
  stream_kind_ = StreamKind::kNone;
}

void TextProtocol::store_value(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const StoreStatus status =
      operations_.store(store_mode(request.command), path, request.data, request.flags,
                        operations_.deadline(request.exptime, now), request.cas_unique, now);
  reply_unless_noreply(request, out, storage_reply(status));
}

void TextProtocol::arithmetic(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  uint64_t result = 0;
  switch (
      operations_.arithmetic(request.command == Command::kIncr, path, request.delta, now, result)) {
    case StoreStatus::kOk:
      if (!request.noreply) {
        protocol::append_number(out, result);
        protocol::append(out, "\r\n");
      }
      return;
    case StoreStatus::kNotFound:
      reply_unless_noreply(request, out, reply::kNotFound);
      return;
    case StoreStatus::kNonNumeric:
      reply_unless_noreply(request, out, reply::kNonNumeric);
      return;
    default:
      reply_unless_noreply(request, out, reply::kOutOfMemoryArith);
      return;
  }
}

void TextProtocol::touch(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const bool hit = operations_.touch(path, operations_.deadline(request.exptime, now), now);
  reply_unless_noreply(request, out, hit ? reply::kTouched : reply::kNotFound);
}

void TextProtocol::remove(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  reply_unless_noreply(request, out,
                       operations_.remove(path, now) ? reply::kDeleted : reply::kNotFound);
}

// flush_all [delay] [noreply]
void TextProtocol::flush_all(const Request& request, OutputBuffer& out, uint32_t now) {
  const Operations::FlushResult result =
      operations_.flush_all(request.has_delay, request.exptime, now);
  reply_unless_noreply(
      request, out,
      result == Operations::FlushResult::kNotAllowed ? reply::kFlushNotAllowed : reply::kOk);
}

void TextProtocol::stats(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view args;
  const std::string_view sub = first_word(request.rest, &args);
  TextStatSink sink(out);
  if (sub.empty()) {
    operations_.general_stats(sink, now);
  } else if (sub == "reset") {
    operations_.reset_stats();
    protocol::append(out, reply::kReset);
    return;
  } else if (sub == "settings") {
    operations_.settings_stats(sink);
  } else if (sub == "tree") {
    operations_.tree_stats(sink);
  } else if (sub == "detail") {
    stats_detail(args, out);
    return;
  } else if (sub == "items" || sub == "slabs" || sub == "conns") {
    // No slab classes here, and connections are not listed: an empty report.
  } else if (sub == "sizes") {
    sink.stat("sizes_status", "disabled");
  } else {
    protocol::append(out, reply::kError);
    return;
  }
  protocol::append(out, reply::kEnd);
}

// stats detail on|off|dump
void TextProtocol::stats_detail(std::string_view args, OutputBuffer& out) {
  const std::string_view mode = first_word(args, nullptr);
  if (mode == "on" || mode == "off") {
    operations_.set_detail(mode == "on");
    protocol::append(out, reply::kOk);
  } else if (mode == "dump") {
    for (const PrefixStats::Entry& entry : operations_.detail_dump()) {
      fmt::format_to(std::back_inserter(out), "PREFIX {} get {} hit {} set {} del {}\r\n",
                     entry.prefix, entry.counts.gets, entry.counts.hits, entry.counts.sets,
                     entry.counts.deletes);
    }
    protocol::append(out, reply::kEnd);
  } else {
    protocol::append(out, reply::kStatsDetailUsage);
  }
}

// shutdown [graceful]: true when the connection closes.
bool TextProtocol::shutdown(const Request& request, OutputBuffer& out) {
  if (!context_.config.shutdown_command) {
    protocol::append(out, reply::kShutdownDisabled);
    return false;
  }
  const std::string_view mode = trim_spaces(request.rest);
  if (!mode.empty() && first_word(mode, nullptr) != "graceful") {
    protocol::append(out, reply::kBadShutdownMode);
    return false;
  }
  return operations_.shutdown();
}

// cache_memlimit <megabytes> [noreply]
void TextProtocol::cache_memlimit(const Request& request, OutputBuffer& out, uint32_t now) {
  switch (operations_.cache_memlimit(request.level, now)) {
    case Operations::MemlimitResult::kTooSmall:
      reply_unless_noreply(request, out, reply::kMemlimitTooSmall);
      return;
    case Operations::MemlimitResult::kNotMegabytes:
      reply_unless_noreply(request, out, reply::kMemlimitNotBytes);
      return;
    case Operations::MemlimitResult::kOk:
      reply_unless_noreply(request, out, reply::kOk);
      return;
  }
}

}  // namespace treecached::server
