#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "storage/budget.h"
#include "storage/slab.h"

namespace treecached::storage {

namespace detail {
struct TreeNode;
}  // namespace detail

// One node of the store: header, key (the node's path) and value in a single
// allocation. Most items are flat keys holding a value; an item may also be a
// value-less node that exists because it has children.
//
// The hash chain and tree links are guarded by the owning shard's mutex, as are `deadline`,
// `fetched`, `lives`, `under_value` and `node`. `refs` counts the shard's own reference (while
// linked) plus every ItemRef; the item is freed when it drops to zero. Key, value, flags and cas
// never change after linking, so an ItemRef may read them without the lock.
//
// There are no LRU links: eviction is a CLOCK over the shard's hash table (eviction.cc), which
// needs only the two `lives` bits and keeps the header at 40 bytes.
struct Item {
  Item* hash_next = nullptr;
  uint64_t cas = 0;
  uint32_t deadline = 0;  // in the store's clock (server seconds); 0 = never
  uint32_t flags = 0;
  uint32_t value_size = 0;
  std::atomic<uint32_t> refs{1};
  uint16_t key_size = 0;
  // false: a value-less node (never evicted itself). Set when linked; turns
  // false under the shard lock only when a failed set withdraws a value that a
  // reader holds (Store::discard_value).
  bool has_value = true;
  // The item has room for tree links (a TreeNode pointer before the key).
  // Flat keys without children go without, saving 8 bytes. Never changes.
  bool has_links = false;
  uint8_t fetched : 1 = 0;
  // Passes of the eviction hand the value survives: a stored value gets one,
  // a read value two, so values being read outlast a stream of writes. The
  // hand takes one at each pass and evicts at none.
  uint8_t lives : 2 = 0;
  // Some ancestor holds a value, so its expiry can end this node: lookups
  // check the ancestors only when this is set.
  uint8_t under_value : 1 = 0;

  // Tree links, for items that have children or a parent; null for a flat
  // key without children, so flat operations never touch the tree.
  [[nodiscard]] detail::TreeNode* node() const noexcept {
    return has_links ? *link_slot() : nullptr;
  }
  // Only on an item created with links (or to clear them).
  void set_node(detail::TreeNode* node) noexcept {
    if (has_links) {
      *link_slot() = node;
    }
  }

  [[nodiscard]] char* key_data() noexcept {
    return reinterpret_cast<char*>(this + 1) + links_size(has_links);
  }
  [[nodiscard]] const char* key_data() const noexcept {
    return reinterpret_cast<const char*>(this + 1) + links_size(has_links);
  }
  [[nodiscard]] std::string_view key() const noexcept { return {key_data(), key_size}; }
  [[nodiscard]] char* value_data() noexcept { return key_data() + key_size; }
  [[nodiscard]] std::string_view value() const noexcept {
    return {key_data() + key_size, value_size};
  }
  // Bytes charged against the memory limit for this item: what the
  // allocator really takes for it, so that the limit holds for the process.
  [[nodiscard]] size_t total_size() const noexcept {
    return total_size_for(key_size, value_size, has_links);
  }

  [[nodiscard]] static size_t total_size_for(size_t key_size, size_t value_size,
                                             bool links = false) noexcept {
    return block_size(request_size(key_size, value_size, links));
  }

  // Memory for items and tree nodes: small blocks from the slab allocator,
  // larger ones from malloc. block_size() is what a block of `request`
  // bytes really takes.
  [[nodiscard]] static void* allocate_block(size_t request) noexcept;
  static void free_block(void* block, size_t request) noexcept;
  [[nodiscard]] static constexpr size_t block_size(size_t request) noexcept {
    if (request <= SlabAllocator::kMaxChunk) {
      return SlabAllocator::chunk_size(request);
    }
    // glibc: an 8-byte chunk header, rounded up to 16 bytes; from the mmap
    // threshold on, a mapping of whole pages with a 16-byte header.
    const size_t chunk = (request + 8 + 15) & ~size_t{15};
    if (chunk < kMmapThreshold) {
      return chunk;
    }
    return (chunk + 8 + 4095) & ~size_t{4095};
  }
  // Blocks from this size on get their own mappings, given back to the
  // kernel when freed. glibc's sliding default lets large values fragment
  // the heap, holding far more memory than the budget counts.
  static constexpr size_t kMmapThreshold = 16 * 1024;

