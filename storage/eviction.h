#pragma once

// Taking memory back from one shard: eviction (a CLOCK over the shard's hash
// table, with a bounded search) and the background sweep of dead values.
// Both run with the shard's mutex held and do a bounded amount of work.

#include <cstddef>

#include "storage/shard.h"

namespace treecached::storage::detail {

// Values one eviction step looks at before it settles for the one with the
// fewest lives (memcached looks at 5 items at its LRU tail), and buckets it
// scans at most to find them.
inline constexpr size_t kEvictionSample = 5;
inline constexpr size_t kEvictionBucketScan = 64;
// Steps one attempt may take under the lock: at most 16 victims and
// 16 x 64 buckets before the lock is released.
inline constexpr size_t kEvictionStepsPerAttempt = 16;

// Evicts values (with their subtrees) until the shard's items and nodes
// have shrunk by `wanted` bytes or the attempt's bound is reached. Dead
// values met on the way are reclaimed first. Returns the bytes the shard
// gave up; 0 means nothing evictable was found within the bound.
//
// The hand takes one of each value's lives as it passes its bucket
// (Item::lives: a stored value gets one, a read value two) and evicts a value
// with none left. When the values within one step's sample all still have
// lives, the one with the fewest goes, so a step always ends with a victim if
// it saw any value; among equals, the oldest write goes (the lowest cas).
size_t evict(Shard& shard, size_t wanted, const Liveness& live) REQUIRES(shard.mu);

// Visits the next `buckets` buckets and removes the values that expired or
// were flushed (with their subtrees), so that their memory comes back
// without a read.
void sweep(Shard& shard, size_t buckets, const Liveness& live) REQUIRES(shard.mu);

}  // namespace treecached::storage::detail
