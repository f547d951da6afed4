#include "bench/load/zipf.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace treecached::bench {

namespace {

uint64_t splitmix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

}  // namespace

Rng::Rng(uint64_t seed) noexcept {
  for (auto& s : s_) {
    s = splitmix64(seed);
  }
}

uint64_t Rng::next() noexcept {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t Rng::below(uint64_t n) noexcept {
  const auto k = static_cast<uint64_t>(uniform() * static_cast<double>(n));
  return k < n ? k : n - 1;
}

ZipfTable::ZipfTable(uint64_t n, double skew) {
  if (n == 0) {
    throw std::invalid_argument("zipf: need at least one key");
  }
  if (!(skew >= 0.0)) {
    throw std::invalid_argument("zipf: skew must be >= 0");
  }
  cdf_.resize(n);
  // Kahan summation keeps the running sum exact enough for millions of terms.
  double sum = 0.0;
  double carry = 0.0;
  for (uint64_t k = 0; k < n; ++k) {
    const double term = 1.0 / std::pow(static_cast<double>(k + 1), skew) - carry;
    const double next = sum + term;
    carry = (next - sum) - term;
    sum = next;
    cdf_[k] = sum;
  }
  for (auto& c : cdf_) {
    c /= sum;
  }
  cdf_.back() = 1.0;
}

uint64_t ZipfTable::sample(Rng& rng) const noexcept {
  const double u = rng.uniform();  // [0, 1)
  // First rank whose cumulative probability exceeds u.
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  const auto rank = static_cast<uint64_t>(it - cdf_.begin());
  return std::min<uint64_t>(rank, cdf_.size() - 1);
}

double ZipfTable::pmf(uint64_t rank) const noexcept {
  if (rank >= cdf_.size()) {
    return 0.0;
  }
  return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
}

}  // namespace treecached::bench
