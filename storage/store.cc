#include "storage/store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <new>

#include "storage/hash.h"

namespace treecached::storage {
namespace {

// Depths tracked for `stats tree`; deeper nodes count as this depth.
constexpr size_t kTrackedDepths = 128;

constexpr bool is_c_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Reads a stored value as memcached's incr/decr does (strtoull rules: leading
// whitespace, optional sign, digits, then end, NUL or whitespace).
bool parse_stored_number(std::string_view text, uint64_t& out) noexcept {
  size_t i = 0;
  while (i < text.size() && is_c_space(text[i])) {
    ++i;
  }
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  const size_t start = i;
  uint64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const auto digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
  }
  if (i == start || (i < text.size() && text[i] != '\0' && !is_c_space(text[i]))) {
    return false;
  }
  if (negative) {
    value = 0 - value;
    if (static_cast<int64_t>(value) < 0) {
      return false;
    }
  }
  out = value;
  return true;
}

std::string_view parent_path(std::string_view path) noexcept {
  const size_t last = path.rfind(kPathDelimiter);
  return last == std::string_view::npos ? std::string_view() : path.substr(0, last);
}

size_t path_depth(std::string_view path) noexcept {
  return static_cast<size_t>(std::count(path.begin(), path.end(), kPathDelimiter)) + 1;
}

bool key_less(const ItemRef& a, const ItemRef& b) noexcept { return a.key() < b.key(); }

}  // namespace

namespace detail {

// Links of a node that has a parent or children. Owned by its shard.
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

struct alignas(64) Shard {
  // Guards every other field of the shard, and the links, deadline,
  // fetched, lives, under_value and node of the items linked in it.
  std::mutex mu;
  std::atomic<size_t>* store_bytes = nullptr;  // the store-wide total to keep in step
  std::vector<Item*> buckets = std::vector<Item*>(64, nullptr);
  size_t entries = 0;      // items in the hash table, value-less nodes included
  size_t value_count = 0;  // items holding a value (curr_items)
  size_t bytes = 0;        // items and tree nodes
  size_t clock_hand = 0;   // the bucket eviction looks at next

  uint64_t total_items = 0;
  uint64_t evictions = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  uint64_t sweep_reclaimed = 0;
  uint64_t sweep_checked = 0;
  size_t sweep_cursor = 0;  // next bucket the background sweep visits
  uint64_t subtree_deletes = 0;
  std::array<uint64_t, kTrackedDepths> depth_counts{};  // entries per depth

  ~Shard() {
    for (Item* head : buckets) {
      while (head != nullptr) {
        Item* next = head->hash_next;
        if (TreeNode* node = head->node()) {
          free_node(node);
        }
        Item::release(head);
        head = next;
      }
    }
  }

  [[nodiscard]] size_t bucket_of(uint64_t hash) const noexcept {
    return static_cast<size_t>(hash) & (buckets.size() - 1);
  }

  // The link that points at the item with this key (or at the chain's end).
  Item** find_slot(std::string_view key, uint64_t hash) noexcept {
    Item** slot = &buckets[bucket_of(hash)];
    while (*slot != nullptr && (*slot)->key() != key) {
      slot = &(*slot)->hash_next;
    }
    return slot;
  }

  static void mark_used(Item* item) noexcept { item->lives = 2; }

  void charge(size_t amount) noexcept {
    bytes += amount;
    store_bytes->fetch_add(amount, std::memory_order_relaxed);
  }
  void refund(size_t amount) noexcept {
    bytes -= amount;
    store_bytes->fetch_sub(amount, std::memory_order_relaxed);
  }

  static size_t depth_of(const Item& item) noexcept {
    return item.node() != nullptr ? std::min<size_t>(item.node()->depth, kTrackedDepths - 1) : 1;
  }

