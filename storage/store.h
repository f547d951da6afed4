#pragma once

// Lock order: each shard has one mutex, a leaf lock. An operation holds at
// most one shard mutex at a time; nothing else is locked while holding it
// except the items' atomic reference counts. Store-wide fields are atomics.
// A whole subtree lives in the shard of its first path token, so subtree
// operations take that one lock and are atomic.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "storage/hash.h"
#include "storage/item.h"

namespace treecached::storage {

namespace detail {
struct Shard;
}  // namespace detail

// Paths are tokens joined by single spaces; a one-token path is a flat key.
inline constexpr char kPathDelimiter = ' ';

enum class StoreStatus : uint8_t {
  kOk,  // done (delete, touch, incr/decr, listings)
  kStored,
  kNotStored,
  kExists,  // cas mismatch
  kNotFound,
  kTooLarge,    // larger than the whole memory limit; a listing over its limit
  kNoMemory,    // limit reached and eviction disabled, or allocation failed
  kNonNumeric,  // incr/decr on a value that is not a number
};

struct StoreConfig {
  size_t memory_limit = 64 * 1024 * 1024;
  // 2^shard_bits shards, chosen by the hash of the first path token.
  unsigned shard_bits = 6;
  bool evictions_enabled = true;
  // memcached's -I: append/prepend may not grow an item past it.
  size_t max_item_size = 1024 * 1024;
};

// Counters with memcached's `stats` names.
struct StoreStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;
  uint64_t evictions = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  uint64_t sweep_reclaimed = 0;  // dead values the background sweep removed
  uint64_t sweep_checked = 0;    // nodes the background sweep looked at
  uint64_t limit_maxbytes = 0;
  uint64_t hash_buckets = 0;
};

// `stats tree`.
struct TreeStats {
  uint64_t nodes = 0;            // every node: flat keys, nested values, value-less nodes
  uint64_t value_nodes = 0;      // nodes holding a value
  uint64_t max_depth = 0;        // deepest node now present
  uint64_t subtree_deletes = 0;  // deletes that removed a node with children
};

// A sharded in-memory store of nodes addressed by paths. All methods are
// thread-safe. `now` is the caller's clock in unix seconds; deadlines are
// absolute unix seconds (0 = never). Paths are at most 65535 bytes.
//
// Value operations act on a node's own value and leave its children alone.
// Storing under a path creates missing ancestors as value-less nodes; a
// value-less node without children disappears. When a node's value expires or
// is evicted, its whole subtree goes with it.
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
  void discard_value(std::string_view path, uint32_t now);

  // The children of the node at `path` (the top level if `path` is empty),
  // value-less ones included, sorted bytewise; each ref's key is the child's
  // full path. kNotFound if the node does not exist; kTooLarge (and `out`
  // empty) if there are more than `limit`.
  [[nodiscard]] StoreStatus list_children(std::string_view path, uint32_t now, size_t limit,
                                          std::vector<ItemRef>& out);
  // The node and each descendant holding a value, parents before children
  // and siblings sorted bytewise. kNotFound if the node does not exist;
  // kTooLarge (and `out` empty) if more than `limit` nodes would be listed.
  [[nodiscard]] StoreStatus collect_subtree(std::string_view path, uint32_t now, size_t limit,
                                            std::vector<ItemRef>& out);

  // Invalidates every item stored before `at` (unix seconds); at <= now
  // means immediately. A later call replaces a pending one.
  void flush_all(uint32_t at, uint32_t now);

  // Changes the memory limit; evicts down to it on later writes.
  void set_memory_limit(size_t bytes);
  [[nodiscard]] size_t memory_limit() const noexcept {
    return memory_limit_.load(std::memory_order_relaxed);
  }

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
  StoreStatus arithmetic(std::string_view path, bool increment, uint64_t delta, uint32_t now,
                         uint64_t& result);
  void list_top_level(uint32_t now, std::vector<ItemRef>& out);

  [[nodiscard]] Shard& shard_for(uint64_t first_token_hash) const noexcept;
  [[nodiscard]] Shard& shard_for_path(std::string_view path, const PathHash& hashed) const noexcept;
  [[nodiscard]] bool is_live(const Item& item, uint32_t now) const noexcept;
  void apply_pending_flush(uint32_t now) noexcept;
  void flush_now() noexcept;
  // Evicts until `bytes` more fit under the limit; false if they cannot.
  bool make_room(size_t bytes);
  // Evicts from one shard (its lock held) until `wanted` bytes are freed or
  // the hand has gone round twice; returns the bytes freed.
  size_t evict(Shard& shard, size_t wanted);
  uint64_t next_cas() noexcept { return next_cas_.fetch_add(1, std::memory_order_relaxed); }

  // Calls fn(shard) for every shard in turn, each under its own lock.
  template <typename Fn>
  void for_each_shard(Fn&& fn) const;
  // Locks the path's shard and returns fn(shard, path hash, node), where
  // node is the live node at `path` or nullptr (see find_live).
  template <typename Fn>
  auto with_node(std::string_view path, uint32_t now, Fn&& fn);

  // The helpers below run with the shard's mutex held.

  // The node at `path` if it exists: holding a live value, or value-less. A
  // dead value found on the way (its own, or an ancestor's) is removed with
  // its subtree first (lazy expiry).
  Item* find_live(Shard& shard, std::string_view path, uint64_t hash, uint32_t now);
  // The tree node of `path`, created with value-less ancestors as needed.
  // nullptr if memory is exhausted.
  detail::TreeNode* ensure_node(Shard& shard, std::string_view path, uint32_t now);
  // Links `fresh` as the node at `path`, which holds nothing yet.
  [[nodiscard]] bool link_new(Shard& shard, Item* fresh, std::string_view path, uint64_t hash,
                              uint32_t now);
  // Puts `fresh` in place of `old` (same path), keeping the tree links.
  void replace_entry(Shard& shard, Item* old, Item* fresh, uint64_t hash);
  // Removes the node, its subtree and the value-less ancestors left empty.
  void remove_node(Shard& shard, Item* entry);
  // Removes the dead parts below `entry` (values that expired or were
  // flushed, with their subtrees, and value-less nodes left empty). Returns
  // whether `entry` itself should remain; the caller removes it otherwise.
  bool prune(Shard& shard, Item* entry, uint32_t now);
  // prune() for the node a listing starts from: removes it if it should go.
  bool prune_root(Shard& shard, Item* entry, uint32_t now);

  std::unique_ptr<Shard[]> shards_;
  unsigned shard_bits_;
  bool evictions_enabled_;
  size_t max_item_size_;
  std::atomic<size_t> memory_limit_;
  std::atomic<size_t> used_bytes_{0};
  std::atomic<uint64_t> next_cas_{1};
  // Items whose cas is below this were flushed.
  std::atomic<uint64_t> oldest_live_cas_{0};
  // Unix second of a delayed flush_all, 0 if none.
  std::atomic<uint32_t> pending_flush_at_{0};
  std::atomic<uint64_t> evict_cursor_{0};
};

}  // namespace treecached::storage
