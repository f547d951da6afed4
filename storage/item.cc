#include "storage/item.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace treecached::storage {
namespace {

// Set before the first item exists: block_size() assumes this threshold.
const bool kMallocConfigured = [] {
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(Item::kMmapThreshold)) == 1;
}();

}  // namespace

void* Item::allocate_block(size_t request) noexcept {
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

Item* Item::copy_with_links(const Item& item) noexcept {
  Item* copy = create(item.key(), item.value_size, true);
  if (copy != nullptr) {
    std::memcpy(copy->value_data(), item.value().data(), item.value_size);
    copy->has_value = item.has_value;
    copy->flags = item.flags;
    copy->deadline = item.deadline;
    copy->cas = item.cas;
    copy->fetched = item.fetched;
    copy->lives = item.lives;
    copy->under_value = item.under_value;
  }
  return copy;
}

void Item::release(Item* item) noexcept {
  if (item->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    const size_t request = request_size(item->key_size, item->value_size, item->has_links);
    item->~Item();
    free_block(item, request);
  }
}

}  // namespace treecached::storage
