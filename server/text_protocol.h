#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "protocol/request.h"
#include "server/operations.h"
#include "server/path_codec.h"
#include "storage/item.h"

namespace treecached::server {

// Sees every request and reply of a TextProtocol: the fuzzers check the
// parser's results and each reply through it while driving the real Session.
// A request's views are valid during the calls about it.
class RequestObserver {
 public:
  // Parsed from `input` (the unread bytes); not run yet.
  virtual void parsed(std::string_view input, const protocol::ParseResult& result,
                      const protocol::Request& request) = 0;
  // The request (kOk or kError) has run and appended `reply`; if
  // `streaming`, the rest of its reply comes through streamed().
  virtual void answered(const protocol::ParseResult& result, const protocol::Request& request,
                        std::string_view reply, bool streaming) = 0;
  // The next part of a streamed reply; `done` with its last part.
  virtual void streamed(std::string_view part, bool done) = 0;

 protected:
  ~RequestObserver() = default;
};

// What a protocol handler tells the Session after one request.
struct Step {
  enum class Next : uint8_t {
    kContinue,         // the request is done; go on with the next
    kNeedMore,         // the request is not complete yet: wait for `need` bytes in all
    kCloseAfterWrite,  // send what is queued, then close (quit, a bad line)
  };
  Next next = Next::kContinue;
  size_t consumed = 0;  // input bytes the request used
  size_t swallow = 0;   // data bytes after those to discard (a refused value)
  size_t need = 0;      // kNeedMore: total input bytes wanted
};

// memcached's text protocol (SPEC §1, §2): parses one request at a time
// with protocol::parse_request, runs it through Operations and writes the
// text reply. Replies too big for one output batch (long multi-gets and
// listings) are written in parts as the client reads: while streaming() the
// Session calls continue_stream() before running further requests.
// One per connection; not thread-safe.
class TextProtocol {
 public:
  // One batch of output: the Session stops running requests once this much
  // waits to be sent, and a multi-get streams its values past it.
  static constexpr size_t kOutputBatchBytes = 256 * 1024;

  TextProtocol(ServerContext& context, Operations& operations,
               const protocol::ParserLimits& limits) noexcept
      : context_(context),
        operations_(operations),
        limits_(limits),
        codec_(context.config.key_separator, context.config.max_depth) {}

  // Parses the first request of `input` and, if it is complete, runs it and
  // appends its reply to `out` (nothing under noreply).
  Step step(std::string_view input, protocol::OutputBuffer& out, uint32_t now);

  [[nodiscard]] bool streaming() const noexcept { return stream_kind_ != StreamKind::kNone; }
  // Writes more of the reply being streamed, until `out` holds `limit` bytes
  // or the reply is complete.
  void continue_stream(protocol::OutputBuffer& out, size_t limit);

  void set_observer(RequestObserver* observer) noexcept { observer_ = observer; }

 private:
  enum class StreamKind : uint8_t { kNone, kChildren, kSubtree, kValues, kValuesWithCas };

  // false to close the connection after the reply.
  bool execute(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  // Answers a request the parser refused.
  void refuse(const protocol::ParseResult& result, const protocol::Request& request,
              protocol::OutputBuffer& out, uint32_t now);
  // The store path of a request's key; on failure answers the error.
  bool resolve(const protocol::Request& request, protocol::OutputBuffer& out,
               std::string_view& path);
  void append_value(protocol::OutputBuffer& out, const storage::ItemRef& item, bool with_cas);
  void retrieve(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void get_node(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void list_children(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void get_subtree(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  // Answers a miss or an over-limit listing; true when stream_ holds the
  // nodes to write.
  bool start_listing(storage::StoreStatus status, protocol::OutputBuffer& out);
  void write_stream(protocol::OutputBuffer& out, size_t limit);
  void store_value(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void arithmetic(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void touch(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void remove(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void flush_all(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void stats(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void stats_detail(std::string_view args, protocol::OutputBuffer& out);
  bool shutdown(const protocol::Request& request, protocol::OutputBuffer& out);
  void cache_memlimit(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);

  ServerContext& context_;
  Operations& operations_;
  const protocol::ParserLimits& limits_;
  PathCodec codec_;
  RequestObserver* observer_ = nullptr;
  // The reply being streamed: its nodes and the next one to write.
  StreamKind stream_kind_ = StreamKind::kNone;
  std::vector<storage::ItemRef> stream_;
  size_t stream_next_ = 0;
};

}  // namespace treecached::server
