#include "storage/tree.h"

#include <algorithm>

#include "storage/hash.h"

namespace treecached::storage::detail {
namespace {

// Whether the children of `parent` have a value above them.
bool values_above_children(const TreeNode* parent) noexcept {
  return parent->entry->has_value || parent->entry->under_value;
}

// Recomputes under_value below a node whose own value came or went.
void refresh_under_value(TreeNode* node) {
  std::vector<TreeNode*> pending{node};
  while (!pending.empty()) {
    TreeNode* parent = pending.back();
    pending.pop_back();
    const bool above = values_above_children(parent);
    for (TreeNode* child = parent->first_child; child != nullptr; child = child->next_sibling) {
      if (child->entry->under_value != above) {
        child->entry->under_value = above;
        pending.push_back(child);
      }
    }
  }
}

void count_reclaimed(Shard& shard, const Item& dead) REQUIRES(shard.mu) {
  ++shard.counters.reclaimed;
  if (!dead.fetched) {
    ++shard.counters.expired_unfetched;
  }
}

// Detaches a child from its parent and removes its subtree; the parent is
// the caller's to look after.
void cut(Shard& shard, TreeNode* child) REQUIRES(shard.mu) {
  child->parent->detach_child(child);
  shard.erase_subtree(child->entry);
}

// Removes value-less nodes without children, from `node` upwards: what a
// failed or finished removal leaves behind.
void remove_empty_ancestors(Shard& shard, TreeNode* node) REQUIRES(shard.mu) {
  while (node != nullptr && !node->entry->has_value && node->child_count == 0) {
    TreeNode* parent = node->parent;
    if (parent != nullptr) {
      parent->detach_child(node);
    }
    shard.erase_subtree(node->entry);
    node = parent;
  }
  if (node != nullptr) {
    shard.drop_links_if_flat(node->entry);
  }
}

// The tree node of `path`, created with value-less ancestors as needed and
// paid from `reservation`. nullptr if an allocation failed; whatever this
// call created is gone again then.
TreeNode* ensure_node(Shard& shard, std::string_view path, const Liveness& live,
                      Reservation& reservation) REQUIRES(shard.mu) {
  const uint64_t hash = hash_key(path);
  if (Item* entry = find_live(shard, path, hash, live)) {
    if (entry->node() == nullptr) {
      // A flat key receiving its first child: it needs room for links.
      if (!entry->has_links) {
        Item* linked = create_item(path, entry->value_size, true, reservation);
        if (linked == nullptr) {
          return nullptr;
        }
        Item::copy_into(*entry, *linked);
        replace_entry(shard, entry, linked, hash);
        --shard.counters.total_items;  // the same item, moved
        entry = linked;
      }
      TreeNode* node = shard.new_node(entry, nullptr, 1, reservation);
      if (node == nullptr) {
        return nullptr;
      }
      entry->set_node(node);
    }
    return entry->node();
  }
  const size_t depth = path_depth(path);
  TreeNode* parent = nullptr;
  if (depth > 1) {
    parent = ensure_node(shard, parent_path(path), live, reservation);
    if (parent == nullptr) {
      return nullptr;
    }
  }
  Item* placeholder = create_item(path, 0, true, reservation);
  TreeNode* node =
      placeholder != nullptr ? shard.new_node(placeholder, parent, depth, reservation) : nullptr;
  if (node == nullptr) {
    if (placeholder != nullptr) {
      shard.drop(placeholder);
    }
    remove_empty_ancestors(shard, parent);
    return nullptr;
  }
  placeholder->has_value = false;
  placeholder->set_node(node);
  placeholder->under_value = parent != nullptr && values_above_children(parent);
  shard.insert(shard.find_slot(path, hash), placeholder);
  return node;
}

// Existence below a value-less node: true at the first live value found.
// Dead children met before it are removed.
bool has_live_descendant(Shard& shard, TreeNode* node, const Liveness& live) REQUIRES(shard.mu) {
  for (TreeNode* child = node->first_child; child != nullptr;) {
    TreeNode* next = child->next_sibling;
    Item* entry = child->entry;
    if (live.dead_value(*entry)) {
      count_reclaimed(shard, *entry);
    } else if (entry->has_value || has_live_descendant(shard, child, live)) {
      return true;
    }
    cut(shard, child);
    child = next;
  }
  return false;
}

// Counts the values of the subtree under `entry` (entry included), removing
// dead parts; stops once `values` passes `limit`.
Listing count_values(Shard& shard, Item* entry, const Liveness& live, size_t limit, size_t& values)
    REQUIRES(shard.mu) {
  if (live.dead_value(*entry)) {
    count_reclaimed(shard, *entry);
    return Listing::kGone;
  }
  if (entry->has_value && ++values > limit) {
    return Listing::kOverLimit;
  }
  if (TreeNode* node = entry->node()) {
    for (TreeNode* child = node->first_child; child != nullptr;) {
      TreeNode* next = child->next_sibling;
      const Listing below = count_values(shard, child->entry, live, limit, values);
      if (below == Listing::kOverLimit) {
        return below;
      }
      if (below == Listing::kGone) {
        cut(shard, child);
      }
      child = next;
    }
  }
  const bool exists =
      entry->has_value || (entry->node() != nullptr && entry->node()->child_count > 0);
  return exists ? Listing::kListed : Listing::kGone;
}

bool key_less(const Item* a, const Item* b) noexcept { return a->key() < b->key(); }

}  // namespace

Item* highest_dead(Item* entry, const Liveness& live) {
  // The highest dead value on the way from the root decides: everything
  // under it is gone. Flat keys have no ancestors and skip the walk.
  Item* dead = live.dead_value(*entry) ? entry : nullptr;
  if (entry->under_value) {
    for (TreeNode* up = entry->node()->parent; up != nullptr; up = up->parent) {
      if (live.dead_value(*up->entry)) {
        dead = up->entry;
      }
      if (!up->entry->under_value) {
        break;  // no values further up
      }
    }
  }
  return dead;
}

Item* find_live(Shard& shard, std::string_view path, uint64_t hash, const Liveness& live) {
  Item* entry = *shard.find_slot(path, hash);
  if (entry == nullptr) {
    return nullptr;
  }
  Item* dead = highest_dead(entry, live);
  if (dead == nullptr) {
    return entry;
  }
  // memcached counts any lookup that meets a dead item, whatever the command.
  ++(live.expired(*dead) ? shard.counters.get_expired : shard.counters.get_flushed);
  reclaim(shard, dead);
  return nullptr;
}

size_t link_cost(Shard& shard, std::string_view path, const Liveness& live) {
  if (!is_nested(path)) {
    return 0;
  }
  size_t cost = tree_node_bytes();
  for (std::string_view prefix = parent_path(path); !prefix.empty(); prefix = parent_path(prefix)) {
    if (Item* entry = find_live(shard, prefix, hash_key(prefix), live)) {
      if (entry->node() == nullptr) {
        cost += tree_node_bytes();
        if (!entry->has_links) {
          cost += Item::total_size_for(prefix.size(), entry->value_size, true);
        }
      }
      break;
    }
    cost += Item::total_size_for(prefix.size(), 0, true) + tree_node_bytes();
  }
  return cost;
}

bool link_new(Shard& shard, Item* fresh, std::string_view path, uint64_t hash, const Liveness& live,
              Reservation& reservation) {
  // memchr first: flat keys, the common case, skip counting tokens.
  if (is_nested(path)) {
    TreeNode* parent = ensure_node(shard, parent_path(path), live, reservation);
    if (parent == nullptr) {
      return false;
    }
    TreeNode* node = shard.new_node(fresh, parent, path_depth(path), reservation);
    if (node == nullptr) {
      remove_empty_ancestors(shard, parent);
      return false;
    }
    fresh->set_node(node);
    fresh->under_value = values_above_children(parent);
  }
  shard.insert(shard.find_slot(path, hash), fresh);
  return true;
}

void replace_entry(Shard& shard, Item* old, Item* fresh, uint64_t hash) {
  // Same path: same bucket, same depth, and the hash is known.
  shard.swap(shard.find_slot(old->key(), hash), old, fresh);
  fresh->set_node(old->node());
  fresh->under_value = old->under_value;
  old->set_node(nullptr);
  const bool value_came_or_went = old->has_value != fresh->has_value;
  shard.drop(old);
  if (fresh->node() != nullptr) {
    fresh->node()->entry = fresh;
    if (value_came_or_went) {
      refresh_under_value(fresh->node());
    }
  }
}

void drop_value_keep_children(Shard& shard, Item* entry, std::string_view path, uint64_t hash,
                              Reservation& reservation) {
  const size_t size = Item::total_size_for(path.size(), 0, true);
  if (reservation.top_up(size)) {
    if (Item* placeholder = create_item(path, 0, true, reservation)) {
      placeholder->has_value = false;
      placeholder->cas = entry->cas;
      replace_entry(shard, entry, placeholder, hash);
      return;
    }
  }
  // References are taken only under this lock: one now means none later.
  if (entry->refs.load(std::memory_order_acquire) != 1) {
    // A reader holds the value, so its memory cannot pay for a new item:
    // the item itself becomes value-less. The reader still sees the value
    // it read; the bytes stay charged until the node is replaced or goes.
    entry->has_value = false;
    --shard.value_count;
    refresh_under_value(entry->node());
    return;
  }
  // Its block is at least the placeholder's (same key, links, a value).
  TreeNode* node = entry->node();
  const bool under_value = entry->under_value;
  shard.take_out(entry);
  entry->set_node(nullptr);
  reservation.adopt(Item::release(entry));
  Item* placeholder = create_item(path, 0, true, reservation);
  if (placeholder == nullptr) {
    // The allocator failed even so: a node cannot stay without its item,
    // so the subtree goes (a cache may drop; it must not serve the old value).
    while (node->first_child != nullptr) {
      TreeNode* child = node->first_child;
      node->detach_child(child);
      shard.erase_subtree(child->entry);
    }
    TreeNode* parent = node->parent;
    if (parent != nullptr) {
      parent->detach_child(node);
    }
    shard.delete_node(node);
    remove_empty_ancestors(shard, parent);
    return;
  }
  placeholder->has_value = false;
  placeholder->set_node(node);
  placeholder->under_value = under_value;
  node->entry = placeholder;
  shard.insert(shard.find_slot(path, hash), placeholder);
  refresh_under_value(node);
}

void remove_node(Shard& shard, Item* entry) {
  TreeNode* parent = entry->node() != nullptr ? entry->node()->parent : nullptr;
  if (parent != nullptr) {
    parent->detach_child(entry->node());
  }
  shard.erase_subtree(entry);
  remove_empty_ancestors(shard, parent);
}

void reclaim(Shard& shard, Item* dead) {
  count_reclaimed(shard, *dead);
  remove_node(shard, dead);
}

bool has_live_children(Shard& shard, Item* entry, const Liveness& live) {
  return entry->node() != nullptr && has_live_descendant(shard, entry->node(), live);
}

bool still_exists(Shard& shard, Item* entry, const Liveness& live) {
  if (entry->has_value || has_live_descendant(shard, entry->node(), live)) {
    return true;
  }
  remove_node(shard, entry);
  return false;
}

Listing list_children(Shard& shard, Item* entry, const Liveness& live, size_t limit,
                      std::vector<ItemRef>& out) {
  TreeNode* node = entry->node();
  size_t listed = 0;
  for (TreeNode* child = node != nullptr ? node->first_child : nullptr; child != nullptr;) {
    TreeNode* next = child->next_sibling;
    Item* item = child->entry;
    if (live.dead_value(*item)) {
      count_reclaimed(shard, *item);
      cut(shard, child);
    } else if (item->has_value || has_live_descendant(shard, child, live)) {
      if (++listed > limit) {
        return Listing::kOverLimit;
      }
      out.push_back(shard.ref(item));
    } else {
      cut(shard, child);
    }
    child = next;
  }
  if (!entry->has_value && listed == 0) {
    remove_node(shard, entry);  // nothing under it exists any more
    return Listing::kGone;
  }
  shard.drop_links_if_flat(entry);
  return Listing::kListed;
}

Listing list_top_level(Shard& shard, const Liveness& live, size_t limit,
                       std::vector<ItemRef>& out) {
  // Settling a node may remove other nodes (its subtree) but never another
  // top-level one, so each chain's candidates are taken before any is settled.
  std::vector<Item*> candidates;
  for (size_t bucket = 0; bucket < shard.buckets.size(); ++bucket) {
    candidates.clear();
    for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
      if (entry->node() == nullptr || entry->node()->parent == nullptr) {
        candidates.push_back(entry);
      }
    }
    for (Item* entry : candidates) {
      if (live.dead_value(*entry)) {
        reclaim(shard, entry);
      } else if (still_exists(shard, entry, live)) {
        if (out.size() == limit) {
          return Listing::kOverLimit;
        }
        out.push_back(shard.ref(entry));
      }
    }
  }
  return Listing::kListed;
}

