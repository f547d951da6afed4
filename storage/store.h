#pragma once

// Threads and locks (docs/ARCHITECTURE.md has the whole picture):
// - Each shard has one Mutex (detail::Shard::mu), a leaf lock: an operation
//   holds at most one shard mutex at a time and takes no other lock while
//   holding it. Eviction for a write happens before the write takes its
//   shard's lock, or after it has let go of it (Reservation, make_room).
// - A whole subtree lives in the shard of its first path token
//   (shard_for_path), so subtree operations take that one lock and are
//   atomic: once remove() returns, no operation finds any of the subtree.
// - Store-wide state is atomic and relaxed: the budget (MemoryBudget), the
//   cas counter, the flush boundary and the eviction cursor order nothing
//   else. An item's reference count is acquire/release (item.h).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "storage/budget.h"
#include "storage/item.h"
#include "storage/path.h"
#include "storage/store_counters.h"

namespace treecached::storage {

namespace detail {
struct Shard;
struct Liveness;
}  // namespace detail

enum class StoreStatus : uint8_t {
  kOk,  // done (delete, touch, incr/decr, listings)
  kStored,
  kNotStored,
  kExists,  // cas mismatch
  kNotFound,
  kTooLarge,    // larger than the whole memory limit; a listing over its limit
  kNoMemory,    // no room within the budget (eviction disabled or found nothing), or no memory
  kNonNumeric,  // incr/decr on a value that is not a number
};

// memcached's rules that the store applies to values. They are protocol
// rules, defined once in protocol/rules.h; server/ passes them in, since
// storage/ does not depend on protocol/.
struct ValueRules {
  // Reads a stored value as incr/decr do; false if it is not a number.
  bool (*parse_number)(std::string_view text, uint64_t& out) noexcept = nullptr;
  // Whether an item of this key, flags and value size is within -I.
  bool (*item_fits)(size_t key_size, uint32_t flags, size_t value_size,
                    size_t max_item_size) noexcept = nullptr;
};

struct StoreConfig {
  size_t memory_limit = 64 * 1024 * 1024;
  // 2^shard_bits shards, chosen by the hash of the first path token.
  unsigned shard_bits = 6;
  bool evictions_enabled = true;
  // memcached's -I: append/prepend may not grow an item past it.
  size_t max_item_size = 1024 * 1024;
  ValueRules rules;  // both required
};

// `stats`: the counters, and the figures of the moment.
struct StoreStats : StoreCounters {
  uint64_t curr_items = 0;
  uint64_t bytes = 0;  // items and tree nodes in the store
  uint64_t limit_maxbytes = 0;
  uint64_t budget_used = 0;  // what the budget counts: bytes, grown tables, items held by readers
  uint64_t hash_buckets = 0;
};

// `stats tree`.
struct TreeStats {
  uint64_t nodes = 0;            // every node: flat keys, nested values, value-less nodes
  uint64_t value_nodes = 0;      // nodes holding a value
  uint64_t max_depth = 0;        // deepest node now present
  uint64_t subtree_deletes = 0;  // deletes that removed a node with children
};

// A sharded in-memory store of nodes addressed by paths (path.h). All
// methods are thread-safe. `now` is the caller's clock in seconds (the server
// passes seconds since its start, from a monotonic clock); deadlines are in
// the same clock, 0 meaning never. Paths are at most 65535 bytes.
//
// Value operations act on a node's own value and leave its children alone.
// Storing under a path creates missing ancestors as value-less nodes; a
// value-less node without children disappears. When a node's value expires or
// is evicted, its whole subtree goes with it.
//
// Memory: every allocation is reserved in the budget first (memory_limit);
// what does not fit is evicted for, a bounded amount of work at a time, and
// a write that still does not fit is refused with kNoMemory.
class Store {
 public:
  explicit Store(const StoreConfig& config);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Returns the node's value, or an empty ref if the node is missing or holds
  // no value. Marks it fetched and used (it survives the next eviction pass).
  [[nodiscard]] ItemRef get(std::string_view path, uint32_t now);
  // get, and set the value's deadline (memcached's gat).
  [[nodiscard]] ItemRef get_and_touch(std::string_view path, uint32_t deadline, uint32_t now);

  // The storage commands.
  [[nodiscard]] StoreStatus set(std::string_view path, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint32_t now);
  [[nodiscard]] StoreStatus add(std::string_view path, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint32_t now);
  [[nodiscard]] StoreStatus replace(std::string_view path, std::string_view value, uint32_t flags,
                                    uint32_t deadline, uint32_t now);
  // Keep the existing value's flags and deadline; kNotStored if the result
  // would exceed max_item_size.
  [[nodiscard]] StoreStatus append(std::string_view path, std::string_view value, uint32_t now);
  [[nodiscard]] StoreStatus prepend(std::string_view path, std::string_view value, uint32_t now);
  // kNotFound if there is no value, kExists if its cas is not `expected_cas`.
  [[nodiscard]] StoreStatus cas(std::string_view path, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint64_t expected_cas, uint32_t now);

