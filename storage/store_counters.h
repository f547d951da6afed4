#pragma once

#include <cstdint>

namespace treecached::storage {

// The store's cumulative figures, with memcached's `stats` names where it
// has them. Each shard keeps its own (under its lock); Store::stats() adds
// them up.
struct StoreCounters {
  uint64_t total_items = 0;
  uint64_t evictions = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  uint64_t sweep_reclaimed = 0;  // dead values the background sweep removed
  uint64_t sweep_checked = 0;    // nodes the background sweep looked at
  uint64_t subtree_deletes = 0;  // deletes that removed a node with children
  uint64_t eviction_checks = 0;  // nodes the eviction hand looked at

  StoreCounters& operator+=(const StoreCounters& other) noexcept {
    total_items += other.total_items;
    evictions += other.evictions;
    expired_unfetched += other.expired_unfetched;
    evicted_unfetched += other.evicted_unfetched;
    reclaimed += other.reclaimed;
    get_expired += other.get_expired;
    get_flushed += other.get_flushed;
    sweep_reclaimed += other.sweep_reclaimed;
    sweep_checked += other.sweep_checked;
    subtree_deletes += other.subtree_deletes;
    eviction_checks += other.eviction_checks;
    return *this;
  }
};

}  // namespace treecached::storage
