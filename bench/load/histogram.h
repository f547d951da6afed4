#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace treecached::bench {

// A latency histogram with log-linear buckets, in the manner of HdrHistogram.
//
// Values below 2 * kHalf (256) each have their own bucket. Above that, every
// power-of-two range [2^p, 2^(p+1)) is split into kHalf (128) equal buckets, so
// a bucket is at most 1/128 of its lower bound wide: a quantile is reported
// with a relative error below 0.8%. Any uint64_t value fits (7,424 buckets,
// 58 KiB). Recording is a few shifts and one increment; nothing allocates.
//
// Not thread-safe: each load thread keeps its own and merges them at the end.
class Histogram {
 public:
  static constexpr unsigned kSubBits = 8;
  static constexpr uint64_t kHalf = uint64_t{1} << (kSubBits - 1);
  static constexpr size_t kBuckets = (64 - kSubBits + 2) * kHalf;

  void record(uint64_t value) noexcept;
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  [[nodiscard]] uint64_t count() const noexcept { return count_; }
  [[nodiscard]] uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;

  // The smallest recorded-equivalent value v such that at least q * count()
  // values are <= v: the upper bound of the bucket holding the value of rank
  // ceil(q * count()), clamped to [min(), max()]. q is clamped to [0, 1];
  // 0 for an empty histogram.
  [[nodiscard]] uint64_t quantile(double q) const noexcept;

  // Bucket arithmetic, public for the tests.
  [[nodiscard]] static size_t bucket_of(uint64_t value) noexcept;
  [[nodiscard]] static uint64_t bucket_low(size_t index) noexcept;
  [[nodiscard]] static uint64_t bucket_high(size_t index) noexcept;

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace treecached::bench
