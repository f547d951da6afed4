#pragma once

#include <cstdint>
#include <vector>

namespace treecached::bench {

// A small, fast pseudo-random generator (xoshiro256**, seeded by splitmix64).
// Each load connection owns one; nothing is shared between threads.
class Rng {
 public:
  explicit Rng(uint64_t seed) noexcept;
  [[nodiscard]] uint64_t next() noexcept;
  // Uniform in [0, 1), 53 random bits.
  [[nodiscard]] double uniform() noexcept;
  // Uniform in [0, n) for 0 < n <= 2^53.
  [[nodiscard]] uint64_t below(uint64_t n) noexcept;

 private:
  uint64_t s_[4];
};

// Zipf(skew) over ranks 0..n-1: P(rank = k) = (1 / (k+1)^skew) / H(n, skew), where
// H(n, skew) = sum_{i=1..n} 1 / i^skew. Rank 0 is the most popular key.
//
// Method: an exact inverse-CDF table. The constructor computes the cumulative
// probabilities once (n doubles, 8 MB for a million keys, O(n) time); a sample
// is one uniform draw and a binary search (O(log n)). Unlike the Gray et al.
// rejection-free approximation (YCSB's ZipfianGenerator), the frequencies are
// exactly the pmf above for every n and skew >= 0, which the tests check. The
// table is read-only after construction, so one instance serves all threads.
class ZipfTable {
 public:
  ZipfTable(uint64_t n, double skew);

  [[nodiscard]] uint64_t sample(Rng& rng) const noexcept;
  [[nodiscard]] uint64_t size() const noexcept { return cdf_.size(); }
  // The analytic probability of `rank`, for tests and reports.
  [[nodiscard]] double pmf(uint64_t rank) const noexcept;

 private:
  std::vector<double> cdf_;  // cdf_[k] = P(rank <= k); cdf_.back() == 1.0
};

}  // namespace treecached::bench