  // Links an item at `slot` (from find_slot for its key). Takes over the
  // caller's reference.
  void insert(Item** slot, Item* item) noexcept {
    item->hash_next = *slot;
    *slot = item;
    ++entries;
    ++depth_counts[depth_of(*item)];
    if (item->has_value) {
      item->lives = 1;  // see Item::lives
      ++value_count;
      ++total_items;
    }
    charge(item->total_size());
    if (entries > buckets.size() + buckets.size() / 2) {
      grow();
    }
  }

  // Takes an item out of the hash table (not out of the tree) and
  // returns the shard's reference to the caller.
  Item* take_out(Item* item) noexcept {
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

  detail::TreeNode* new_node(Item* entry, TreeNode* parent, size_t depth) noexcept {
    void* memory = Item::allocate_block(sizeof(TreeNode));
    if (memory == nullptr) {
      return nullptr;
    }
    auto* node = new (memory) TreeNode;
    node->entry = entry;
    node->depth = static_cast<uint16_t>(depth);
    if (parent != nullptr) {
      parent->attach_child(node);
    }
    charge(Item::block_size(sizeof(TreeNode)));
    return node;
  }

  static void free_node(TreeNode* node) noexcept {
    node->~TreeNode();
    Item::free_block(node, sizeof(TreeNode));
  }

  void delete_node(TreeNode* node) noexcept {
    refund(Item::block_size(sizeof(TreeNode)));
    free_node(node);
  }

  // A top-level item that lost its last child needs no tree links any more.
  void drop_links_if_flat(Item* entry) noexcept {
    TreeNode* node = entry->node();
    if (node != nullptr && entry->has_value && node->parent == nullptr && node->child_count == 0) {
      entry->set_node(nullptr);
      delete_node(node);
    }
  }

  // Removes `entry` and everything below it from the table and the
  // tree (the caller detaches `entry`'s node from its parent first).
  void erase_subtree(Item* entry) noexcept {
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
    Item::release(entry);
  }

  // Grown bucket arrays count against the memory limit (not in `bytes`,
  // which is memcached's item total); the small initial ones are part of the
  // server's fixed overhead.
  void charge_table(size_t buckets_added) noexcept {
    store_bytes->fetch_add(buckets_added * sizeof(Item*), std::memory_order_relaxed);
  }

  void grow() {
    charge_table(buckets.size());
    std::vector<Item*> bigger(buckets.size() * 2, nullptr);
    for (Item* head : buckets) {
      while (head != nullptr) {
        Item* next = head->hash_next;
        Item*& bucket = bigger[static_cast<size_t>(hash_key(head->key())) & (bigger.size() - 1)];
        head->hash_next = bucket;
        bucket = head;
        head = next;
      }
    }
    buckets.swap(bigger);
  }
};

}  // namespace detail

using detail::TreeNode;

namespace {

// Whether the children of `parent` have a value above them.
bool values_above_children(const TreeNode* parent) noexcept {
  return parent->entry->has_value || parent->entry->under_value;
}

// Recomputes under_value below a node whose own value came or went.
void refresh_under_value(TreeNode* node) noexcept {
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

}  // namespace

Store::Store(const StoreConfig& config)
    : shards_(new Shard[size_t{1} << config.shard_bits]),
      shard_bits_(config.shard_bits),
      evictions_enabled_(config.evictions_enabled),
      max_item_size_(config.max_item_size),
      memory_limit_(config.memory_limit) {
  for (size_t i = 0; i < (size_t{1} << shard_bits_); ++i) {
    shards_[i].store_bytes = &used_bytes_;
  }
}

Store::~Store() = default;

template <typename Fn>
void Store::for_each_shard(Fn&& fn) const {
  for (size_t i = 0; i < (size_t{1} << shard_bits_); ++i) {
    std::lock_guard lock(shards_[i].mu);
    fn(shards_[i]);
  }
}

Store::Shard& Store::shard_for(uint64_t first_token_hash) const noexcept {
  // High bits pick the shard; buckets use the low bits.
  return shards_[shard_bits_ == 0 ? 0
                                  : static_cast<size_t>(first_token_hash >> (64 - shard_bits_))];
}

Store::Shard& Store::shard_for_path(std::string_view path, const PathHash& hashed) const noexcept {
  // The one place that decides placement: by the first token, so that a
  // subtree shares its root's shard. A flat key is its own first token.
  return shard_for(hashed.first_token_size == path.size()
                       ? hashed.hash
                       : hash_key(path.substr(0, hashed.first_token_size)));
}

bool Store::is_live(const Item& item, uint32_t now) const noexcept {
  if (item.deadline != 0 && item.deadline <= now) {
    return false;
  }
  return item.cas >= oldest_live_cas_.load(std::memory_order_relaxed);
}

void Store::flush_now() noexcept {
  // Only ever raised: a slower concurrent flush must not revive items.
  const uint64_t boundary = next_cas_.load(std::memory_order_relaxed);
  uint64_t current = oldest_live_cas_.load(std::memory_order_relaxed);
  while (current < boundary &&
         !oldest_live_cas_.compare_exchange_weak(current, boundary, std::memory_order_relaxed)) {
  }
}

void Store::apply_pending_flush(uint32_t now) noexcept {
  uint32_t at = pending_flush_at_.load(std::memory_order_relaxed);
  if (at != 0 && now >= at &&
      pending_flush_at_.compare_exchange_strong(at, 0, std::memory_order_relaxed)) {
    flush_now();
  }
}

void Store::flush_all(uint32_t at, uint32_t now) {
  if (at <= now) {
    pending_flush_at_.store(0, std::memory_order_relaxed);
    flush_now();
  } else {
    pending_flush_at_.store(at, std::memory_order_relaxed);
  }
}

bool Store::make_room(size_t bytes) {
  const size_t shard_count = size_t{1} << shard_bits_;
  size_t empty_visits = 0;
  for (;;) {
    const size_t limit = memory_limit_.load(std::memory_order_relaxed);
    const size_t used = used_bytes_.load(std::memory_order_relaxed);
    if (used + bytes <= limit) {
      return true;
    }
    if (!evictions_enabled_ || bytes > limit || empty_visits > shard_count) {
      return false;
    }
    // Visit shards in turn, each for its share: with uniform hashing every
    // shard's hand sees values of about the same age, so this approximates
    // one clock over the whole store without holding two locks.
    const size_t deficit = used + bytes - limit;
    const size_t share = std::max<size_t>(deficit / shard_count, 1);
    Shard& shard =
        shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) & (shard_count - 1)];
    size_t freed = 0;
    {
      std::lock_guard lock(shard.mu);
      freed = evict(shard, share);
    }
    empty_visits = freed == 0 ? empty_visits + 1 : 0;
  }
}

