#include "storage/item.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace treecached::storage {

Item* Item::create(std::string_view key, size_t value_size) noexcept {
  void* memory = std::malloc(sizeof(Item) + key.size() + value_size);
  if (memory == nullptr) {
    return nullptr;
  }
  auto* item = new (memory) Item;
  item->key_size = static_cast<uint16_t>(key.size());
  item->value_size = static_cast<uint32_t>(value_size);
  std::memcpy(item->key_data(), key.data(), key.size());
  return item;
}

void Item::release(Item* item) noexcept {
  if (item->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    item->~Item();
    std::free(item);
  }
}

}  // namespace treecached::storage
