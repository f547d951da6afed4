#include "storage/store.h"

#include <algorithm>
#include <cassert>
#include <thread>

#include "storage/eviction.h"
#include "storage/hash.h"
#include "storage/shard.h"
#include "storage/store_inline.h"
#include "storage/tree.h"

namespace treecached::storage {

using detail::Listing;
using detail::Liveness;

namespace {

// make_room gives up after this many eviction attempts in a row that found
// nothing to evict (each attempt is bounded: see detail::evict).
constexpr size_t kMaxFruitlessAttempts = 4;
bool key_less(const ItemRef& a, const ItemRef& b) noexcept { return a.key() < b.key(); }

StoreStatus listing_status(Listing listing) noexcept {
  switch (listing) {
    case Listing::kListed:
      return StoreStatus::kOk;
    case Listing::kGone:
      return StoreStatus::kNotFound;
    case Listing::kOverLimit:
      return StoreStatus::kTooLarge;
  }
  return StoreStatus::kNotFound;
}

}  // namespace

Store::Store(const StoreConfig& config)
    : budget_(config.memory_limit),
      shards_(new Shard[size_t{1} << config.shard_bits]),
      shard_bits_(config.shard_bits),
      evictions_enabled_(config.evictions_enabled),
      max_item_size_(config.max_item_size),
      rules_(config.rules) {
  assert(rules_.parse_number != nullptr && rules_.item_fits != nullptr);
  for (size_t i = 0; i < shard_count(); ++i) {
    shards_[i].budget = &budget_;
  }
}

Store::~Store() = default;

void Store::flush_now() noexcept {
  // Only ever raised: a slower concurrent flush must not revive items.
  const uint64_t boundary = next_cas_.load(std::memory_order_relaxed);
  uint64_t current = oldest_live_cas_.load(std::memory_order_relaxed);
  while (current < boundary &&
         !oldest_live_cas_.compare_exchange_weak(current, boundary, std::memory_order_relaxed)) {
  }
}

Liveness Store::liveness(uint32_t now) noexcept {
  uint32_t at = pending_flush_at_.load(std::memory_order_relaxed);
  if (at != 0 && now >= at &&
      pending_flush_at_.compare_exchange_strong(at, 0, std::memory_order_relaxed)) {
    flush_now();
  }
  return {now, oldest_live_cas_.load(std::memory_order_relaxed)};
}

void Store::flush_all(uint32_t at, uint32_t now) {
  if (at <= now) {
    pending_flush_at_.store(0, std::memory_order_relaxed);
    flush_now();
  } else {
    pending_flush_at_.store(at, std::memory_order_relaxed);
  }
}

Store::Shard* Store::next_eviction_shard() noexcept {
  // Two candidates, the cursor's and a scattered one, and the larger wins:
  // shards are visited in turn but big ones (a big subtree) more often, so
  // one clock over the whole store is approximated without a global lock.
  // Empty shards are passed over.
  const size_t mask = shard_count() - 1;
  for (size_t tries = 0; tries < shard_count(); ++tries) {
    const uint64_t turn = evict_cursor_.fetch_add(1, std::memory_order_relaxed);
    Shard& first = shards_[turn & mask];
    Shard& second = shards_[((turn * 0x9E3779B97F4A7C15ULL) >> 40) & mask];
    const size_t first_bytes = first.bytes_hint.load(std::memory_order_relaxed);
    const size_t second_bytes = second.bytes_hint.load(std::memory_order_relaxed);
    if (first_bytes != 0 || second_bytes != 0) {
      return first_bytes >= second_bytes ? &first : &second;
    }
  }
  return nullptr;
}

bool Store::make_room(Reservation& reservation, size_t bytes, uint32_t now) {
  if (reservation.top_up(bytes)) {
    return true;
  }
  if (!evictions_enabled_ || bytes > budget_.limit()) {
    return false;
  }
  const Liveness live = liveness(now);
  // Each attempt holds one shard lock for a bounded time. Attempts that free
  // something continue (up to a bound in proportion to the request); a few
  // in a row that free nothing mean the budget is held by what cannot go.
  const size_t max_attempts = 4 * shard_count() + bytes / 64;
  for (size_t attempt = 0, fruitless = 0;
       attempt < max_attempts && fruitless < kMaxFruitlessAttempts; ++attempt) {
    const size_t missing = bytes - reservation.held();
    const size_t used = budget_.used();
    const size_t limit = budget_.limit();
    const size_t wanted = used + missing > limit ? used + missing - limit : 1;
    Shard* shard = next_eviction_shard();
    if (shard == nullptr) {
      return false;  // nothing left to evict
    }
    size_t freed = 0;
    {
      MutexLock lock(shard->mu);
      freed = detail::evict(*shard, wanted, live);
    }
    if (reservation.top_up(bytes)) {
      return true;
    }
    if (freed == 0) {
      // What holds the budget may be other writers' items on their way in:
      // give them a moment to land (and become evictable).
      ++fruitless;
      std::this_thread::yield();
    } else {
      fruitless = 0;
    }
  }
  return false;
}

void Store::set_memory_limit(size_t bytes, uint32_t now) {
  budget_.set_limit(bytes);
  if (!evictions_enabled_) {
    return;  // -M: writes fail until enough is deleted
  }
  const Liveness live = liveness(now);
  for (size_t fruitless = 0; budget_.used() > bytes && fruitless < 2 * shard_count();) {
    Shard* shard = next_eviction_shard();
    if (shard == nullptr) {
      return;
    }
    size_t freed = 0;
    {
      MutexLock lock(shard->mu);
      const size_t used = budget_.used();
      freed = detail::evict(*shard, used > bytes ? used - bytes : 1, live);
    }
    fruitless = freed == 0 ? fruitless + 1 : 0;
  }
}

ItemRef Store::get(std::string_view path, uint32_t now) {
  return get_and_touch(path, UINT32_MAX, now);
}

ItemRef Store::get_and_touch(std::string_view path, uint32_t deadline, uint32_t now) {
  const Liveness live = liveness(now);
  const Target t = target(path);
  MutexLock lock(t.shard.mu);
  Item* item = detail::find_live(t.shard, path, t.hash, live);
  if (item == nullptr || !item->has_value) {
    t.shard.shrink_if_sparse();  // the lookup may have reclaimed a subtree
    return {};
  }
  if (deadline != UINT32_MAX) {
    item->deadline = deadline;
  }
  item->fetched = true;
  Shard::mark_used(item);
  return t.shard.ref(item);
}

StoreStatus Store::list_children(std::string_view path, uint32_t now, size_t limit,
                                 std::vector<ItemRef>& out) {
  out.clear();
  const Liveness live = liveness(now);
  StoreStatus status = StoreStatus::kOk;
  if (path.empty()) {
    for (size_t i = 0; i < shard_count() && status == StoreStatus::kOk; ++i) {
      Shard& shard = shards_[i];
      MutexLock lock(shard.mu);
      status = listing_status(detail::list_top_level(shard, live, limit, out));
      shard.shrink_if_sparse();
    }
  } else {
    const Target t = target(path);
    MutexLock lock(t.shard.mu);
    Item* entry = detail::find_live(t.shard, path, t.hash, live);
    status = entry == nullptr
                 ? StoreStatus::kNotFound
                 : listing_status(detail::list_children(t.shard, entry, live, limit, out));
    t.shard.shrink_if_sparse();
  }
  if (status != StoreStatus::kOk) {
    out.clear();
    return status;
  }
  std::sort(out.begin(), out.end(), key_less);
  return StoreStatus::kOk;
}

StoreStatus Store::collect_subtree(std::string_view path, uint32_t now, size_t limit,
                                   std::vector<ItemRef>& out) {
  out.clear();
  const Liveness live = liveness(now);
  const Target t = target(path);
  StoreStatus status = StoreStatus::kNotFound;
  {
    MutexLock lock(t.shard.mu);
    if (Item* root = detail::find_live(t.shard, path, t.hash, live)) {
      status = listing_status(detail::collect_subtree(t.shard, root, live, limit, out));
    }
    t.shard.shrink_if_sparse();
  }
  if (status != StoreStatus::kOk) {
    out.clear();
  }
  return status;
}

void Store::sweep(uint32_t now, size_t buckets) {
  const Liveness live = liveness(now);
  for (size_t i = 0; i < shard_count(); ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    detail::sweep(shard, buckets, live);
  }
}

StoreStats Store::stats() const {
  StoreStats total;
  for (size_t i = 0; i < shard_count(); ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    total.curr_items += shard.value_count;
    total += shard.counters;
    total.hash_buckets += shard.buckets.size();
  }
  total.bytes = budget_.stored();
  total.limit_maxbytes = budget_.limit();
  total.budget_used = budget_.used();
  return total;
}

TreeStats Store::tree_stats() const {
  TreeStats total;
  for (size_t i = 0; i < shard_count(); ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    total.nodes += shard.entries;
    total.value_nodes += shard.value_count;
    total.subtree_deletes += shard.counters.subtree_deletes;
    for (size_t depth = detail::kTrackedDepths - 1; depth > total.max_depth; --depth) {
      if (shard.depth_counts[depth] != 0) {
        total.max_depth = depth;
        break;
      }
    }
  }
  return total;
}

void Store::reset_stats() {
  for (size_t i = 0; i < shard_count(); ++i) {
    Shard& shard = shards_[i];
    MutexLock lock(shard.mu);
    shard.counters = StoreCounters{};
  }
}

}  // namespace treecached::storage