// CLOCK over the hash table: the hand visits the shard's buckets in turn and
// takes one of each value's lives (Item::lives); a value with none left is
// evicted, with its subtree. A new value lives at least one turn of the hand,
// as it would pass through an LRU, and one being read outlasts the writes.
size_t Store::evict(Shard& shard, size_t wanted) {
  const size_t before = shard.bytes;
  const auto freed = [&] { return before - shard.bytes; };
  // Three turns at most: the first two may only take lives.
  for (size_t visits = 3 * shard.buckets.size() + 1; visits > 0 && freed() < wanted; --visits) {
    const size_t bucket = shard.clock_hand & (shard.buckets.size() - 1);
    // Evict this bucket's values without lives before taking the others':
    // a life taken now must not count until the next turn.
    for (Item* victim = nullptr;;) {
      victim = nullptr;
      for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
        if (entry->has_value && entry->lives == 0) {
          victim = entry;
          break;
        }
      }
      if (victim == nullptr) {
        break;
      }
      ++shard.evictions;
      if (!victim->fetched) {
        ++shard.evicted_unfetched;
      }
      // Accounted under the lock, so no other thread sees the shard empty
      // while its bytes still count as used. A parent takes its subtree.
      remove_node(shard, victim);
      if (freed() >= wanted) {
        return freed();  // the hand stays: this bucket may hold more
      }
    }
    for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
      if (entry->lives != 0) {
        --entry->lives;
      }
    }
    ++shard.clock_hand;
  }
  return freed();
}

