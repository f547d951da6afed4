#include "server/executor.h"

#include <event2/event.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <string_view>

#include "protocol/exptime.h"
#include "protocol/json.h"

namespace treecached::server {
namespace {

using protocol::Command;
using protocol::OutputBuffer;
using protocol::Request;
using storage::StoreStatus;
namespace reply = protocol::reply;

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

std::string seconds_with_micros(const timeval& tv) {
  return fmt::format("{}.{:06}", tv.tv_sec, tv.tv_usec);
}

}  // namespace

Executor::Next Executor::execute(const Request& request, OutputBuffer& out, uint32_t now) {
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
      context_.verbosity.store(std::min(request.level, 2U), std::memory_order_relaxed);
      reply_unless_noreply(request, out, reply::kOk);
      break;
    case Command::kQuit:
      return Next::kCloseAfterWrite;
    case Command::kShutdown:
      return shutdown(request, out);
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
  return Next::kContinue;
}

bool Executor::resolve(const Request& request, OutputBuffer& out, std::string_view& path) {
  const protocol::ParseError error = codec_.to_path(request.key, request.key_canonical, path);
  if (error == protocol::ParseError::kNone) {
    return true;
  }
  reply_unless_noreply(request, out, protocol::error_reply(error));
  return false;
}

void Executor::append_value(OutputBuffer& out, const storage::ItemRef& item, bool with_cas) {
  const uint64_t cas = item.cas();
  protocol::append(out, "VALUE ");
  codec_.append_wire(out, item.key());
  protocol::append_value_tail(out, item.flags(), item.value(), with_cas ? &cas : nullptr);
}

// getn|getsn <path>
void Executor::get_node(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const storage::ItemRef item = context_.store.get(path, now);
  counters_.add(Counter::kCmdGet);
  counters_.add(item ? Counter::kGetHits : Counter::kGetMisses);
  if (item) {
    append_value(out, item, request.command == Command::kGetsNode);
  }
  protocol::append(out, reply::kEnd);
}

void Executor::list_children(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!request.key.empty() && !resolve(request, out, path)) {
    return;
  }
  if (!start_listing(context_.store.list_children(path, now, context_.config.max_listing, stream_),
                     out)) {
    return;
  }
  // VALUE <path> 0 <bytes>\r\n["a","b"]\r\nEND: the size is known before the
  // names are written, so they can be streamed.
  size_t json_size = 2 + (stream_.empty() ? 0 : stream_.size() - 1);
  for (const storage::ItemRef& child : stream_) {
    json_size += protocol::json_string_size(PathCodec::name_of(child.key()));
  }
  protocol::append(out, "VALUE ");
  codec_.append_wire(out, path);
  protocol::append(out, " 0 ");
  protocol::append_number(out, json_size);
  protocol::append(out, "\r\n[");
  stream_kind_ = StreamKind::kChildren;
}

// getr <path>
void Executor::get_subtree(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  if (start_listing(context_.store.collect_subtree(path, now, context_.config.max_listing, stream_),
                    out)) {
    stream_kind_ = StreamKind::kSubtree;
  }
}

bool Executor::start_listing(StoreStatus status, OutputBuffer& out) {
  counters_.add(Counter::kCmdGet);
  counters_.add(status == StoreStatus::kOk ? Counter::kGetHits : Counter::kGetMisses);
  if (status == StoreStatus::kTooLarge) {
    fmt::format_to(std::back_inserter(out), "SERVER_ERROR more than {} nodes to list\r\n",
                   context_.config.max_listing);
    return false;
  }
  if (status != StoreStatus::kOk) {
    protocol::append(out, reply::kEnd);
    return false;
  }
  stream_next_ = 0;
  return true;
}