  // Allocates an item with room for the key, `value_size` bytes of value and,
  // if `links`, tree links; copies the key. nullptr if memory is exhausted.
  [[nodiscard]] static Item* create(std::string_view key, size_t value_size,
                                    bool links = false) noexcept;
  // Whether a value of `new_value_size` bytes can be written over this one
  // in place (when no reader holds the item): no longer (the allocation
  // holds what was asked for, no more), and in a block of the same size, so
  // that what is charged and freed stays the same.
  [[nodiscard]] bool fits_in_place(size_t new_value_size) const noexcept {
    const size_t now_request = request_size(key_size, value_size, has_links);
    const size_t then_request = request_size(key_size, new_value_size, has_links);
    return new_value_size <= value_size && block_size(then_request) == block_size(now_request) &&
           (then_request <= SlabAllocator::kMaxChunk) == (now_request <= SlabAllocator::kMaxChunk);
  }

  // Copies what `from` holds (value, flags, deadline, cas, marks) into `to`,
  // an item created for the same key and value size.
  static void copy_into(const Item& from, Item& to) noexcept;
  // Drops one reference; frees the item at zero and returns the bytes it
  // held (total_size()), which the caller gives back to the budget; 0 if
  // other references remain.
  [[nodiscard]] static size_t release(Item* item) noexcept;
  static void retain(Item* item) noexcept { item->refs.fetch_add(1, std::memory_order_relaxed); }

 private:
  static constexpr size_t links_size(bool links) noexcept {
    return links ? sizeof(detail::TreeNode*) : 0;
  }
  static constexpr size_t request_size(size_t key_size, size_t value_size, bool links) noexcept {
    return sizeof(Item) + links_size(links) + key_size + value_size;
  }
  [[nodiscard]] detail::TreeNode** link_slot() const noexcept {
    return reinterpret_cast<detail::TreeNode**>(const_cast<Item*>(this) + 1);
  }
};

// The header is most of the per-item overhead: keep it at 40 bytes.
static_assert(sizeof(Item) == 40);

// Test hook: the allocation of an item or tree node after the next `count`
// ones fails once, as if the system were out of memory. Negative: never.
void fail_allocation_after(long count) noexcept;

// A counted reference to an item, valid after the shard lock is released.
// An item removed from the store while a reference holds it stays charged
// to the budget until the last reference goes.
class ItemRef {
 public:
  ItemRef() noexcept = default;
  // Adopts one reference that the caller already took.
  ItemRef(Item* adopted, MemoryBudget* budget) noexcept : item_(adopted), budget_(budget) {}
  ItemRef(const ItemRef&) = delete;
  ItemRef& operator=(const ItemRef&) = delete;
  ItemRef(ItemRef&& other) noexcept : item_(other.item_), budget_(other.budget_) {
    other.item_ = nullptr;
  }
  ItemRef& operator=(ItemRef&& other) noexcept {
    if (this != &other) {
      reset();
      item_ = other.item_;
      budget_ = other.budget_;
      other.item_ = nullptr;
    }
    return *this;
  }
  ~ItemRef() { reset(); }

  void reset() noexcept {
    if (item_ != nullptr) {
      if (const size_t freed = Item::release(item_); freed != 0) {
        budget_->release(freed);
      }
      item_ = nullptr;
    }
  }

  explicit operator bool() const noexcept { return item_ != nullptr; }
  [[nodiscard]] std::string_view key() const noexcept { return item_->key(); }
  [[nodiscard]] std::string_view value() const noexcept { return item_->value(); }
  [[nodiscard]] uint32_t flags() const noexcept { return item_->flags; }
  [[nodiscard]] uint64_t cas() const noexcept { return item_->cas; }
  // Exact while the store does not change the node (it may withdraw the
  // value of an item a reader holds: see Item::has_value).
  [[nodiscard]] bool has_value() const noexcept { return item_->has_value; }

 private:
  Item* item_ = nullptr;
  MemoryBudget* budget_ = nullptr;
};

}  // namespace treecached::storage
