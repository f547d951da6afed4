#include "bench/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace treecached::bench {

size_t Histogram::bucket_of(uint64_t value) noexcept {
  if (value < 2 * kHalf) {
    return static_cast<size_t>(value);
  }
  // Highest set bit p >= kSubBits; keep the top kSubBits bits of the value.
  const unsigned p = 63 - static_cast<unsigned>(std::countl_zero(value));
  const unsigned shift = p - kSubBits + 1;
  return static_cast<size_t>(shift * kHalf + (value >> shift));
}

uint64_t Histogram::bucket_low(size_t index) noexcept {
  if (index < 2 * kHalf) {
    return index;
  }
  const uint64_t shift = index / kHalf - 1;
  const uint64_t sub = index - shift * kHalf;  // in [kHalf, 2 * kHalf)
  return sub << shift;
}

uint64_t Histogram::bucket_high(size_t index) noexcept {
  if (index < 2 * kHalf) {
    return index;
  }
  const uint64_t shift = index / kHalf - 1;
  const uint64_t sub = index - shift * kHalf;
  // For the very last bucket (sub + 1) << shift wraps to 0; minus one gives UINT64_MAX.
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(uint64_t value) noexcept {
  ++counts_[bucket_of(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void Histogram::merge(const Histogram& other) noexcept {
  for (size_t i = 0; i < kBuckets; ++i) {
    counts_[i] += other.counts_[i];
  }
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() noexcept { *this = Histogram(); }

double Histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t Histogram::quantile(double q) const noexcept {
  if (count_ == 0) {
    return 0;
  }
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the wanted value, 1-based: ceil(q * count), at least 1.
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::clamp(bucket_high(i), min(), max_);
    }
  }
  return max_;
}

}  // namespace treecached::bench