void Store::remove_node(Shard& shard, Item* entry) {
  TreeNode* parent = entry->node() != nullptr ? entry->node()->parent : nullptr;
  if (parent != nullptr) {
    parent->detach_child(entry->node());
  }
  shard.erase_subtree(entry);
  // Value-less ancestors exist only for their children.
  while (parent != nullptr && !parent->entry->has_value && parent->child_count == 0) {
    TreeNode* grandparent = parent->parent;
    if (grandparent != nullptr) {
      grandparent->detach_child(parent);
    }
    shard.erase_subtree(parent->entry);
    parent = grandparent;
  }
  if (parent != nullptr) {
    shard.drop_links_if_flat(parent->entry);
  }
}

Item* Store::find_live(Shard& shard, std::string_view path, uint64_t hash, uint32_t now) {
  Item* entry = *shard.find_slot(path, hash);
  if (entry == nullptr) {
    return nullptr;
  }
  // The highest dead value on the way from the root decides: everything
  // under it is gone. Flat keys have no ancestors and skip the walk.
  Item* dead = entry->has_value && !is_live(*entry, now) ? entry : nullptr;
  if (entry->under_value) {
    for (TreeNode* up = entry->node()->parent; up != nullptr; up = up->parent) {
      if (up->entry->has_value && !is_live(*up->entry, now)) {
        dead = up->entry;
      }
      if (!up->entry->under_value) {
        break;  // no values further up
      }
    }
  }
  if (dead == nullptr) {
    return entry;
  }
  ++shard.reclaimed;
  if (!dead->fetched) {
    ++shard.expired_unfetched;
  }
  // memcached counts any lookup that meets a dead item, whatever the command.
  const bool expired = dead->deadline != 0 && dead->deadline <= now;
  ++(expired ? shard.get_expired : shard.get_flushed);
  remove_node(shard, dead);
  return nullptr;
}

TreeNode* Store::ensure_node(Shard& shard, std::string_view path, uint32_t now) {
  const uint64_t hash = hash_key(path);
  if (Item* entry = find_live(shard, path, hash, now)) {
    if (entry->node() == nullptr) {
      // A flat key receiving its first child: it needs room for links.
      if (!entry->has_links) {
        Item* linked = Item::copy_with_links(*entry);
        if (linked == nullptr) {
          return nullptr;
        }
        replace_entry(shard, entry, linked, hash);
        shard.total_items -= linked->has_value ? 1 : 0;  // the same item, moved
        entry = linked;
      }
      entry->set_node(shard.new_node(entry, nullptr, 1));
    }
    return entry->node();
  }
  const size_t depth = path_depth(path);
  TreeNode* parent = nullptr;
  if (depth > 1) {
    parent = ensure_node(shard, parent_path(path), now);
    if (parent == nullptr) {
      return nullptr;
    }
  }
  Item* placeholder = Item::create(path, 0, true);
  if (placeholder == nullptr) {
    return nullptr;
  }
  placeholder->has_value = false;
  placeholder->cas = next_cas();
  placeholder->set_node(shard.new_node(placeholder, parent, depth));
  if (placeholder->node() == nullptr) {
    Item::release(placeholder);
    return nullptr;
  }
  placeholder->under_value = parent != nullptr && values_above_children(parent);
  shard.insert(shard.find_slot(path, hash), placeholder);
  return placeholder->node();
}

bool Store::link_new(Shard& shard, Item* fresh, std::string_view path, uint64_t hash,
                     uint32_t now) {
  // memchr first: flat keys, the common case, skip counting tokens.
  if (path.find(kPathDelimiter) != std::string_view::npos) {
    const size_t depth = path_depth(path);
    TreeNode* parent = ensure_node(shard, parent_path(path), now);
    fresh->set_node(parent == nullptr ? nullptr : shard.new_node(fresh, parent, depth));
    if (fresh->node() == nullptr) {
      return false;
    }
    fresh->under_value = values_above_children(parent);
  }
  shard.insert(shard.find_slot(path, hash), fresh);
  return true;
}

