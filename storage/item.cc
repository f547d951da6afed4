#include "storage/item.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace treecached::storage {
namespace {

// Set before the first item exists: block_size() assumes this threshold.
const bool kMallocConfigured = [] {
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(Item::kMmapThreshold)) == 1;
}();

// fail_allocation_after(): counts down to the allocation that fails.
std::atomic<long> allocations_before_failure{-1};

}  // namespace

void fail_allocation_after(long count) noexcept {
  allocations_before_failure.store(count, std::memory_order_relaxed);
}

void* Item::allocate_block(size_t request) noexcept {
  if (allocations_before_failure.load(std::memory_order_relaxed) >= 0 &&
      allocations_before_failure.fetch_sub(1, std::memory_order_relaxed) == 0) {
    return nullptr;
  }
  return request <= SlabAllocator::kMaxChunk ? SlabAllocator::allocate(request)
                                             : std::malloc(request);
}

void Item::free_block(void* block, size_t request) noexcept {
  if (request <= SlabAllocator::kMaxChunk) {
    SlabAllocator::deallocate(block, request);
  } else {
    std::free(block);
  }
}

Item* Item::create(std::string_view key, size_t value_size, bool links) noexcept {
  void* memory = allocate_block(request_size(key.size(), value_size, links));
  if (memory == nullptr) {
    return nullptr;
  }
  auto* item = new (memory) Item;
  item->has_links = links;
  if (links) {
    new (item + 1) detail::TreeNode*(nullptr);
  }
  item->key_size = static_cast<uint16_t>(key.size());
  item->value_size = static_cast<uint32_t>(value_size);
  std::memcpy(item->key_data(), key.data(), key.size());
  return item;
}

void Item::copy_into(const Item& from, Item& to) noexcept {
  std::memcpy(to.value_data(), from.value().data(), from.value_size);
  to.has_value = from.has_value;
  to.flags = from.flags;
  to.deadline = from.deadline;
  to.cas = from.cas;
  to.fetched = from.fetched;
  to.lives = from.lives;
  to.under_value = from.under_value;
}

size_t Item::release(Item* item) noexcept {
  if (item->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) {
    return 0;
  }
  const size_t request = request_size(item->key_size, item->value_size, item->has_links);
  item->~Item();
  free_block(item, request);
  return block_size(request);
}

}  // namespace treecached::storage
