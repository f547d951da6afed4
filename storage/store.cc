#include "storage/store.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "storage/hash.h"

namespace treecached::storage {
namespace {

// An item is moved to the LRU head at most once per interval, so that hot
// reads do not rewrite list links every time (memcached uses 60 s too).
constexpr uint32_t kLruBumpInterval = 60;

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

}  // namespace

namespace detail {

struct alignas(64) Shard {
  // Guards every other field of the shard and the hash/LRU links, deadline,
  // last_access and fetched of the items linked in it.
  std::mutex mu;
  std::vector<Item*> buckets = std::vector<Item*>(64, nullptr);
  size_t count = 0;
  size_t bytes = 0;
  Item* lru_head = nullptr;  // most recently used
  Item* lru_tail = nullptr;  // eviction candidate

  uint64_t total_items = 0;
  uint64_t evictions = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;

  ~Shard() {
    for (Item* head : buckets) {
      while (head != nullptr) {
        Item* next = head->hash_next;
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

  void lru_push_front(Item* item) noexcept {
    item->lru_prev = nullptr;
    item->lru_next = lru_head;
    if (lru_head != nullptr) {
      lru_head->lru_prev = item;
    } else {
      lru_tail = item;
    }
    lru_head = item;
  }

  void lru_remove(Item* item) noexcept {
    (item->lru_prev != nullptr ? item->lru_prev->lru_next : lru_head) = item->lru_next;
    (item->lru_next != nullptr ? item->lru_next->lru_prev : lru_tail) = item->lru_prev;
    item->lru_prev = item->lru_next = nullptr;
  }

  void bump(Item* item, uint32_t now) noexcept {
    if (now - item->last_access >= kLruBumpInterval && lru_head != item) {
      lru_remove(item);
      lru_push_front(item);
      item->last_access = now;
    }
  }

  // Links a new item at `slot` (which find_slot returned and which holds
  // nullptr or the item being replaced, already unlinked by the caller).
  void link_at(Item** slot, Item* item) noexcept {
    item->hash_next = *slot;
    *slot = item;
    lru_push_front(item);
    ++count;
    ++total_items;
    bytes += item->total_size();
    if (count > buckets.size() + buckets.size() / 2) {
      grow();
    }
  }

  // Takes the item at `slot` out of the hash chain and LRU. The shard's
  // reference passes to the caller, who releases it after unlocking.
  Item* unlink_at(Item** slot) noexcept {
    Item* item = *slot;
    *slot = item->hash_next;
    item->hash_next = nullptr;
    lru_remove(item);
    --count;
    bytes -= item->total_size();
    return item;
  }

  Item* unlink(Item* item) noexcept {
    return unlink_at(find_slot(item->key(), hash_key(item->key())));
  }

  void grow() {
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

Store::Store(const StoreConfig& config)
    : shards_(new Shard[size_t{1} << config.shard_bits]),
      shard_bits_(config.shard_bits),
      evictions_enabled_(config.evictions_enabled),
      max_item_size_(config.max_item_size),
      memory_limit_(config.memory_limit) {}

Store::~Store() = default;

Store::Shard& Store::shard_for(uint64_t first_token_hash) const noexcept {
  // High bits pick the shard; buckets use the low bits.
  return shards_[shard_bits_ == 0 ? 0
                                  : static_cast<size_t>(first_token_hash >> (64 - shard_bits_))];
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
    // Visit shards in turn: with uniform hashing each shard's LRU tail is
    // about as old as any other's, so this approximates a global LRU without
    // holding two locks.
    const size_t deficit = used + bytes - limit;
    const size_t share = std::max<size_t>(deficit / shard_count, 1);
    Shard& shard =
        shards_[evict_cursor_.fetch_add(1, std::memory_order_relaxed) & (shard_count - 1)];
    Item* victims = nullptr;
    size_t freed = 0;
    {
      std::lock_guard lock(shard.mu);
      while (freed < share && shard.lru_tail != nullptr) {
        Item* victim = shard.unlink(shard.lru_tail);
        // Accounted under the lock, so no other thread sees the shard empty
        // while its bytes still count as used.
        account_unlinked(*victim);
        freed += victim->total_size();
        ++shard.evictions;
        if (!victim->fetched) {
          ++shard.evicted_unfetched;
        }
        victim->hash_next = victims;
        victims = victim;
      }
    }
    empty_visits = freed == 0 ? empty_visits + 1 : 0;
    while (victims != nullptr) {
      Item* next = victims->hash_next;
      Item::release(victims);
      victims = next;
    }
  }
}

namespace {

// Holds unlinked items whose references are dropped once the lock is gone.
class ReleaseLater {
 public:
  ReleaseLater() = default;
  ReleaseLater(const ReleaseLater&) = delete;
  ReleaseLater& operator=(const ReleaseLater&) = delete;
  ~ReleaseLater() {
    for (Item* item : items_) {
      if (item != nullptr) {
        Item::release(item);
      }
    }
  }
  Item*& operator[](size_t i) noexcept { return items_[i]; }

 private:
  Item* items_[2] = {nullptr, nullptr};
};

}  // namespace

void Store::account_unlinked(const Item& item) noexcept {
  used_bytes_.fetch_sub(item.total_size(), std::memory_order_relaxed);
}

Item** Store::find_live(Shard& shard, std::string_view key, uint64_t hash, uint32_t now,
                        Item*& dead) {
  Item** slot = shard.find_slot(key, hash);
  if (*slot != nullptr && !is_live(**slot, now)) {
    dead = shard.unlink_at(slot);
    account_unlinked(*dead);
    ++shard.reclaimed;
    // memcached counts any lookup that meets a dead item, whatever the command.
    const bool expired = dead->deadline != 0 && dead->deadline <= now;
    ++(expired ? shard.get_expired : shard.get_flushed);
    if (!dead->fetched) {
      ++shard.expired_unfetched;
    }
    slot = shard.find_slot(key, hash);  // now the chain's end: the key is gone
  }
  return slot;
}

ItemRef Store::get(std::string_view key, uint32_t now) {
  return get_and_touch(key, UINT32_MAX, now);
}

ItemRef Store::get_and_touch(std::string_view key, uint32_t deadline, uint32_t now) {
  apply_pending_flush(now);
  const uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  ReleaseLater later;
  std::lock_guard lock(shard.mu);
  Item** slot = find_live(shard, key, hash, now, later[0]);
  Item* item = *slot;
  if (item == nullptr) {
    return {};
  }
  if (deadline != UINT32_MAX) {
    item->deadline = deadline;
  }
  item->fetched = true;
  shard.bump(item, now);
  Item::retain(item);
  return ItemRef(item);
}

StoreStatus Store::set(std::string_view key, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  return store(Mode::kSet, key, value, flags, deadline, 0, now);
}

StoreStatus Store::add(std::string_view key, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint32_t now) {
  return store(Mode::kAdd, key, value, flags, deadline, 0, now);
}

StoreStatus Store::replace(std::string_view key, std::string_view value, uint32_t flags,
                           uint32_t deadline, uint32_t now) {
  return store(Mode::kReplace, key, value, flags, deadline, 0, now);
}

StoreStatus Store::append(std::string_view key, std::string_view value, uint32_t now) {
  return store(Mode::kAppend, key, value, 0, 0, 0, now);
}

StoreStatus Store::prepend(std::string_view key, std::string_view value, uint32_t now) {
  return store(Mode::kPrepend, key, value, 0, 0, 0, now);
}

StoreStatus Store::cas(std::string_view key, std::string_view value, uint32_t flags,
                       uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  return store(Mode::kCas, key, value, flags, deadline, expected_cas, now);
}

StoreStatus Store::store(Mode mode, std::string_view key, std::string_view value, uint32_t flags,
                         uint32_t deadline, uint64_t expected_cas, uint32_t now) {
  apply_pending_flush(now);
  const uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  const bool concatenate = mode == Mode::kAppend || mode == Mode::kPrepend;

  // Room is made before taking the shard lock (eviction locks other shards).
  // Concatenation needs the old size first; it is read again under the lock.
  size_t needed = Item::total_size_for(key.size(), value.size());
  if (concatenate) {
    std::lock_guard lock(shard.mu);
    Item* old = *shard.find_slot(key, hash);
    needed += old != nullptr ? old->value_size : 0;
  }
  if (!make_room(needed)) {
    if (mode == Mode::kSet) {
      // memcached drops the old value when a set cannot be stored, so that a
      // stale value does not outlive the failed write.
      (void)remove(key, now);
    }
    return needed > memory_limit() ? StoreStatus::kTooLarge : StoreStatus::kNoMemory;
  }

  Item* fresh = nullptr;
  if (!concatenate) {
    fresh = Item::create(key, value.size());
    if (fresh == nullptr) {
      return StoreStatus::kNoMemory;
    }
    std::memcpy(fresh->value_data(), value.data(), value.size());
    fresh->flags = flags;
    fresh->deadline = deadline;
  }

  ReleaseLater later;
  std::lock_guard lock(shard.mu);
  Item** slot = find_live(shard, key, hash, now, later[0]);
  Item* old = *slot;
  StoreStatus refused = StoreStatus::kStored;
  switch (mode) {
    case Mode::kSet:
      break;
    case Mode::kAdd:
      if (old != nullptr) {
        // A failed add still counts as a use of the existing item.
        shard.bump(old, now);
        refused = StoreStatus::kNotStored;
      }
      break;
    case Mode::kReplace:
    case Mode::kAppend:
    case Mode::kPrepend:
      if (old == nullptr) {
        refused = StoreStatus::kNotStored;
      }
      break;
    case Mode::kCas:
      if (old == nullptr) {
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
    if (56 + key.size() + 1 + combined + 2 + (old->flags != 0 ? 4 : 0) > max_item_size_) {
      return StoreStatus::kNotStored;
    }
    fresh = Item::create(key, combined);
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
  if (old != nullptr) {
    later[1] = shard.unlink_at(slot);
    account_unlinked(*later[1]);
    slot = shard.find_slot(key, hash);
  }
  fresh->cas = next_cas();
  fresh->last_access = now;
  used_bytes_.fetch_add(fresh->total_size(), std::memory_order_relaxed);
  shard.link_at(slot, fresh);
  return StoreStatus::kStored;
}

StoreStatus Store::incr(std::string_view key, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(key, true, delta, now, result);
}

StoreStatus Store::decr(std::string_view key, uint64_t delta, uint32_t now, uint64_t& result) {
  return arithmetic(key, false, delta, now, result);
}

StoreStatus Store::arithmetic(std::string_view key, bool increment, uint64_t delta, uint32_t now,
                              uint64_t& result) {
  apply_pending_flush(now);
  const uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  ReleaseLater later;
  std::lock_guard lock(shard.mu);
  Item** slot = find_live(shard, key, hash, now, later[0]);
  Item* old = *slot;
  if (old == nullptr) {
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
  Item* fresh = Item::create(key, length);
  if (fresh == nullptr) {
    return StoreStatus::kNoMemory;
  }
  std::memcpy(fresh->value_data(), digits, length);
  fresh->flags = old->flags;
  fresh->deadline = old->deadline;
  fresh->fetched = old->fetched;
  later[1] = shard.unlink_at(slot);
  account_unlinked(*later[1]);
  fresh->cas = next_cas();
  fresh->last_access = now;
  used_bytes_.fetch_add(fresh->total_size(), std::memory_order_relaxed);
  shard.link_at(shard.find_slot(key, hash), fresh);
  --shard.total_items;  // an update in place for memcached, not a new item
  result = value;
  return StoreStatus::kOk;
}

StoreStatus Store::touch(std::string_view key, uint32_t deadline, uint32_t now) {
  apply_pending_flush(now);
  const uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  ReleaseLater later;
  std::lock_guard lock(shard.mu);
  Item* item = *find_live(shard, key, hash, now, later[0]);
  if (item == nullptr) {
    return StoreStatus::kNotFound;
  }
  item->deadline = deadline;
  shard.bump(item, now);
  return StoreStatus::kOk;
}

StoreStatus Store::remove(std::string_view key, uint32_t now) {
  apply_pending_flush(now);
  const uint64_t hash = hash_key(key);
  Shard& shard = shard_for(hash);
  ReleaseLater later;
  std::lock_guard lock(shard.mu);
  Item** slot = find_live(shard, key, hash, now, later[0]);
  if (*slot == nullptr) {
    return StoreStatus::kNotFound;
  }
  later[1] = shard.unlink_at(slot);
  account_unlinked(*later[1]);
  return StoreStatus::kOk;
}

void Store::set_memory_limit(size_t bytes) {
  memory_limit_.store(bytes, std::memory_order_relaxed);
}

StoreStats Store::stats() const {
  StoreStats total;
  for (size_t i = 0; i < (size_t{1} << shard_bits_); ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    total.curr_items += shard.count;
    total.bytes += shard.bytes;
    total.total_items += shard.total_items;
    total.evictions += shard.evictions;
    total.expired_unfetched += shard.expired_unfetched;
    total.evicted_unfetched += shard.evicted_unfetched;
    total.reclaimed += shard.reclaimed;
    total.get_expired += shard.get_expired;
    total.get_flushed += shard.get_flushed;
    total.hash_buckets += shard.buckets.size();
  }
  total.limit_maxbytes = memory_limit();
  return total;
}

void Store::reset_stats() {
  for (size_t i = 0; i < (size_t{1} << shard_bits_); ++i) {
    Shard& shard = shards_[i];
    std::lock_guard lock(shard.mu);
    shard.total_items = 0;
    shard.evictions = 0;
    shard.expired_unfetched = 0;
    shard.evicted_unfetched = 0;
    shard.reclaimed = 0;
    shard.get_expired = 0;
    shard.get_flushed = 0;
  }
}

}  // namespace treecached::storage