void Store::replace_entry(Shard& shard, Item* old, Item* fresh, uint64_t hash) {
  shard.take_out(old);
  fresh->set_node(old->node());
  fresh->under_value = old->under_value;
  old->set_node(nullptr);
  const bool value_came_or_went = old->has_value != fresh->has_value;
  Item::release(old);
  shard.insert(shard.find_slot(fresh->key(), hash), fresh);
  if (fresh->node() != nullptr) {
    fresh->node()->entry = fresh;
    if (value_came_or_went) {
      refresh_under_value(fresh->node());
    }
  }
}

bool Store::prune(Shard& shard, Item* entry, uint32_t now) {
  // Children first: a parent left without children may have to go too.
  if (TreeNode* node = entry->node();
      node != nullptr && !(entry->has_value && !is_live(*entry, now))) {
    for (TreeNode* child = node->first_child; child != nullptr;) {
      TreeNode* next = child->next_sibling;
      if (!prune(shard, child->entry, now)) {
        node->detach_child(child);
        shard.erase_subtree(child->entry);
      }
      child = next;
    }
  }
  const bool dead_value = entry->has_value && !is_live(*entry, now);
  if (dead_value) {
    ++shard.reclaimed;
  } else {
    shard.drop_links_if_flat(entry);
  }
  return !dead_value &&
         (entry->has_value || (entry->node() != nullptr && entry->node()->child_count > 0));
}

bool Store::prune_root(Shard& shard, Item* entry, uint32_t now) {
  if (prune(shard, entry, now)) {
    return true;
  }
  remove_node(shard, entry);
  return false;
}

template <typename Fn>
auto Store::with_node(std::string_view path, uint32_t now, Fn&& fn) {
  apply_pending_flush(now);
  const PathHash hashed = hash_path(path, kPathDelimiter);
  Shard& shard = shard_for_path(path, hashed);
  std::lock_guard lock(shard.mu);
  return fn(shard, hashed.hash, find_live(shard, path, hashed.hash, now));
}

ItemRef Store::get(std::string_view path, uint32_t now) {
  return get_and_touch(path, UINT32_MAX, now);
}

ItemRef Store::get_and_touch(std::string_view path, uint32_t deadline, uint32_t now) {
  return with_node(path, now, [&](Shard&, uint64_t, Item* item) -> ItemRef {
    if (item == nullptr || !item->has_value) {
      return {};
    }
    if (deadline != UINT32_MAX) {
      item->deadline = deadline;
    }
    item->fetched = true;
    Shard::mark_used(item);
    Item::retain(item);
    return ItemRef(item);
  });
}

StoreStatus Store::set(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  return store(Mode::kSet, path, value, flags, deadline, 0, now);
}

StoreStatus Store::add(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  return store(Mode::kAdd, path, value, flags, deadline, 0, now);
}

StoreStatus Store::replace(std::string_view path, std::string_view value, uint32_t flags,
                           uint32_t deadline, uint32_t now) {
  return store(Mode::kReplace, path, value, flags, deadline, 0, now);
}

StoreStatus Store::append(std::string_view path, std::string_view value, uint32_t now) {
  return store(Mode::kAppend, path, value, 0, 0, 0, now);
}

StoreStatus Store::prepend(std::string_view path, std::string_view value, uint32_t now) {
  return store(Mode::kPrepend, path, value, 0, 0, 0, now);
}

StoreStatus Store::cas(std::string_view path, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  return store(Mode::kCas, path, value, flags, deadline, expected_cas, now);
}

