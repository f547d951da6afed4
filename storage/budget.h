#pragma once

#include <atomic>
#include <cstddef>

namespace treecached::storage {

// The memory limit (-m) as a hard budget. Memory is reserved before it is
// allocated and given back when it is freed, so the sum of what is reserved
// never exceeds the limit, whatever the number of concurrent writers.
//
// What counts: every item block (live in a shard, or held only by a reader's
// ItemRef after it was removed), every tree node and every bucket array grown
// beyond a shard's initial one. Lock-free; any thread.
class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit) noexcept : limit_(limit) {}

  // Takes `bytes` if they fit under the limit; false (nothing taken) if not.
  [[nodiscard]] bool try_reserve(size_t bytes) noexcept {
    size_t used = used_.load(std::memory_order_relaxed);
    do {
      const size_t limit = limit_.load(std::memory_order_relaxed);
      if (used > limit || bytes > limit - used) {
        return false;
      }
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }
  void release(size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  [[nodiscard]] size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

  // What of the used memory the shards hold (items in their tables, tree
  // nodes): memcached's `stats bytes`. One figure for the whole store, so
  // that a reader sees a total that was true at one moment, never above the
  // limit, rather than a sum of shards read at different times.
  void add_stored(size_t bytes) noexcept { stored_.fetch_add(bytes, std::memory_order_relaxed); }
  void remove_stored(size_t bytes) noexcept { stored_.fetch_sub(bytes, std::memory_order_relaxed); }
  [[nodiscard]] size_t stored() const noexcept { return stored_.load(std::memory_order_relaxed); }
  [[nodiscard]] size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  // A lower limit does not free anything by itself: Store::set_memory_limit
  // evicts down to it.
  void set_limit(size_t bytes) noexcept { limit_.store(bytes, std::memory_order_relaxed); }

 private:
  // Relaxed: the budget orders nothing else. Each reservation is one atomic
  // read-modify-write, so concurrent ones cannot both take the last bytes.
  std::atomic<size_t> used_{0};
  std::atomic<size_t> stored_{0};
  std::atomic<size_t> limit_;
};

// Bytes reserved for one operation and not yet turned into allocations.
// What is left is given back when it goes out of scope.
class Reservation {
 public:
  explicit Reservation(MemoryBudget& budget) noexcept : budget_(budget) {}
  ~Reservation() {
    if (held_ != 0) {
      budget_.release(held_);
    }
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  // Makes sure at least `bytes` are held, reserving the difference without
  // evicting. False if they do not fit (what was held stays held).
  [[nodiscard]] bool top_up(size_t bytes) noexcept {
    if (held_ >= bytes) {
      return true;
    }
    if (!budget_.try_reserve(bytes - held_)) {
      return false;
    }
    held_ = bytes;
    return true;
  }
  // `bytes` of what is held now belong to an allocation.
  void use(size_t bytes) noexcept { held_ -= bytes; }
  // Takes over the charge of `bytes` just freed (still counted in the
  // budget), so they pay for the next allocation without another thread
  // taking them in between.
  void adopt(size_t bytes) noexcept { held_ += bytes; }
  [[nodiscard]] size_t held() const noexcept { return held_; }

 private:
  MemoryBudget& budget_;
  size_t held_ = 0;
};

}  // namespace treecached::storage
