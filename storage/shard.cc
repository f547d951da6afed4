#include "storage/shard.h"

#include <algorithm>
#include <cassert>
#include <new>

#include "storage/hash.h"

namespace treecached::storage::detail {

size_t tree_node_bytes() noexcept { return Item::block_size(sizeof(TreeNode)); }

Shard::~Shard() NO_THREAD_SAFETY_ANALYSIS {
  // No other thread can hold a reference to the shard any more.
  for (Item* head : buckets) {
    while (head != nullptr) {
      Item* next = head->hash_next;
      if (TreeNode* node = head->node()) {
        node->~TreeNode();
        Item::free_block(node, sizeof(TreeNode));
        budget->release(tree_node_bytes());
      }
      drop(head);
      head = next;
    }
  }
  if (buckets.size() > kInitialBuckets) {
    budget->release((buckets.size() - kInitialBuckets) * sizeof(Item*));
  }
}

size_t Shard::depth_of(const Item& item) noexcept {
  return item.node() != nullptr ? std::min<size_t>(item.node()->depth, kTrackedDepths - 1) : 1;
}

void Shard::insert(Item** slot, Item* item) {
  item->hash_next = *slot;
  *slot = item;
  ++entries;
  ++depth_counts[depth_of(*item)];
  if (item->has_value) {
    item->lives = 1;  // see Item::lives
    ++value_count;
    ++counters.total_items;
  }
  charge(item->total_size());
  // Growing is optional: without the budget for a bigger array the chains
  // just get longer.
  if (entries > buckets.size() + buckets.size() / 2 &&
      budget->try_reserve(buckets.size() * sizeof(Item*))) {
    rehash(buckets.size() * 2);
  }
}

Item* Shard::take_out(Item* item) {
  Item** slot = find_slot(item->key(), hash_key(item->key()));
  *slot = item->hash_next;
  item->hash_next = nullptr;
  --entries;
  --depth_counts[depth_of(*item)];
  if (item->has_value) {
    --value_count;
  }
  refund(item->total_size());
  return item;
}

void Shard::shrink_if_sparse() {
  size_t target = buckets.size();
  while (target > kInitialBuckets && entries < target / 4) {
    target /= 2;
  }
  if (target == buckets.size()) {
    return;
  }
  const size_t freed = (buckets.size() - target) * sizeof(Item*);
  rehash(target);
  budget->release(freed);
}

void Shard::rehash(size_t bucket_count) {
  std::vector<Item*> fresh(bucket_count, nullptr);
  for (Item* head : buckets) {
    while (head != nullptr) {
      Item* next = head->hash_next;
      Item*& bucket = fresh[static_cast<size_t>(hash_key(head->key())) & (bucket_count - 1)];
      head->hash_next = bucket;
      bucket = head;
      head = next;
    }
  }
  buckets.swap(fresh);
}

TreeNode* Shard::new_node(Item* entry, TreeNode* parent, size_t depth, Reservation& reservation) {
  assert(reservation.held() >= tree_node_bytes());
  void* memory = Item::allocate_block(sizeof(TreeNode));
  if (memory == nullptr) {
    return nullptr;
  }
  reservation.use(tree_node_bytes());
  auto* node = new (memory) TreeNode;
  node->entry = entry;
  node->depth = static_cast<uint16_t>(depth);
  if (parent != nullptr) {
    parent->attach_child(node);
  }
  charge(tree_node_bytes());
  return node;
}

void Shard::delete_node(TreeNode* node) {
  node->~TreeNode();
  Item::free_block(node, sizeof(TreeNode));
  refund(tree_node_bytes());
  budget->release(tree_node_bytes());
}

void Shard::erase_subtree(Item* entry) {
  take_out(entry);  // while entry->node() still tells its depth
  if (TreeNode* node = entry->node()) {
    while (node->first_child != nullptr) {
      TreeNode* child = node->first_child;
      node->detach_child(child);
      erase_subtree(child->entry);
    }
    entry->set_node(nullptr);
    delete_node(node);
  }
  drop(entry);
}

void Shard::drop_links_if_flat(Item* entry) {
  TreeNode* node = entry->node();
  if (node != nullptr && entry->has_value && node->parent == nullptr && node->child_count == 0) {
    entry->set_node(nullptr);
    delete_node(node);
  }
}

}  // namespace treecached::storage::detail