StoreStatus Store::store(Mode mode, std::string_view path, std::string_view value, uint32_t flags,
                         uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  apply_pending_flush(now);
  const PathHash hashed = hash_path(path, kPathDelimiter);
  const uint64_t hash = hashed.hash;
  Shard& shard = shard_for_path(path, hashed);
  // Nested paths always have tree links; flat keys only once they have children.
  const bool nested = hashed.first_token_size != path.size();
  const bool concatenate = mode == Mode::kAppend || mode == Mode::kPrepend;

  // Room is made before taking the shard lock (eviction locks other shards).
  // Concatenation needs the old size first; it is read again under the lock.
  size_t needed = Item::total_size_for(path.size(), value.size());
  if (concatenate) {
    std::lock_guard lock(shard.mu);
    const Item* old = *shard.find_slot(path, hash);
    needed += old != nullptr ? old->value_size : 0;
  }
  if (!make_room(needed)) {
    if (mode == Mode::kSet) {
      discard_value(path, now);
    }
    return needed > memory_limit() ? StoreStatus::kTooLarge : StoreStatus::kNoMemory;
  }

  Item* fresh = nullptr;
  if (!concatenate) {
    fresh = Item::create(path, value.size(), nested);
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    std::memcpy(fresh->value_data(), value.data(), value.size());
    fresh->flags = flags;
    fresh->deadline = deadline;
  }

  std::lock_guard lock(shard.mu);
  Item* old = find_live(shard, path, hash, now);
  const bool has_value = old != nullptr && old->has_value;
  StoreStatus refused = StoreStatus::kStored;
  switch (mode) {
    case Mode::kSet:
      break;
    case Mode::kAdd:
      if (has_value) {
        // A failed add still counts as a use of the existing item.
        Shard::mark_used(old);
        refused = StoreStatus::kNotStored;
      }
      break;
    case Mode::kReplace:
    case Mode::kAppend:
    case Mode::kPrepend:
      if (!has_value) {
        refused = StoreStatus::kNotStored;
      }
      break;
    case Mode::kCas:
      if (!has_value) {
        refused = StoreStatus::kNotFound;
      } else if (old->cas != expected_cas) {
        refused = StoreStatus::kExists;
      }
      break;
  }
  if (refused != StoreStatus::kStored) {
    if (fresh != nullptr) {
      Item::release(fresh);
    }
    return refused;
  }
  if (concatenate) {
    // Counted as memcached counts items (header, key + NUL, value + CRLF,
    // flags) so that the same appends are refused.
    const size_t combined = size_t{old->value_size} + value.size();
    if (56 + path.size() + 1 + combined + 2 + (old->flags != 0 ? 4 : 0) > max_item_size_) {
      return StoreStatus::kNotStored;
    }
    fresh = Item::create(path, combined, nested || old->has_links);
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    const std::string_view before = mode == Mode::kAppend ? old->value() : value;
    const std::string_view after = mode == Mode::kAppend ? value : old->value();
    std::memcpy(fresh->value_data(), before.data(), before.size());
    std::memcpy(fresh->value_data() + before.size(), after.data(), after.size());
    fresh->flags = old->flags;
    fresh->deadline = old->deadline;
  }
  fresh->cas = next_cas();
  if (old != nullptr) {
    if (old->node() != nullptr && !fresh->has_links) {
      // A flat key with children: its new value needs room for the links.
      Item* linked = Item::copy_with_links(*fresh);
      Item::release(fresh);
      if (linked == nullptr) {
        return StoreStatus::kNoMemory;
      }
      fresh = linked;
    }
    replace_entry(shard, old, fresh, hash);
  } else if (!link_new(shard, fresh, path, hash, now)) {
    Item::release(fresh);
    return StoreStatus::kNoMemory;
  }
  return StoreStatus::kStored;
}

StoreStatus Store::incr(std::string_view path, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(path, true, delta, now, result);
}

StoreStatus Store::decr(std::string_view path, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(path, false, delta, now, result);
}

