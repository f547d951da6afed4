#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "server/context.h"
#include "server/prefix_stats.h"
#include "server/stats.h"
#include "storage/item.h"
#include "storage/store.h"

namespace treecached::server {

// Receives `stats` figures one at a time; each protocol writes them in its
// own format (the text protocol as "STAT <name> <value>\r\n").
class StatSink {
 public:
  virtual void stat(std::string_view name, std::string_view value) = 0;
  void stat(std::string_view name, uint64_t value);

 protected:
  ~StatSink() = default;
};

// What every protocol does to the store, counted as memcached counts it:
// the one path from a request into the store, its counters and its `stats`.
// The text protocol uses it today; meta and binary requests will map onto
// the same calls, so that a new protocol adds a parser and a reply encoder
// but no new path into the store and no new counters. Knows no wire format:
// paths are store paths (storage/path.h), times server seconds
// (server/clock.h). One per connection, used on its worker's thread only.
class Operations {
 public:
  Operations(ServerContext& context, WorkerCounters& counters) noexcept
      : context_(context), counters_(counters) {}

  // A client exptime as a deadline in server seconds.
  [[nodiscard]] uint32_t deadline(int32_t exptime, uint32_t now) const noexcept;

  // One key of get/gets (cmd_get, get_hits, get_misses) or of gat/gats
  // (cmd_touch, touch_hits, touch_misses, and the new deadline). Every key
  // looked up counts, so that cmd_get = get_hits + get_misses. Inline: the
  // hot path.
  [[nodiscard]] storage::ItemRef get(std::string_view path, uint32_t now) {
    counters_.add(Counter::kCmdGet);
    storage::ItemRef item = context_.store.get(path, now);
    counters_.add(item ? Counter::kGetHits : Counter::kGetMisses);
    if (context_.prefix_stats.enabled()) {
      context_.prefix_stats.record_get(path, static_cast<bool>(item));
    }
    return item;
  }
  [[nodiscard]] storage::ItemRef get_and_touch(std::string_view path, uint32_t deadline,
                                               uint32_t now) {
    counters_.add(Counter::kCmdTouch);
    storage::ItemRef item = context_.store.get_and_touch(path, deadline, now);
    counters_.add(item ? Counter::kTouchHits : Counter::kTouchMisses);
    if (context_.prefix_stats.enabled()) {
      context_.prefix_stats.record_get(path, static_cast<bool>(item));
    }
    return item;
  }
  // A key of a multi-get that names no valid path: looked up, and missed.
  void count_invalid_key(bool touching) {
    counters_.add(touching ? Counter::kCmdTouch : Counter::kCmdGet);
    counters_.add(touching ? Counter::kTouchMisses : Counter::kGetMisses);
  }

  enum class StoreMode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };
  // The storage commands (cmd_set, cas_*, store_too_large, store_no_memory).
  [[nodiscard]] storage::StoreStatus store(StoreMode mode, std::string_view path,
                                           std::string_view data, uint32_t flags, uint32_t deadline,
                                           uint64_t cas, uint32_t now);
  // A storage command refused before its data was read because the item
  // would be too large: counted, and a set drops the old value (memcached).
  // `path` is empty when the key named no valid path.
  void refuse_too_large(bool is_set, std::string_view path, uint32_t now);
  // A storage command whose data block did not end in "\r\n" (cmd_set).
  void count_bad_data_chunk();

  // incr/decr (incr_hits, incr_misses, decr_hits, decr_misses).
  [[nodiscard]] storage::StoreStatus arithmetic(bool increment, std::string_view path,
                                                uint64_t delta, uint32_t now, uint64_t& result);
  // touch (cmd_touch, touch_hits, touch_misses).
  [[nodiscard]] bool touch(std::string_view path, uint32_t deadline, uint32_t now);
  // delete of a node and its subtree (delete_hits, delete_misses).
  [[nodiscard]] bool remove(std::string_view path, uint32_t now);

  enum class FlushResult : uint8_t { kDone, kNotAllowed };
  // flush_all [delay] (cmd_flush); kNotAllowed under -F.
  [[nodiscard]] FlushResult flush_all(bool has_delay, int32_t delay, uint32_t now);

  // The node reads (getn, getch, getr): cmd_get and a hit or a miss each.
  [[nodiscard]] storage::ItemRef get_node(std::string_view path, uint32_t now);
  [[nodiscard]] storage::StoreStatus list_children(std::string_view path, uint32_t now,
                                                   std::vector<storage::ItemRef>& out);
  [[nodiscard]] storage::StoreStatus collect_subtree(std::string_view path, uint32_t now,
                                                     std::vector<storage::ItemRef>& out);
  [[nodiscard]] size_t max_listing() const noexcept { return context_.config.max_listing; }

  // `stats`, `stats settings`, `stats tree` and `stats reset`.
  void general_stats(StatSink& sink, uint32_t now);
  void settings_stats(StatSink& sink);
  void tree_stats(StatSink& sink);
  void reset_stats();
  // `stats detail on|off|dump`: per-prefix counts (server/prefix_stats.h).
  void set_detail(bool on) noexcept;
  [[nodiscard]] std::vector<PrefixStats::Entry> detail_dump() const;

  void set_verbosity(uint32_t level) noexcept;
  enum class MemlimitResult : uint8_t { kOk, kTooSmall, kNotMegabytes };
  // cache_memlimit <megabytes>: a lower limit evicts down to it.
  [[nodiscard]] MemlimitResult cache_memlimit(uint32_t megabytes, uint32_t now);
  // shutdown: false when not enabled (-A).
  [[nodiscard]] bool shutdown();

 private:
  ServerContext& context_;
  WorkerCounters& counters_;
};

}  // namespace treecached::server
