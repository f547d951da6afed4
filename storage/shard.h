#pragma once

#include <array>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/budget.h"
#include "storage/item.h"
#include "storage/mutex.h"
#include "storage/path.h"
#include "storage/store_counters.h"
#include "storage/tree_node.h"

namespace treecached::storage {

namespace detail {

// Depths tracked for `stats tree`; deeper nodes count as this depth.
inline constexpr size_t kTrackedDepths = 128;
// A shard's table never has fewer buckets; these are part of the fixed
// overhead, outside the budget.
inline constexpr size_t kInitialBuckets = 64;

// What "alive" means during one operation: the store's clock (server
// seconds) and the flush boundary, read once when the operation starts.
struct Liveness {
  uint32_t now = 0;
  uint64_t oldest_live_cas = 0;

  [[nodiscard]] bool expired(const Item& item) const noexcept {
    return item.deadline != 0 && item.deadline <= now;
  }
  // A value that has neither expired nor been flushed.
  [[nodiscard]] bool alive(const Item& item) const noexcept {
    return !expired(item) && item.cas >= oldest_live_cas;
  }
  [[nodiscard]] bool dead_value(const Item& item) const noexcept {
    return item.has_value && !alive(item);
  }
};

// One shard: a hash table of every node whose path starts with the shard's
// first tokens, the tree links among them and their accounting. Everything
// but `budget` and `bytes_hint` is guarded by `mu`, as are the chain and tree
// links, deadline, fetched, lives, under_value and node of its items.
struct alignas(64) Shard {
  Shard() = default;
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  Mutex mu;
  MemoryBudget* budget = nullptr;  // the store's; set once before use
  // `bytes`, readable without the lock: where eviction finds the most.
  std::atomic<size_t> bytes_hint{0};

  std::vector<Item*> buckets GUARDED_BY(mu) = std::vector<Item*>(kInitialBuckets, nullptr);
  size_t entries GUARDED_BY(mu) = 0;       // items in the table, value-less nodes included
  size_t value_count GUARDED_BY(mu) = 0;   // items holding a value (curr_items)
  size_t bytes GUARDED_BY(mu) = 0;         // items and tree nodes (`stats bytes`)
  size_t clock_hand GUARDED_BY(mu) = 0;    // the bucket eviction looks at next
  size_t sweep_cursor GUARDED_BY(mu) = 0;  // the bucket the background sweep visits next
  StoreCounters counters GUARDED_BY(mu);
  std::array<uint64_t, kTrackedDepths> depth_counts GUARDED_BY(mu){};  // entries per depth

  [[nodiscard]] size_t bucket_of(uint64_t hash) const noexcept REQUIRES(mu) {
    return static_cast<size_t>(hash) & (buckets.size() - 1);
  }
  // The link that points at the item with this key (or at the chain's end).
  [[nodiscard]] Item** find_slot(std::string_view key, uint64_t hash) REQUIRES(mu) {
    Item** slot = &buckets[bucket_of(hash)];
    while (*slot != nullptr && (*slot)->key() != key) {
      slot = &(*slot)->hash_next;
    }
    return slot;
  }

  // Links an item at `slot` (from find_slot for its key), taking over the
  // caller's reference. Grows the table when the budget allows.
  void insert(Item** slot, Item* item) REQUIRES(mu);
  // Takes an item out of the table (not out of the tree) and returns the
  // shard's reference to the caller.
  Item* take_out(Item* item) REQUIRES(mu);
  // Puts `fresh` where `old` is (`slot` from find_slot for their key), with
  // old's depth; the caller gets old's reference back. The tree links are
  // the caller's (see detail::replace_entry).
  void swap(Item** slot, Item* old, Item* fresh) REQUIRES(mu) {
    fresh->hash_next = old->hash_next;
    *slot = fresh;
    old->hash_next = nullptr;
    value_count -= old->has_value ? 1 : 0;
    if (fresh->has_value) {
      fresh->lives = 1;  // see Item::lives
      ++value_count;
      ++counters.total_items;
    }
    const size_t added = fresh->total_size();
    const size_t removed = old->total_size();
    if (added >= removed) {
      charge(added - removed);
    } else {
      refund(removed - added);
    }
  }
  // Halves the table while it is at most a quarter full, giving the bucket
  // memory back; called once an operation has finished with the table.
  void shrink_if_sparse() REQUIRES(mu);

  // A counted reference for a reader.
  [[nodiscard]] ItemRef ref(Item* item) noexcept {
    Item::retain(item);
    return ItemRef(item, budget);
  }
  // Drops a reference; the budget gets the bytes back if that freed it.
  void drop(Item* item) noexcept {
    if (const size_t freed = Item::release(item); freed != 0) {
      budget->release(freed);
    }
  }

  // Tree links for `entry` under `parent` (nullptr: a root), paid from
  // `reservation`; nullptr if the allocation fails.
  TreeNode* new_node(Item* entry, TreeNode* parent, size_t depth, Reservation& reservation)
      REQUIRES(mu);
  void delete_node(TreeNode* node) REQUIRES(mu);

  // Removes `entry` and everything below it from the table and the tree;
  // the caller detaches `entry`'s node from its parent first.
  void erase_subtree(Item* entry) REQUIRES(mu);
  // A top-level item that lost its last child needs no tree links any more.
  void drop_links_if_flat(Item* entry) REQUIRES(mu);

  [[nodiscard]] static size_t depth_of(const Item& item) noexcept;
  static void mark_used(Item* item) noexcept { item->lives = 2; }

 private:
  // Stored bytes only: the budget was charged when they were reserved.
  void charge(size_t amount) REQUIRES(mu) {
    bytes += amount;
    bytes_hint.store(bytes, std::memory_order_relaxed);
    budget->add_stored(amount);
  }
  void refund(size_t amount) REQUIRES(mu) {
    bytes -= amount;
    bytes_hint.store(bytes, std::memory_order_relaxed);
    budget->remove_stored(amount);
  }
  void rehash(size_t bucket_count) REQUIRES(mu);
};

// The bytes a tree node takes.
[[nodiscard]] size_t tree_node_bytes() noexcept;

// An item with room for `key`, `value_size` bytes of value and, if `links`,
// tree links, paid from `reservation` (which must hold its size). nullptr if
// the allocation fails; the reservation is then untouched.
[[nodiscard]] inline Item* create_item(std::string_view key, size_t value_size, bool links,
                                       Reservation& reservation) noexcept {
  const size_t size = Item::total_size_for(key.size(), value_size, links);
  assert(reservation.held() >= size);
  Item* item = Item::create(key, value_size, links);
  if (item != nullptr) {
    reservation.use(size);
  }
  return item;
}

}  // namespace detail
}  // namespace treecached::storage