StoreStatus Store::arithmetic(std::string_view path, bool increment, uint64_t delta, uint32_t now,
                              uint64_t& result) {
  return with_node(path, now, [&](Shard& shard, uint64_t hash, Item* old) -> StoreStatus {
    if (old == nullptr || !old->has_value) {
      return StoreStatus::kNotFound;
    }
    uint64_t value = 0;
    if (!parse_stored_number(old->value(), value)) {
      return StoreStatus::kNonNumeric;
    }
    if (increment) {
      value += delta;  // wraps at 2^64
    } else {
      value = delta > value ? 0 : value - delta;
    }
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    const auto length = static_cast<size_t>(end - digits);
    // A fresh item: readers may hold references to the old one.
    Item* fresh = Item::create(path, length, old->has_links);
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    std::memcpy(fresh->value_data(), digits, length);
    fresh->flags = old->flags;
    fresh->deadline = old->deadline;
    fresh->fetched = old->fetched;
    fresh->cas = next_cas();
    replace_entry(shard, old, fresh, hash);
    --shard.total_items;  // an update in place for memcached, not a new item
    result = value;
    return StoreStatus::kOk;
  });
}

StoreStatus Store::touch(std::string_view path, uint32_t deadline, uint32_t now) {
  return with_node(path, now, [&](Shard&, uint64_t, Item* item) -> StoreStatus {
    if (item == nullptr || !item->has_value) {
      return StoreStatus::kNotFound;
    }
    item->deadline = deadline;
    Shard::mark_used(item);
    return StoreStatus::kOk;
  });
}

StoreStatus Store::remove(std::string_view path, uint32_t now) {
  return with_node(path, now, [&](Shard& shard, uint64_t, Item* entry) -> StoreStatus {
    // A value-less node whose descendants all expired no longer exists.
    if (entry == nullptr || !prune_root(shard, entry, now)) {
      return StoreStatus::kNotFound;
    }
    if (entry->node() != nullptr && entry->node()->child_count > 0) {
      ++shard.subtree_deletes;
    }
    remove_node(shard, entry);
    return StoreStatus::kOk;
  });
}

void Store::discard_value(std::string_view path, uint32_t now) {
  return with_node(path, now, [&](Shard& shard, uint64_t hash, Item* entry) -> void {
    if (entry == nullptr || !entry->has_value) {
      return;
    }
    if (entry->node() == nullptr || entry->node()->child_count == 0) {
      remove_node(shard, entry);
      return;
    }
    // Children stay: the node lives on without a value.
    Item* placeholder = Item::create(path, 0, true);
    if (placeholder == nullptr) {
      return;  // out of memory: keep the old value rather than lose the subtree
    }
    placeholder->has_value = false;
    placeholder->cas = entry->cas;
    replace_entry(shard, entry, placeholder, hash);
  });
}

StoreStatus Store::list_children(std::string_view path, uint32_t now, size_t limit,
                                 std::vector<ItemRef>& out) {
  out.clear();
  if (path.empty()) {
    apply_pending_flush(now);
    list_top_level(now, out);
  } else {
    const StoreStatus found = with_node(path, now, [&](Shard& shard, uint64_t, Item* entry) {
      if (entry == nullptr || !prune_root(shard, entry, now)) {
        return StoreStatus::kNotFound;
      }
      if (entry->node() != nullptr && entry->node()->child_count > limit) {
        return StoreStatus::kTooLarge;
      }
      for (TreeNode* child = entry->node() != nullptr ? entry->node()->first_child : nullptr;
           child != nullptr; child = child->next_sibling) {
        Item::retain(child->entry);
        out.emplace_back(child->entry);
      }
      return StoreStatus::kOk;
    });
    if (found != StoreStatus::kOk) {
      return found;
    }
  }
  if (out.size() > limit) {
    out.clear();
    return StoreStatus::kTooLarge;
  }
  std::sort(out.begin(), out.end(), key_less);
  return StoreStatus::kOk;
}

void Store::list_top_level(uint32_t now, std::vector<ItemRef>& out) {
  std::vector<Item*> candidates;
  for_each_shard([&](Shard& shard) {
    candidates.clear();
    for (Item* entry : shard.buckets) {
      for (; entry != nullptr; entry = entry->hash_next) {
        if (entry->node() == nullptr || entry->node()->parent == nullptr) {
          candidates.push_back(entry);
        }
      }
    }
    // Pruning changes the table, so it runs after the scan.
    for (Item* entry : candidates) {
      if (prune_root(shard, entry, now)) {
        Item::retain(entry);
        out.emplace_back(entry);
      }
    }
  });
}