Listing collect_subtree(Shard& shard, Item* root, const Liveness& live, size_t limit,
                        std::vector<ItemRef>& out) {
  size_t values = 0;
  const Listing counted = count_values(shard, root, live, limit, values);
  if (counted == Listing::kOverLimit) {
    return counted;
  }
  if (counted == Listing::kGone) {
    remove_node(shard, root);
    return counted;
  }
  shard.drop_links_if_flat(root);
  // Everything left exists: depth-first, parents before children, siblings
  // in bytewise order.
  out.reserve(out.size() + values);
  std::vector<Item*> pending{root};
  std::vector<Item*> siblings;
  while (!pending.empty()) {
    Item* entry = pending.back();
    pending.pop_back();
    if (entry->has_value) {
      out.push_back(shard.ref(entry));
    }
    if (entry->node() == nullptr) {
      continue;
    }
    siblings.clear();
    for (TreeNode* child = entry->node()->first_child; child != nullptr;
         child = child->next_sibling) {
      siblings.push_back(child->entry);
    }
    // Pushed in reverse so that the smallest name is visited first.
    std::sort(siblings.begin(), siblings.end(),
              [](const Item* a, const Item* b) { return key_less(b, a); });
    pending.insert(pending.end(), siblings.begin(), siblings.end());
  }
  return Listing::kListed;
}

}  // namespace treecached::storage::detail
