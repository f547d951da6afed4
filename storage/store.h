#pragma once

// Lock order: each shard has one mutex, a leaf lock. An operation holds at
// most one shard mutex at a time; nothing else is locked while holding it
// except the item's atomic reference count. Store-wide fields are atomics.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "storage/item.h"

namespace treecached::storage {

namespace detail {
struct Shard;
}  // namespace detail

enum class StoreStatus : uint8_t {
  kOk,  // done (delete, touch, incr/decr)
  kStored,
  kNotStored,
  kExists,  // cas mismatch
  kNotFound,
  kTooLarge,    // larger than the whole memory limit
  kNoMemory,    // limit reached and eviction disabled, or allocation failed
  kNonNumeric,  // incr/decr on a value that is not a number
};

struct StoreConfig {
  size_t memory_limit = 64 * 1024 * 1024;
  // 2^shard_bits shards, chosen by the hash of the first path token.
  unsigned shard_bits = 6;
  bool evictions_enabled = true;
  // memcached's -I: append/prepend may not grow an item past it.
  size_t max_item_size = 1024 * 1024;
};

// Counters with memcached's `stats` names.
struct StoreStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;
  uint64_t evictions = 0;
  uint64_t expired_unfetched = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  uint64_t limit_maxbytes = 0;
  uint64_t hash_buckets = 0;
};

// A sharded in-memory item store. All methods are thread-safe. `now` is the
// caller's clock in unix seconds; deadlines are absolute unix seconds (0 =
// never). Keys are opaque bytes of at most 65535 bytes.
class Store {
 public:
  explicit Store(const StoreConfig& config);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Returns the live item, or an empty ref. Marks it fetched and bumps it in
  // the LRU.
  [[nodiscard]] ItemRef get(std::string_view key, uint32_t now);
  // get, and set the item's deadline (memcached's gat).
  [[nodiscard]] ItemRef get_and_touch(std::string_view key, uint32_t deadline, uint32_t now);

  // The storage commands; on kStored, `cas_out` (if given) gets the new cas.
  [[nodiscard]] StoreStatus set(std::string_view key, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint32_t now);
  [[nodiscard]] StoreStatus add(std::string_view key, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint32_t now);
  [[nodiscard]] StoreStatus replace(std::string_view key, std::string_view value, uint32_t flags,
                                    uint32_t deadline, uint32_t now);
  // Keep the existing item's flags and deadline; kNotStored if the result
  // would exceed max_item_size.
  [[nodiscard]] StoreStatus append(std::string_view key, std::string_view value, uint32_t now);
  [[nodiscard]] StoreStatus prepend(std::string_view key, std::string_view value, uint32_t now);
  // kNotFound if missing, kExists if the item's cas is not `expected_cas`.
  [[nodiscard]] StoreStatus cas(std::string_view key, std::string_view value, uint32_t flags,
                                uint32_t deadline, uint64_t expected_cas, uint32_t now);

  // Unsigned 64-bit arithmetic on a decimal value: incr wraps, decr stops at
  // 0. The stored value becomes the decimal result. `result` gets the new value.
  [[nodiscard]] StoreStatus incr(std::string_view key, uint64_t delta, uint32_t now,
                                 uint64_t& result);
  [[nodiscard]] StoreStatus decr(std::string_view key, uint64_t delta, uint32_t now,
                                 uint64_t& result);

  [[nodiscard]] StoreStatus touch(std::string_view key, uint32_t deadline, uint32_t now);
  [[nodiscard]] StoreStatus remove(std::string_view key, uint32_t now);

  // Invalidates every item stored before `at` (unix seconds); at <= now
  // means immediately. A later call replaces a pending one.
  void flush_all(uint32_t at, uint32_t now);

  // Changes the memory limit; evicts down to it on later writes.
  void set_memory_limit(size_t bytes);
  [[nodiscard]] size_t memory_limit() const noexcept {
    return memory_limit_.load(std::memory_order_relaxed);
  }

  [[nodiscard]] StoreStats stats() const;
  // Zeroes the cumulative counters (not curr_items or bytes).
  void reset_stats();

 private:
  using Shard = detail::Shard;
  enum class Mode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

  StoreStatus store(Mode mode, std::string_view key, std::string_view value, uint32_t flags,
                    uint32_t deadline, uint64_t expected_cas, uint32_t now);
  StoreStatus arithmetic(std::string_view key, bool increment, uint64_t delta, uint32_t now,
                         uint64_t& result);

  [[nodiscard]] Shard& shard_for(uint64_t first_token_hash) const noexcept;
  [[nodiscard]] bool is_live(const Item& item, uint32_t now) const noexcept;
  // Finds `key` in a locked shard. A dead item met on the way is unlinked
  // (lazy expiry), handed to `dead` for release after unlocking, and the
  // returned slot then holds nullptr.
  Item** find_live(Shard& shard, std::string_view key, uint64_t hash, uint32_t now, Item*& dead);
  void account_unlinked(const Item& item) noexcept;
  void apply_pending_flush(uint32_t now) noexcept;
  void flush_now() noexcept;
  // Evicts until `bytes` more fit under the limit; false if they cannot.
  bool make_room(size_t bytes);
  uint64_t next_cas() noexcept { return next_cas_.fetch_add(1, std::memory_order_relaxed); }

  std::unique_ptr<Shard[]> shards_;
  unsigned shard_bits_;
  bool evictions_enabled_;
  size_t max_item_size_;
  std::atomic<size_t> memory_limit_;
  std::atomic<size_t> used_bytes_{0};
  std::atomic<uint64_t> next_cas_{1};
  // Items whose cas is below this were flushed.
  std::atomic<uint64_t> oldest_live_cas_{0};
  // Unix second of a delayed flush_all, 0 if none.
  std::atomic<uint32_t> pending_flush_at_{0};
  std::atomic<uint64_t> evict_cursor_{0};
};

}  // namespace treecached::storage