void Executor::continue_stream(OutputBuffer& out, size_t output_limit) {
  const bool children = stream_kind_ == StreamKind::kChildren;
  const bool with_cas = stream_kind_ == StreamKind::kValuesWithCas;
  for (; stream_next_ < stream_.size() && out.size() < output_limit; ++stream_next_) {
    storage::ItemRef& node = stream_[stream_next_];
    if (children) {
      if (stream_next_ > 0) {
        out.push_back(',');
      }
      protocol::append_json_string(out, PathCodec::name_of(node.key()));
    } else {
      append_value(out, node, with_cas);
      node.reset();  // written: the item need not be held any longer
    }
  }
  if (stream_next_ < stream_.size()) {
    return;
  }
  if (children) {
    protocol::append(out, "]\r\n");
  }
  protocol::append(out, reply::kEnd);
  stream_.clear();  // drops the references
  stream_kind_ = StreamKind::kNone;
}

void Executor::execute_error(const protocol::ParseResult& result, const Request& request,
                             OutputBuffer& out, uint32_t now) {
  if (result.error == protocol::ParseError::kTooLarge) {
    counters_.add(Counter::kStoreTooLarge);
    // As memcached: a set that cannot be stored drops the old value.
    std::string_view path;
    if (request.command == Command::kSet &&
        codec_.to_path(request.key, request.key_canonical, path) == protocol::ParseError::kNone) {
      context_.store.discard_value(path, now);
    }
  } else if (result.error == protocol::ParseError::kBadDataChunk) {
    counters_.add(Counter::kCmdSet);
  }
  reply_unless_noreply(request, out, protocol::error_reply(result.error));
}