StoreStatus Store::collect_subtree(std::string_view path, uint32_t now, size_t limit,
                                   std::vector<ItemRef>& out) {
  out.clear();
  return with_node(path, now, [&](Shard& shard, uint64_t, Item* root) -> StoreStatus {
    if (root == nullptr || !prune_root(shard, root, now)) {
      return StoreStatus::kNotFound;
    }
    // Depth-first, parents before children, siblings in bytewise order.
    std::vector<Item*> pending{root};
    std::vector<Item*> siblings;
    while (!pending.empty()) {
      Item* entry = pending.back();
      pending.pop_back();
      if (entry->has_value) {
        if (out.size() == limit) {
          out.clear();
          return StoreStatus::kTooLarge;
        }
        Item::retain(entry);
        out.emplace_back(entry);
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
                [](const Item* a, const Item* b) { return a->key() > b->key(); });
      pending.insert(pending.end(), siblings.begin(), siblings.end());
    }
    return StoreStatus::kOk;
  });
}

void Store::sweep(uint32_t now, size_t buckets) {
  apply_pending_flush(now);
  for_each_shard([&](Shard& shard) {
    for (size_t visited = 0; visited < buckets && visited < shard.buckets.size(); ++visited) {
      const size_t bucket = shard.sweep_cursor++ & (shard.buckets.size() - 1);
      // Removing a node may take other nodes of this chain with it (its
      // subtree), so the chain is scanned again after each removal.
      for (bool removed = true; removed;) {
        removed = false;
        for (Item* entry = shard.buckets[bucket]; entry != nullptr; entry = entry->hash_next) {
          ++shard.sweep_checked;
          if (entry->has_value && !is_live(*entry, now)) {
            ++shard.reclaimed;
            ++shard.sweep_reclaimed;
            if (!entry->fetched) {
              ++shard.expired_unfetched;
            }
            remove_node(shard, entry);
            removed = true;
            break;
          }
        }
      }
    }
  });
}

void Store::set_memory_limit(size_t bytes) {
  memory_limit_.store(bytes, std::memory_order_relaxed);
}

StoreStats Store::stats() const {
  StoreStats total;
  for_each_shard([&](Shard& shard) {
    total.curr_items += shard.value_count;
    total.bytes += shard.bytes;
    total.total_items += shard.total_items;
    total.evictions += shard.evictions;
    total.expired_unfetched += shard.expired_unfetched;
    total.evicted_unfetched += shard.evicted_unfetched;
    total.reclaimed += shard.reclaimed;
    total.get_expired += shard.get_expired;
    total.get_flushed += shard.get_flushed;
    total.sweep_reclaimed += shard.sweep_reclaimed;
    total.sweep_checked += shard.sweep_checked;
    total.hash_buckets += shard.buckets.size();
  });
  total.limit_maxbytes = memory_limit();
  return total;
}

TreeStats Store::tree_stats() const {
  TreeStats total;
  for_each_shard([&](Shard& shard) {
    total.nodes += shard.entries;
    total.value_nodes += shard.value_count;
    total.subtree_deletes += shard.subtree_deletes;
    for (size_t depth = kTrackedDepths - 1; depth > total.max_depth; --depth) {
      if (shard.depth_counts[depth] != 0) {
        total.max_depth = depth;
        break;
      }
    }
  });
  return total;
}

void Store::reset_stats() {
  for_each_shard([&](Shard& shard) {
    shard.total_items = 0;
    shard.evictions = 0;
    shard.expired_unfetched = 0;
    shard.evicted_unfetched = 0;
    shard.reclaimed = 0;
    shard.get_expired = 0;
    shard.get_flushed = 0;
    shard.sweep_reclaimed = 0;
    shard.sweep_checked = 0;
    shard.subtree_deletes = 0;
  });
}

}  // namespace treecached::storage
