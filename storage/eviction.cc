#include "storage/eviction.h"

#include "storage/tree.h"

namespace treecached::storage::detail {
namespace {

void evict_one(Shard& shard, Item* victim) REQUIRES(shard.mu) {
  ++shard.counters.evictions;
  if (!victim->fetched) {
    ++shard.counters.evicted_unfetched;
  }
  // A parent takes its subtree.
  remove_node(shard, victim);
}

// One step of the hand; true if it removed something.
bool evict_step(Shard& shard, const Liveness& live) REQUIRES(shard.mu) {
  Item* fallback = nullptr;
  unsigned fallback_lives = 0;
  size_t sampled = 0;
  for (size_t scanned = 0; scanned < kEvictionBucketScan && sampled < kEvictionSample; ++scanned) {
    const size_t bucket = shard.clock_hand & (shard.buckets.size() - 1);
    // A dead or life-less value in this bucket goes at once; the hand stays,
    // as the bucket may hold more.
    for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
      ++shard.counters.eviction_checks;
      // Dead already (itself, or below a dead value): reclaimed, not evicted.
      if (Item* dead = entry->has_value ? highest_dead(entry, live) : nullptr) {
        reclaim(shard, dead);
        return true;
      }
      if (entry->has_value && entry->lives == 0) {
        evict_one(shard, entry);
        return true;
      }
    }
    // Every value here still has a life: the hand takes one and moves on.
    for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
      if (!entry->has_value) {
        continue;  // value-less nodes go only with their children
      }
      ++sampled;
      // The fallback: the fewest lives (least read), then the oldest write
      // (the lowest cas), so a value just stored is not the one to go.
      if (fallback == nullptr || entry->lives < fallback_lives ||
          (entry->lives == fallback_lives && entry->cas < fallback->cas)) {
        fallback = entry;
        fallback_lives = entry->lives;
      }
      --entry->lives;
    }
    ++shard.clock_hand;
  }
  if (fallback == nullptr) {
    return false;
  }
  evict_one(shard, fallback);
  return true;
}

}  // namespace

size_t evict(Shard& shard, size_t wanted, const Liveness& live) {
  const size_t before = shard.bytes;
  for (size_t step = 0; step < kEvictionStepsPerAttempt && before - shard.bytes < wanted; ++step) {
    if (!evict_step(shard, live)) {
      break;
    }
  }
  const size_t freed = before - shard.bytes;
  shard.shrink_if_sparse();
  return freed;
}

void sweep(Shard& shard, size_t buckets, const Liveness& live) {
  for (size_t visited = 0; visited < buckets && visited < shard.buckets.size(); ++visited) {
    const size_t bucket = shard.sweep_cursor++ & (shard.buckets.size() - 1);
    // Removing a node may take other nodes of this chain with it (its
    // subtree), so the chain is scanned again after each removal.
    for (bool removed = true; removed;) {
      removed = false;
      for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
        ++shard.counters.sweep_checked;
        if (live.dead_value(*entry)) {
          ++shard.counters.sweep_reclaimed;
          reclaim(shard, entry);
          removed = true;
          break;
        }
      }
    }
  }
  shard.shrink_if_sparse();
}

}  // namespace treecached::storage::detail