// get|gets <key>*    gat|gats <exptime> <key>*
void Executor::retrieve(const Request& request, OutputBuffer& out, uint32_t now) {
  const bool touching = request.command == Command::kGat || request.command == Command::kGats;
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  const uint32_t deadline = touching ? protocol::to_deadline(request.exptime, now) : 0;
  protocol::KeyCursor keys(request.rest);
  std::string_view key;
  while (keys.next(key)) {
    if (key.size() > protocol::kMaxKeyLength) {
      // memcached discards every reply not yet sent on the connection, not
      // only this command's: the earlier replies of the batch are lost too.
      out.clear();
      stream_.clear();
      protocol::append(out, reply::kBadFormat);
      return;
    }
    // Every key looked up counts, so that cmd_get = get_hits + get_misses
    // (and likewise for touches).
    counters_.add(touching ? Counter::kCmdTouch : Counter::kCmdGet);
    std::string_view path;
    if (codec_.to_path(key, true, path) != protocol::ParseError::kNone) {
      // Separator mode: a key that does not split into a valid path misses.
      counters_.add(touching ? Counter::kTouchMisses : Counter::kGetMisses);
      continue;
    }
    storage::ItemRef item = touching ? context_.store.get_and_touch(path, deadline, now)
                                     : context_.store.get(path, now);
    if (!item) {
      counters_.add(touching ? Counter::kTouchMisses : Counter::kGetMisses);
      continue;
    }
    counters_.add(touching ? Counter::kTouchHits : Counter::kGetHits);
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

void Executor::store_value(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  storage::Store& store = context_.store;
  const uint32_t deadline = protocol::to_deadline(request.exptime, now);
  StoreStatus status = StoreStatus::kNotStored;
  switch (request.command) {
    case Command::kSet:
      status = store.set(path, request.data, request.flags, deadline, now);
      break;
    case Command::kAdd:
      status = store.add(path, request.data, request.flags, deadline, now);
      break;
    case Command::kReplace:
      status = store.replace(path, request.data, request.flags, deadline, now);
      break;
    case Command::kAppend:
      status = store.append(path, request.data, now);
      break;
    case Command::kPrepend:
      status = store.prepend(path, request.data, now);
      break;
    case Command::kCas:
      status = store.cas(path, request.data, request.flags, deadline, request.cas_unique, now);
      if (status == StoreStatus::kStored) {
        counters_.add(Counter::kCasHits);
      } else if (status == StoreStatus::kExists) {
        counters_.add(Counter::kCasBadval);
      } else if (status == StoreStatus::kNotFound) {
        counters_.add(Counter::kCasMisses);
      }
      break;
    default:
      break;
  }
  counters_.add(Counter::kCmdSet);
  if (status == StoreStatus::kTooLarge) {
    counters_.add(Counter::kStoreTooLarge);
  } else if (status == StoreStatus::kNoMemory) {
    counters_.add(Counter::kStoreNoMemory);
  }
  reply_unless_noreply(request, out, storage_reply(status));
}

void Executor::arithmetic(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const bool increment = request.command == Command::kIncr;
  uint64_t result = 0;
  const StoreStatus status = increment ? context_.store.incr(path, request.delta, now, result)
                                       : context_.store.decr(path, request.delta, now, result);
  switch (status) {
    case StoreStatus::kOk:
      counters_.add(increment ? Counter::kIncrHits : Counter::kDecrHits);
      if (!request.noreply) {
        protocol::append_number(out, result);
        protocol::append(out, "\r\n");
      }
      return;
    case StoreStatus::kNotFound:
      counters_.add(increment ? Counter::kIncrMisses : Counter::kDecrMisses);
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

void Executor::touch(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const StoreStatus status =
      context_.store.touch(path, protocol::to_deadline(request.exptime, now), now);
  counters_.add(Counter::kCmdTouch);
  const bool hit = status == StoreStatus::kOk;
  counters_.add(hit ? Counter::kTouchHits : Counter::kTouchMisses);
  reply_unless_noreply(request, out, hit ? reply::kTouched : reply::kNotFound);
}

void Executor::remove(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view path;
  if (!resolve(request, out, path)) {
    return;
  }
  const bool hit = context_.store.remove(path, now) == StoreStatus::kOk;
  counters_.add(hit ? Counter::kDeleteHits : Counter::kDeleteMisses);
  reply_unless_noreply(request, out, hit ? reply::kDeleted : reply::kNotFound);
}

// flush_all [delay] [noreply]
void Executor::flush_all(const Request& request, OutputBuffer& out, uint32_t now) {
  counters_.add(Counter::kCmdFlush);
  const int32_t delay = request.has_delay ? request.exptime : 0;
  // memcached measures absolute times from 62 s before its start; one at or
  // before that point (plus one second) leaves its flush marker at zero,
  // which means "no flush". Clients see OK and nothing is flushed.
  const auto flush_floor = static_cast<int64_t>(context_.started) - 61;
  if (delay > protocol::kMaxRelativeExptime && delay <= flush_floor) {
    reply_unless_noreply(request, out, reply::kOk);
    return;
  }
  // memcached flushes what was stored up to one second before the deadline.
  const uint32_t at = delay > 0 ? protocol::to_deadline(delay, now) - 1 : now;
  context_.store.flush_all(at, now);
  reply_unless_noreply(request, out, reply::kOk);
}

void Executor::stats(const Request& request, OutputBuffer& out, uint32_t now) {
  std::string_view args;
  const std::string_view sub = first_word(request.rest, &args);
  if (sub.empty()) {
    general_stats(out, now);
  } else if (sub == "reset") {
    context_.baseline.set(context_.counter_totals());
    context_.store.reset_stats();
    context_.connections.total.store(0, std::memory_order_relaxed);
    context_.connections.rejected.store(0, std::memory_order_relaxed);
    protocol::append(out, reply::kReset);
    return;
  } else if (sub == "settings") {
    settings_stats(out);
  } else if (sub == "tree") {
    tree_stats(out);
  } else if (sub == "detail") {
    // Per-prefix statistics are not kept.
    protocol::append(out, reply::kStatsDetailUsage);
    return;
  } else if (sub == "items" || sub == "slabs" || sub == "conns") {
    // No slab classes here, and connections are not listed: an empty report.
  } else if (sub == "sizes") {
    protocol::append_stat(out, "sizes_status", "disabled");
  } else {
    protocol::append(out, reply::kError);
    return;
  }
  protocol::append(out, reply::kEnd);
}

void Executor::general_stats(OutputBuffer& out, uint32_t now) {
  const CounterValues c = context_.baseline.subtract_from(context_.counter_totals());
  const auto value = [&c](Counter counter) { return c[static_cast<size_t>(counter)]; };
  const storage::StoreStats store = context_.store.stats();
  const ConnectionStats& conns = context_.connections;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto zero = 0;

  protocol::append_stat(out, "pid", getpid());
  protocol::append_stat(out, "uptime", now - static_cast<uint32_t>(context_.started));
  protocol::append_stat(out, "time", now);
  protocol::append_stat(out, "version", kProtocolVersion);
  protocol::append_stat(out, "libevent", event_get_version());
  protocol::append_stat(out, "pointer_size", sizeof(void*) * 8);
  protocol::append_stat(out, "rusage_user", seconds_with_micros(usage.ru_utime));
  protocol::append_stat(out, "rusage_system", seconds_with_micros(usage.ru_stime));
  protocol::append_stat(out, "max_connections", context_.config.max_connections);
  protocol::append_stat(out, "curr_connections", conns.current.load(std::memory_order_relaxed));
  protocol::append_stat(out, "total_connections", conns.total.load(std::memory_order_relaxed));
  protocol::append_stat(out, "rejected_connections",
                        conns.rejected.load(std::memory_order_relaxed));
  protocol::append_stat(out, "connection_structures",
                        conns.current.load(std::memory_order_relaxed));
  // memcached's response-object and read-buffer pools do not exist here.
  for (const char* name :
       {"response_obj_oom", "response_obj_count", "response_obj_bytes", "read_buf_count",
        "read_buf_bytes", "read_buf_bytes_free", "read_buf_oom", "reserved_fds"}) {
    protocol::append_stat(out, name, zero);
  }
  protocol::append_stat(out, "cmd_get", value(Counter::kCmdGet));
  protocol::append_stat(out, "cmd_set", value(Counter::kCmdSet));
  protocol::append_stat(out, "cmd_flush", value(Counter::kCmdFlush));
  protocol::append_stat(out, "cmd_touch", value(Counter::kCmdTouch));
  protocol::append_stat(out, "cmd_meta", zero);
  protocol::append_stat(out, "get_hits", value(Counter::kGetHits));
  protocol::append_stat(out, "get_misses", value(Counter::kGetMisses));
  protocol::append_stat(out, "get_expired", store.get_expired);
  protocol::append_stat(out, "get_flushed", store.get_flushed);
  protocol::append_stat(out, "delete_misses", value(Counter::kDeleteMisses));
  protocol::append_stat(out, "delete_hits", value(Counter::kDeleteHits));
  protocol::append_stat(out, "incr_misses", value(Counter::kIncrMisses));
  protocol::append_stat(out, "incr_hits", value(Counter::kIncrHits));
  protocol::append_stat(out, "decr_misses", value(Counter::kDecrMisses));
  protocol::append_stat(out, "decr_hits", value(Counter::kDecrHits));
  protocol::append_stat(out, "cas_misses", value(Counter::kCasMisses));
  protocol::append_stat(out, "cas_hits", value(Counter::kCasHits));
  protocol::append_stat(out, "cas_badval", value(Counter::kCasBadval));
  protocol::append_stat(out, "touch_hits", value(Counter::kTouchHits));
  protocol::append_stat(out, "touch_misses", value(Counter::kTouchMisses));
  protocol::append_stat(out, "store_too_large", value(Counter::kStoreTooLarge));
  protocol::append_stat(out, "store_no_memory", value(Counter::kStoreNoMemory));
  protocol::append_stat(out, "auth_cmds", zero);
  protocol::append_stat(out, "auth_errors", zero);
  protocol::append_stat(out, "bytes_read", value(Counter::kBytesRead));
  protocol::append_stat(out, "bytes_written", value(Counter::kBytesWritten));
  protocol::append_stat(out, "limit_maxbytes", store.limit_maxbytes);
  protocol::append_stat(out, "accepting_conns", 1);
  protocol::append_stat(out, "listen_disabled_num", zero);
  protocol::append_stat(out, "time_in_listen_disabled_us", zero);
  protocol::append_stat(out, "threads", context_.config.threads);
  protocol::append_stat(out, "conn_yields", zero);
  protocol::append_stat(out, "hash_power_level",
                        store.hash_buckets == 0 ? 0 : std::bit_width(store.hash_buckets) - 1);
  protocol::append_stat(out, "hash_bytes", store.hash_buckets * sizeof(void*));
  protocol::append_stat(out, "hash_is_expanding", zero);
  // Slab rebalancing, the LRU crawler, the log watcher and NAPI ids are
  // memcached machinery with no counterpart here; their counters stay 0.
  for (const char* name :
       {"slab_reassign_rescues", "slab_reassign_chunk_rescues", "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim", "slab_reassign_busy_items", "slab_reassign_busy_deletes",
        "slab_reassign_running", "slabs_moved", "lru_crawler_running", "lru_crawler_starts",
        "lru_maintainer_juggles", "malloc_fails", "log_worker_dropped", "log_worker_written",
        "log_watcher_skipped", "log_watcher_sent", "log_watchers", "unexpected_napi_ids",
        "round_robin_fallback"}) {
    protocol::append_stat(out, name, zero);
  }
  protocol::append_stat(out, "bytes", store.bytes);
  protocol::append_stat(out, "curr_items", store.curr_items);
  protocol::append_stat(out, "total_items", store.total_items);
  protocol::append_stat(out, "slab_global_page_pool", zero);
  protocol::append_stat(out, "expired_unfetched", store.expired_unfetched);
  protocol::append_stat(out, "evicted_unfetched", store.evicted_unfetched);
  protocol::append_stat(out, "evicted_active", zero);
  protocol::append_stat(out, "evictions", store.evictions);
  protocol::append_stat(out, "reclaimed", store.reclaimed);
  // The background sweep plays the part of memcached's LRU crawler.
  protocol::append_stat(out, "crawler_reclaimed", store.sweep_reclaimed);
  protocol::append_stat(out, "crawler_items_checked", store.sweep_checked);
  for (const char* name : {"lrutail_reflocked", "moves_to_cold", "moves_to_warm",
                           "moves_within_lru", "direct_reclaims", "lru_bumps_dropped"}) {
    protocol::append_stat(out, name, zero);
  }
}

void Executor::settings_stats(OutputBuffer& out) {
  const Config& config = context_.config;
  const auto stat = [&out](std::string_view name, const auto& value) {
    protocol::append_stat(out, name, value);
  };
  stat("maxbytes", context_.store.memory_limit());
  stat("maxconns", config.max_connections);
  stat("tcpport", config.port);
  stat("udpport", 0);
  stat("inter", config.listen_address);
  stat("verbosity", context_.verbosity.load(std::memory_order_relaxed));
  stat("oldest", 0);
  stat("evictions", config.evictions_enabled ? "on" : "off");
  stat("domain_socket", "NULL");
  stat("umask", 700);
  stat("shutdown_command", config.shutdown_command ? "yes" : "no");
  stat("growth_factor", "1.25");
  stat("chunk_size", 48);
  stat("num_threads", config.threads);
  stat("num_threads_per_udp", config.threads);
  stat("stat_key_prefix", ":");
  stat("detail_enabled", "no");
  stat("reqs_per_event", 20);
  stat("cas_enabled", "yes");
  stat("tcp_backlog", 1024);
  stat("binding_protocol", "ascii");
  stat("auth_enabled_sasl", "no");
  stat("auth_enabled_ascii", "no");
  stat("item_size_max", config.max_item_size);
  stat("maxconns_fast", "yes");
  stat("hashpower_init", 0);
  // memcached's slab, LRU-maintainer, extstore and TLS settings, reported with
  // the values that describe this server (features absent: off / 0).
  stat("slab_reassign", "no");
  stat("slab_automove", 0);
  stat("slab_automove_ratio", "0.00");
  stat("slab_automove_window", 0);
  stat("slab_chunk_max", config.max_item_size);
  stat("lru_crawler", "no");
  stat("lru_crawler_sleep", 0);
  stat("lru_crawler_tocrawl", 0);
  stat("tail_repair_time", 0);
  stat("flush_enabled", "yes");
  stat("dump_enabled", "no");
  stat("hash_algorithm", "treecached");
  stat("lru_maintainer_thread", "no");
  stat("lru_segmented", "no");
  stat("hot_lru_pct", 0);
  stat("warm_lru_pct", 0);
  stat("hot_max_factor", "0.00");
  stat("warm_max_factor", "0.00");
  stat("temp_lru", "no");
  stat("temporary_ttl", 0);
  stat("idle_timeout", config.idle_timeout);
  stat("watcher_logbuf_size", 0);
  stat("worker_logbuf_size", 0);
  stat("read_buf_mem_limit", 0);
  stat("track_sizes", "no");
  stat("inline_ascii_response", "no");
  stat("ext_item_size", 0);
  stat("ext_item_age", 0);
  stat("ext_low_ttl", 0);
  stat("ext_recache_rate", 0);
  stat("ext_wbuf_size", 0);
  stat("ext_compact_under", 0);
  stat("ext_drop_under", 0);
  stat("ext_max_sleep", 0);
  stat("ext_max_frag", "0.00");
  stat("slab_automove_freeratio", "0.000");
  stat("ext_drop_unread", "no");
  stat("ssl_enabled", "no");
  stat("ssl_chain_cert", "(null)");
  stat("ssl_key", "(null)");
  stat("ssl_verify_mode", 0);
  stat("ssl_keyformat", 0);
  stat("ssl_ciphers", "NULL");
  stat("ssl_ca_cert", "NULL");
  stat("ssl_wbuf_size", 0);
  stat("ssl_session_cache", "no");
  stat("ssl_kernel_tls", "no");
  stat("ssl_min_version", "none");
  stat("num_napi_ids", "(null)");
  stat("memory_file", "(null)");
}

void Executor::tree_stats(OutputBuffer& out) {
  const storage::TreeStats tree = context_.store.tree_stats();
  protocol::append_stat(out, "nodes", tree.nodes);
  protocol::append_stat(out, "value_nodes", tree.value_nodes);
  protocol::append_stat(out, "max_depth", tree.max_depth);
  protocol::append_stat(out, "subtree_deletes", tree.subtree_deletes);
}

Executor::Next Executor::shutdown(const Request& request, OutputBuffer& out) {
  if (!context_.config.shutdown_command) {
    protocol::append(out, reply::kShutdownDisabled);
    return Next::kContinue;
  }
  const std::string_view mode = trim_spaces(request.rest);
  if (!mode.empty() && first_word(mode, nullptr) != "graceful") {
    protocol::append(out, reply::kBadShutdownMode);
    return Next::kContinue;
  }
  if (context_.request_shutdown) {
    context_.request_shutdown();
  }
  return Next::kCloseAfterWrite;
}

// cache_memlimit <megabytes> [noreply]
void Executor::cache_memlimit(const Request& request, OutputBuffer& out, uint32_t now) {
  const uint32_t megabytes = request.level;
  if (megabytes < 8) {
    reply_unless_noreply(request, out, reply::kMemlimitTooSmall);
  } else if (megabytes > 1000000000) {
    reply_unless_noreply(request, out, reply::kMemlimitNotBytes);
  } else {
    context_.store.set_memory_limit(size_t{megabytes} * 1024 * 1024, now);
    reply_unless_noreply(request, out, reply::kOk);
  }
}

}  // namespace treecached::server
