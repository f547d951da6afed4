#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "storage/mutex.h"

namespace treecached::server {

// Per-worker command counters with memcached's `stats` names.
enum class Counter : uint8_t {
  kCmdGet,
  kCmdSet,
  kCmdFlush,
  kCmdTouch,
  kGetHits,
  kGetMisses,
  kDeleteMisses,
  kDeleteHits,
  kIncrMisses,
  kIncrHits,
  kDecrMisses,
  kDecrHits,
  kCasMisses,
  kCasHits,
  kCasBadval,
  kTouchHits,
  kTouchMisses,
  kStoreTooLarge,
  kStoreNoMemory,
  kBytesRead,
  kBytesWritten,
  kCount,
};

inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::kCount);

using CounterValues = std::array<uint64_t, kCounterCount>;

// Written only by the owning worker thread (no read-modify-write atomics on
// the hot path); read by any thread serving `stats`.
class WorkerCounters {
 public:
  void add(Counter c, uint64_t n = 1) noexcept {
    auto& slot = values_[static_cast<size_t>(c)];
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t get(Counter c) const noexcept {
    return values_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kCounterCount> values_{};
};

// Connection figures shared by the acceptor and all workers.
struct ConnectionStats {
  std::atomic<uint64_t> current{0};
  std::atomic<uint64_t> total{0};
  std::atomic<uint64_t> rejected{0};
};

// `stats reset` cannot zero counters owned by other threads, so it records a
// baseline that later reports subtract.
class CounterBaseline {
 public:
  void set(const CounterValues& values) {
    storage::MutexLock lock(mu_);
    baseline_ = values;
  }
  [[nodiscard]] CounterValues subtract_from(CounterValues values) const {
    storage::MutexLock lock(mu_);
    for (size_t i = 0; i < kCounterCount; ++i) {
      values[i] -= baseline_[i];
    }
    return values;
  }

 private:
  mutable storage::Mutex mu_;
  CounterValues baseline_ GUARDED_BY(mu_){};
};

}  // namespace treecached::server
