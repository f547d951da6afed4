#pragma once

#include <cstdint>
#include <vector>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "protocol/request.h"
#include "server/context.h"
#include "server/path_codec.h"
#include "server/stats.h"

namespace treecached::server {

// Turns parsed requests into store calls and replies. One per connection
// worker; not thread-safe.
class Executor {
 public:
  // One batch of output: the connection stops executing requests once this
  // much waits to be sent, and a multi-get streams the values past it (see
  // streaming()).
  static constexpr size_t kOutputBatchBytes = 256 * 1024;

  enum class Next { kContinue, kCloseAfterWrite };

  Executor(ServerContext& context, WorkerCounters& counters) noexcept
      : context_(context),
        counters_(counters),
        codec_(context.config.key_separator, context.config.max_depth) {}

  // Runs a complete request and appends its reply (unless noreply).
  Next execute(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);

  // A getch, getr or multi-get reply too big for one batch is written in parts: while
  // streaming() is true the caller calls continue_stream() once the output
  // has drained, before executing further requests.
  [[nodiscard]] bool streaming() const noexcept { return stream_kind_ != StreamKind::kNone; }
  void continue_stream(protocol::OutputBuffer& out, size_t output_limit);

  // Answers a request the parser refused. The caller handles swallowing and
  // closing (kLineTooLong).
  void execute_error(const protocol::ParseResult& result, const protocol::Request& request,
                     protocol::OutputBuffer& out, uint32_t now);

 private:
  enum class StreamKind : uint8_t { kNone, kChildren, kSubtree, kValues, kValuesWithCas };

  // The store path of a request's key; on failure answers the error.
  bool resolve(const protocol::Request& request, protocol::OutputBuffer& out,
               std::string_view& path);
  void append_value(protocol::OutputBuffer& out, const storage::ItemRef& item, bool with_cas);
  void get_node(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void list_children(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void get_subtree(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  // Counts a listing and answers a miss or an over-limit listing; true when
  // stream_ holds the nodes to write.
  bool start_listing(storage::StoreStatus status, protocol::OutputBuffer& out);
  void tree_stats(protocol::OutputBuffer& out);
  void retrieve(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void store_value(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void arithmetic(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void touch(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void remove(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void flush_all(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void stats(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);
  void general_stats(protocol::OutputBuffer& out, uint32_t now);
  void settings_stats(protocol::OutputBuffer& out);
  Next shutdown(const protocol::Request& request, protocol::OutputBuffer& out);
  void cache_memlimit(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);

  ServerContext& context_;
  WorkerCounters& counters_;
  PathCodec codec_;
  // The reply being streamed: its nodes and the next one to write.
  StreamKind stream_kind_ = StreamKind::kNone;
  std::vector<storage::ItemRef> stream_;
  size_t stream_next_ = 0;
};

}  // namespace treecached::server
