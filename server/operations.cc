#include "server/operations.h"

#include <event2/event.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>

#include "protocol/exptime.h"

namespace treecached::server {

using storage::ItemRef;
using storage::StoreStatus;

void StatSink::stat(std::string_view name, uint64_t value) {
  const fmt::format_int digits(value);
  stat(name, std::string_view(digits.data(), digits.size()));
}

uint32_t Operations::deadline(int32_t exptime, uint32_t now) const noexcept {
  return protocol::to_deadline(exptime, now, context_.clock.process_started());
}

StoreStatus Operations::store(StoreMode mode, std::string_view path, std::string_view data,
                              uint32_t flags, uint32_t deadline, uint64_t cas, uint32_t now) {
  if (context_.prefix_stats.enabled()) {
    context_.prefix_stats.record_set(path);
  }
  storage::Store& store = context_.store;
  StoreStatus status = StoreStatus::kNotStored;
  switch (mode) {
    case StoreMode::kSet:
      status = store.set(path, data, flags, deadline, now);
      break;
    case StoreMode::kAdd:
      status = store.add(path, data, flags, deadline, now);
      break;
    case StoreMode::kReplace:
      status = store.replace(path, data, flags, deadline, now);
      break;
    case StoreMode::kAppend:
      status = store.append(path, data, now);
      break;
    case StoreMode::kPrepend:
      status = store.prepend(path, data, now);
      break;
    case StoreMode::kCas:
      status = store.cas(path, data, flags, deadline, cas, now);
      if (status == StoreStatus::kStored) {
        counters_.add(Counter::kCasHits);
      } else if (status == StoreStatus::kExists) {
        counters_.add(Counter::kCasBadval);
      } else if (status == StoreStatus::kNotFound) {
        counters_.add(Counter::kCasMisses);
      }
      break;
  }
  counters_.add(Counter::kCmdSet);
  if (status == StoreStatus::kTooLarge) {
    counters_.add(Counter::kStoreTooLarge);
  } else if (status == StoreStatus::kNoMemory) {
    counters_.add(Counter::kStoreNoMemory);
  }
  return status;
}

void Operations::refuse_too_large(bool is_set, std::string_view path, uint32_t now) {
  counters_.add(Counter::kStoreTooLarge);
  if (path.empty()) {
    return;
  }
  if (context_.prefix_stats.enabled()) {
    context_.prefix_stats.record_set(path);
  }
  // As memcached: a set that cannot be stored drops the old value.
  if (is_set) {
    context_.store.discard_value(path, now);
  }
}

void Operations::count_bad_data_chunk() { counters_.add(Counter::kCmdSet); }

StoreStatus Operations::arithmetic(bool increment, std::string_view path, uint64_t delta,
                                   uint32_t now, uint64_t& result) {
  const StoreStatus status = increment ? context_.store.incr(path, delta, now, result)
                                       : context_.store.decr(path, delta, now, result);
  if (status == StoreStatus::kOk) {
    counters_.add(increment ? Counter::kIncrHits : Counter::kDecrHits);
  } else if (status == StoreStatus::kNotFound) {
    counters_.add(increment ? Counter::kIncrMisses : Counter::kDecrMisses);
  }
  return status;
}

bool Operations::touch(std::string_view path, uint32_t deadline, uint32_t now) {
  const bool hit = context_.store.touch(path, deadline, now) == StoreStatus::kOk;
  counters_.add(Counter::kCmdTouch);
  counters_.add(hit ? Counter::kTouchHits : Counter::kTouchMisses);
  return hit;
}

bool Operations::remove(std::string_view path, uint32_t now) {
  if (context_.prefix_stats.enabled()) {
    context_.prefix_stats.record_delete(path);
  }
  const bool hit = context_.store.remove(path, now) == StoreStatus::kOk;
  counters_.add(hit ? Counter::kDeleteHits : Counter::kDeleteMisses);
  return hit;
}

Operations::FlushResult Operations::flush_all(bool has_delay, int32_t delay, uint32_t now) {
  counters_.add(Counter::kCmdFlush);  // memcached counts refused ones too
  if (!context_.config.flush_enabled) {
    return FlushResult::kNotAllowed;
  }
  uint32_t at = now;
  if (has_delay && delay > 0) {
    // memcached flushes what was stored up to one second before the
    // deadline. An absolute time at or just after the server's start gives
    // its flush marker 0, which means "no flush": OK, and nothing goes.
    const uint32_t when = deadline(delay, now);
    if (when <= protocol::kAlreadyExpired) {
      return FlushResult::kDone;
    }
    at = when - 1;
  }
  context_.store.flush_all(at, now);
  return FlushResult::kDone;
}

ItemRef Operations::get_node(std::string_view path, uint32_t now) {
  counters_.add(Counter::kCmdGet);
  ItemRef item = context_.store.get(path, now);
  counters_.add(item ? Counter::kGetHits : Counter::kGetMisses);
  return item;
}

StoreStatus Operations::list_children(std::string_view path, uint32_t now,
                                      std::vector<ItemRef>& out) {
  const StoreStatus status = context_.store.list_children(path, now, max_listing(), out);
  counters_.add(Counter::kCmdGet);
  counters_.add(status == StoreStatus::kOk ? Counter::kGetHits : Counter::kGetMisses);
  return status;
}

StoreStatus Operations::collect_subtree(std::string_view path, uint32_t now,
                                        std::vector<ItemRef>& out) {
  const StoreStatus status = context_.store.collect_subtree(path, now, max_listing(), out);
  counters_.add(Counter::kCmdGet);
  counters_.add(status == StoreStatus::kOk ? Counter::kGetHits : Counter::kGetMisses);
  return status;
}

void Operations::reset_stats() {
  context_.baseline.set(context_.counter_totals());
  context_.store.reset_stats();
  context_.prefix_stats.clear();
  context_.connections.total.store(0, std::memory_order_relaxed);
  context_.connections.rejected.store(0, std::memory_order_relaxed);
}

void Operations::set_detail(bool on) noexcept { context_.prefix_stats.set_enabled(on); }

std::vector<PrefixStats::Entry> Operations::detail_dump() const {
  return context_.prefix_stats.snapshot();
}

void Operations::set_verbosity(uint32_t level) noexcept {
  context_.verbosity.store(std::min(level, 2U), std::memory_order_relaxed);
}

Operations::MemlimitResult Operations::cache_memlimit(uint32_t megabytes, uint32_t now) {
  if (megabytes < 8) {
    return MemlimitResult::kTooSmall;
  }
  if (megabytes > 1000000000) {
    return MemlimitResult::kNotMegabytes;
  }
  context_.store.set_memory_limit(size_t{megabytes} * 1024 * 1024, now);
  return MemlimitResult::kOk;
}

bool Operations::shutdown() {
  if (!context_.config.shutdown_command) {
    return false;
  }
  if (context_.request_shutdown) {
    context_.request_shutdown();
  }
  return true;
}

namespace {

std::string seconds_with_micros(const timeval& tv) {
  return fmt::format("{}.{:06}", tv.tv_sec, tv.tv_usec);
}

}  // namespace

void Operations::general_stats(StatSink& sink, uint32_t now) {
  const CounterValues c = context_.baseline.subtract_from(context_.counter_totals());
  const auto value = [&c](Counter counter) { return c[static_cast<size_t>(counter)]; };
  const storage::StoreStats store = context_.store.stats();
  const ConnectionStats& conns = context_.connections;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  constexpr uint64_t kZero = 0;

  sink.stat("pid", static_cast<uint64_t>(getpid()));
  // memcached's clock starts at 62 s and reports uptime from 2 s.
  sink.stat("uptime", now - 60U);
  sink.stat("time", static_cast<uint64_t>(context_.clock.unix_time(now)));
  sink.stat("version", kProtocolVersion);
  sink.stat("libevent", event_get_version());
  sink.stat("pointer_size", sizeof(void*) * 8);
  sink.stat("rusage_user", seconds_with_micros(usage.ru_utime));
  sink.stat("rusage_system", seconds_with_micros(usage.ru_stime));
  sink.stat("max_connections", context_.config.max_connections);
  sink.stat("curr_connections", conns.current.load(std::memory_order_relaxed));
  sink.stat("total_connections", conns.total.load(std::memory_order_relaxed));
  sink.stat("rejected_connections", conns.rejected.load(std::memory_order_relaxed));
  sink.stat("connection_structures", conns.current.load(std::memory_order_relaxed));
  // memcached's response-object and read-buffer pools do not exist here.
  for (const char* name :
       {"response_obj_oom", "response_obj_count", "response_obj_bytes", "read_buf_count",
        "read_buf_bytes", "read_buf_bytes_free", "read_buf_oom", "reserved_fds"}) {
    sink.stat(name, kZero);
  }
  sink.stat("cmd_get", value(Counter::kCmdGet));
  sink.stat("cmd_set", value(Counter::kCmdSet));
  sink.stat("cmd_flush", value(Counter::kCmdFlush));
  sink.stat("cmd_touch", value(Counter::kCmdTouch));
  sink.stat("cmd_meta", kZero);
  sink.stat("get_hits", value(Counter::kGetHits));
  sink.stat("get_misses", value(Counter::kGetMisses));
  sink.stat("get_expired", store.get_expired);
  sink.stat("get_flushed", store.get_flushed);
  sink.stat("delete_misses", value(Counter::kDeleteMisses));
  sink.stat("delete_hits", value(Counter::kDeleteHits));
  sink.stat("incr_misses", value(Counter::kIncrMisses));
  sink.stat("incr_hits", value(Counter::kIncrHits));
  sink.stat("decr_misses", value(Counter::kDecrMisses));
  sink.stat("decr_hits", value(Counter::kDecrHits));
  sink.stat("cas_misses", value(Counter::kCasMisses));
  sink.stat("cas_hits", value(Counter::kCasHits));
  sink.stat("cas_badval", value(Counter::kCasBadval));
  sink.stat("touch_hits", value(Counter::kTouchHits));
  sink.stat("touch_misses", value(Counter::kTouchMisses));
  sink.stat("store_too_large", value(Counter::kStoreTooLarge));
  sink.stat("store_no_memory", value(Counter::kStoreNoMemory));
  sink.stat("auth_cmds", kZero);
  sink.stat("auth_errors", kZero);
  sink.stat("bytes_read", value(Counter::kBytesRead));
  sink.stat("bytes_written", value(Counter::kBytesWritten));
  sink.stat("limit_maxbytes", store.limit_maxbytes);
  sink.stat("accepting_conns", 1U);
  sink.stat("listen_disabled_num", kZero);
  sink.stat("time_in_listen_disabled_us", kZero);
  sink.stat("threads", context_.config.threads);
  sink.stat("conn_yields", kZero);
  sink.stat(
      "hash_power_level",
      store.hash_buckets == 0 ? 0U : static_cast<uint64_t>(std::bit_width(store.hash_buckets) - 1));
  sink.stat("hash_bytes", store.hash_buckets * sizeof(void*));
  sink.stat("hash_is_expanding", kZero);
  // Slab rebalancing, the LRU crawler, the log watcher and NAPI ids are
  // memcached machinery with no counterpart here; their counters stay 0.
  for (const char* name :
       {"slab_reassign_rescues", "slab_reassign_chunk_rescues", "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim", "slab_reassign_busy_items", "slab_reassign_busy_deletes",
        "slab_reassign_running", "slabs_moved", "lru_crawler_running", "lru_crawler_starts",
        "lru_maintainer_juggles", "malloc_fails", "log_worker_dropped", "log_worker_written",
        "log_watcher_skipped", "log_watcher_sent", "log_watchers", "unexpected_napi_ids",
        "round_robin_fallback"}) {
    sink.stat(name, kZero);
  }
  sink.stat("bytes", store.bytes);
  sink.stat("curr_items", store.curr_items);
  sink.stat("total_items", store.total_items);
  sink.stat("slab_global_page_pool", kZero);
  sink.stat("expired_unfetched", store.expired_unfetched);
  sink.stat("evicted_unfetched", store.evicted_unfetched);
  sink.stat("evicted_active", kZero);
  sink.stat("evictions", store.evictions);
  sink.stat("reclaimed", store.reclaimed);
  // The background sweep plays the part of memcached's LRU crawler.
  sink.stat("crawler_reclaimed", store.sweep_reclaimed);
  sink.stat("crawler_items_checked", store.sweep_checked);
  for (const char* name : {"lrutail_reflocked", "moves_to_cold", "moves_to_warm",
                           "moves_within_lru", "direct_reclaims", "lru_bumps_dropped"}) {
    sink.stat(name, kZero);
  }
}

void Operations::settings_stats(StatSink& sink) {
  const Config& config = context_.config;
  sink.stat("maxbytes", context_.store.memory_limit());
  sink.stat("maxconns", config.max_connections);
  sink.stat("tcpport", config.port);
  sink.stat("udpport", 0U);
  sink.stat("inter", config.listen_address);
  sink.stat("verbosity", context_.verbosity.load(std::memory_order_relaxed));
  sink.stat("oldest", 0U);
  sink.stat("evictions", config.evictions_enabled ? "on" : "off");
  sink.stat("domain_socket", "NULL");
  sink.stat("umask", 700U);
  sink.stat("shutdown_command", config.shutdown_command ? "yes" : "no");
  sink.stat("growth_factor", "1.25");
  sink.stat("chunk_size", 48U);
  sink.stat("num_threads", config.threads);
  sink.stat("num_threads_per_udp", config.threads);
  sink.stat("stat_key_prefix", ":");
  sink.stat("detail_enabled", context_.prefix_stats.enabled() ? "yes" : "no");
  sink.stat("reqs_per_event", 20U);
  sink.stat("cas_enabled", "yes");
  sink.stat("tcp_backlog", 1024U);
  sink.stat("binding_protocol", "ascii");
  sink.stat("auth_enabled_sasl", "no");
  sink.stat("auth_enabled_ascii", "no");
  sink.stat("item_size_max", config.max_item_size);
  sink.stat("maxconns_fast", "yes");
  sink.stat("hashpower_init", 0U);
  // memcached's slab, LRU-maintainer, extstore and TLS settings, reported with
  // the values that describe this server (features absent: off / 0).
  sink.stat("slab_reassign", "no");
  sink.stat("slab_automove", 0U);
  sink.stat("slab_automove_ratio", "0.00");
  sink.stat("slab_automove_window", 0U);
  sink.stat("slab_chunk_max", config.max_item_size);
  sink.stat("lru_crawler", "no");
  sink.stat("lru_crawler_sleep", 0U);
  sink.stat("lru_crawler_tocrawl", 0U);
  sink.stat("tail_repair_time", 0U);
  sink.stat("flush_enabled", config.flush_enabled ? "yes" : "no");
  sink.stat("dump_enabled", "no");
  sink.stat("hash_algorithm", "treecached");
  sink.stat("lru_maintainer_thread", "no");
  sink.stat("lru_segmented", "no");
  sink.stat("hot_lru_pct", 0U);
  sink.stat("warm_lru_pct", 0U);
  sink.stat("hot_max_factor", "0.00");
  sink.stat("warm_max_factor", "0.00");
  sink.stat("temp_lru", "no");
  sink.stat("temporary_ttl", 0U);
  sink.stat("idle_timeout", config.idle_timeout);
  sink.stat("watcher_logbuf_size", 0U);
  sink.stat("worker_logbuf_size", 0U);
  sink.stat("read_buf_mem_limit", 0U);
  sink.stat("track_sizes", "no");
  sink.stat("inline_ascii_response", "no");
  for (const char* name :
       {"ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size",
        "ext_compact_under", "ext_drop_under", "ext_max_sleep"}) {
    sink.stat(name, 0U);
  }
  sink.stat("ext_max_frag", "0.00");
  sink.stat("slab_automove_freeratio", "0.000");
  sink.stat("ext_drop_unread", "no");
  sink.stat("ssl_enabled", "no");
  sink.stat("ssl_chain_cert", "(null)");
  sink.stat("ssl_key", "(null)");
  sink.stat("ssl_verify_mode", 0U);
  sink.stat("ssl_keyformat", 0U);
  sink.stat("ssl_ciphers", "NULL");
  sink.stat("ssl_ca_cert", "NULL");
  sink.stat("ssl_wbuf_size", 0U);
  sink.stat("ssl_session_cache", "no");
  sink.stat("ssl_kernel_tls", "no");
  sink.stat("ssl_min_version", "none");
  sink.stat("num_napi_ids", "(null)");
  sink.stat("memory_file", "(null)");
}

void Operations::tree_stats(StatSink& sink) {
  const storage::TreeStats tree = context_.store.tree_stats();
  sink.stat("nodes", tree.nodes);
  sink.stat("value_nodes", tree.value_nodes);
  sink.stat("max_depth", tree.max_depth);
  sink.stat("subtree_deletes", tree.subtree_deletes);
}

}  // namespace treecached::server