  // Unsigned 64-bit arithmetic on a decimal value: incr wraps, decr stops at
  // 0. The stored value becomes the decimal result. `result` gets the new value.
  [[nodiscard]] StoreStatus incr(std::string_view path, uint64_t delta, uint32_t now,
                                 uint64_t& result);
  [[nodiscard]] StoreStatus decr(std::string_view path, uint64_t delta, uint32_t now,
                                 uint64_t& result);

  [[nodiscard]] StoreStatus touch(std::string_view path, uint32_t deadline, uint32_t now);
  // Removes the node and its whole subtree: kOk, or kNotFound if the node
  // does not exist. Atomic: no later operation finds any of it.
  [[nodiscard]] StoreStatus remove(std::string_view path, uint32_t now);
  // Drops the node's value but keeps its children: what memcached does to
  // the old value when a set cannot be stored, so that it does not go stale.
  // Works without memory to spare (see detail::drop_value_keep_children).
  void discard_value(std::string_view path, uint32_t now);

  // The children of the node at `path` (the top level if `path` is empty),
  // value-less ones included, sorted bytewise; each ref's key is the child's
  // full path. kNotFound if the node does not exist; kTooLarge (and `out`
  // empty) if there are more than `limit`. The work is bounded by `limit`:
  // the listing stops at the first node past it.
  [[nodiscard]] StoreStatus list_children(std::string_view path, uint32_t now, size_t limit,
                                          std::vector<ItemRef>& out);
  // The node and each descendant holding a value, parents before children
  // and siblings sorted bytewise. kNotFound if the node does not exist;
  // kTooLarge (and `out` empty) if more than `limit` values would be listed;
  // counting stops at the first value past it.
  [[nodiscard]] StoreStatus collect_subtree(std::string_view path, uint32_t now, size_t limit,
                                            std::vector<ItemRef>& out);

  // Invalidates every item stored before `at`; at <= now means immediately.
  // A later call replaces a pending one.
  void flush_all(uint32_t at, uint32_t now);

  // Changes the memory limit. A limit below what is in use evicts down to
  // it before returning (as far as eviction can: values held by readers
  // stay counted until they are released).
  void set_memory_limit(size_t bytes, uint32_t now);
  [[nodiscard]] size_t memory_limit() const noexcept { return budget_.limit(); }

  // One step of the background sweep: looks at the next `buckets` hash
  // buckets of every shard and removes the values that expired or were
  // flushed (with their subtrees), so their memory comes back without a read.
  // Each shard is locked only for its own step.
  void sweep(uint32_t now, size_t buckets);

  [[nodiscard]] StoreStats stats() const;
  [[nodiscard]] TreeStats tree_stats() const;
  // Zeroes the cumulative counters (not curr_items or bytes).
  void reset_stats();

 private:
  using Shard = detail::Shard;
  enum class Mode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

  StoreStatus store(Mode mode, std::string_view path, std::string_view value, uint32_t flags,
                    uint32_t deadline, uint64_t expected_cas, uint32_t now);
  StoreStatus concatenate(Mode mode, std::string_view path, std::string_view value, uint32_t now);
  StoreStatus arithmetic(std::string_view path, bool increment, uint64_t delta, uint32_t now,
                         uint64_t& result);

  [[nodiscard]] size_t shard_count() const noexcept { return size_t{1} << shard_bits_; }
  [[nodiscard]] Shard& shard_for(uint64_t first_token_hash) const noexcept;
  // Where a path lives: its shard, its hash, and whether it is nested.
  struct Target {
    Shard& shard;
    uint64_t hash;
    bool nested;
  };
  [[nodiscard]] Target target(std::string_view path) const noexcept;
  // The clock and flush boundary for an operation starting now; applies a
  // delayed flush that has come due.
  [[nodiscard]] detail::Liveness liveness(uint32_t now) noexcept;
  void flush_now() noexcept;
  // Makes `reservation` hold `bytes`, evicting as needed; false if they
  // cannot be had within the eviction bound. Holds no shard lock on entry.
  bool make_room(Reservation& reservation, size_t bytes, uint32_t now);
  // The shard eviction should visit next: of two candidates, the larger;
  // nullptr if every shard is empty.
  Shard* next_eviction_shard() noexcept;
  uint64_t next_cas() noexcept { return next_cas_.fetch_add(1, std::memory_order_relaxed); }

  MemoryBudget budget_;
  std::unique_ptr<Shard[]> shards_;
  unsigned shard_bits_;
  bool evictions_enabled_;
  size_t max_item_size_;
  ValueRules rules_;
  std::atomic<uint64_t> next_cas_{1};
  // Items whose cas is below this were flushed.
  std::atomic<uint64_t> oldest_live_cas_{0};
  // Clock second of a delayed flush_all, 0 if none.
  std::atomic<uint32_t> pending_flush_at_{0};
  std::atomic<uint64_t> evict_cursor_{0};
};

}  // namespace treecached::storage
