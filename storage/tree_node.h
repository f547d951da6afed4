#pragma once

#include <cstdint>

namespace treecached::storage {

struct Item;

namespace detail {

// Links of a node that has a parent or children (a flat key without
// children has none). Owned by its shard, guarded by the shard's mutex.
struct TreeNode {
  Item* entry = nullptr;  // the node's current item (with or without value)
  TreeNode* parent = nullptr;
  TreeNode* first_child = nullptr;
  TreeNode* next_sibling = nullptr;
  TreeNode* prev_sibling = nullptr;
  uint32_t child_count = 0;
  uint16_t depth = 1;

  void attach_child(TreeNode* child) noexcept {
    child->parent = this;
    child->prev_sibling = nullptr;
    child->next_sibling = first_child;
    if (first_child != nullptr) {
      first_child->prev_sibling = child;
    }
    first_child = child;
    ++child_count;
  }

  void detach_child(TreeNode* child) noexcept {
    (child->prev_sibling != nullptr ? child->prev_sibling->next_sibling : first_child) =
        child->next_sibling;
    if (child->next_sibling != nullptr) {
      child->next_sibling->prev_sibling = child->prev_sibling;
    }
    child->parent = child->next_sibling = child->prev_sibling = nullptr;
    --child_count;
  }
};

}  // namespace detail
}  // namespace treecached::storage
