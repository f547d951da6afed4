#pragma once

#include <cstdint>

#include "protocol/parser.h"
#include "protocol/reply.h"
#include "protocol/request.h"
#include "server/context.h"
#include "server/stats.h"

namespace treecached::server {

// Turns parsed requests into store calls and replies. One per connection
// worker; not thread-safe.
class Executor {
 public:
  enum class Next { kContinue, kCloseAfterWrite };

  Executor(ServerContext& context, WorkerCounters& counters) noexcept
      : context_(context), counters_(counters) {}

  // Runs a complete request and appends its reply (unless noreply).
  Next execute(const protocol::Request& request, protocol::OutputBuffer& out, uint32_t now);

  // Answers a request the parser refused. The caller handles swallowing and
  // closing (kLineTooLong).
  void execute_error(const protocol::ParseResult& result, const protocol::Request& request,
                     protocol::OutputBuffer& out, uint32_t now);

 private:
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
  void cache_memlimit(const protocol::Request& request, protocol::OutputBuffer& out);

  ServerContext& context_;
  WorkerCounters& counters_;
};

}  // namespace treecached::server
