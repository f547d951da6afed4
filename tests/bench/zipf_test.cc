// Unit tests for bench/load/zipf.h: sample frequencies against the analytic
// Zipf pmf P(k) = (k+1)^-s / sum_{i=1..n} i^-s for small n.

#include "bench/load/zipf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace treecached::bench {
namespace {

std::vector<double> analytic_pmf(uint64_t n, double skew) {
  std::vector<double> pmf(n);
  double sum = 0;
  for (uint64_t k = 0; k < n; ++k) {
    pmf[k] = std::pow(static_cast<double>(k + 1), -skew);
    sum += pmf[k];
  }
  for (auto& p : pmf) {
    p /= sum;
  }
  return pmf;
}

// Draws `samples` ranks and checks each frequency within 5 standard errors of
// the pmf, and Pearson's chi-square below the 0.999 critical value.
void check_frequencies(uint64_t n, double skew, uint64_t seed, double chi2_limit) {
  const ZipfTable zipf(n, skew);
  const std::vector<double> pmf = analytic_pmf(n, skew);
  Rng rng(seed);
  constexpr int kSamples = 1'000'000;
  std::vector<int> counts(n);
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t rank = zipf.sample(rng);
    ASSERT_LT(rank, n);
    ++counts[rank];
  }
  double chi2 = 0;
  for (uint64_t k = 0; k < n; ++k) {
    EXPECT_NEAR(zipf.pmf(k), pmf[k], 1e-12) << "rank " << k;
    const double expected = pmf[k] * kSamples;
    const double sigma = std::sqrt(kSamples * pmf[k] * (1 - pmf[k]));
    EXPECT_NEAR(counts[k], expected, 5 * sigma) << "rank " << k;
    chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
  }
  EXPECT_LT(chi2, chi2_limit);
}

TEST(Zipf, TenKeysSkew099MatchesPmf) {
  check_frequencies(10, 0.99, 1, 27.88);  // chi-square, 9 degrees of freedom, p = 0.999
}

TEST(Zipf, TenKeysOtherSeedMatchesPmf) { check_frequencies(10, 0.99, 12345, 27.88); }

TEST(Zipf, HundredKeysSkew12MatchesPmf) {
  check_frequencies(100, 1.2, 7, 148.2);  // 99 degrees of freedom, p = 0.999
}

TEST(Zipf, SkewZeroIsUniform) {
  check_frequencies(5, 0.0, 3, 18.47);  // 4 degrees of freedom, p = 0.999
  const ZipfTable zipf(5, 0.0);
  for (uint64_t k = 0; k < 5; ++k) {
    EXPECT_NEAR(zipf.pmf(k), 0.2, 1e-15);
  }
}

TEST(Zipf, FirstRankIsMostPopularAndPmfSumsToOne) {
  const ZipfTable zipf(1000, 0.99);
  double sum = 0;
  for (uint64_t k = 0; k < zipf.size(); ++k) {
    sum += zipf.pmf(k);
    if (k > 0) {
      EXPECT_LT(zipf.pmf(k), zipf.pmf(k - 1));
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
  EXPECT_EQ(zipf.pmf(1000), 0.0);
}

TEST(Zipf, SingleKeyAlwaysSamplesZero) {
  const ZipfTable zipf(1, 0.99);
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(zipf.sample(rng), 0u);
  }
}

TEST(Zipf, RejectsEmptyKeySpaceAndNegativeSkew) {
  EXPECT_THROW(ZipfTable(0, 1.0), std::invalid_argument);
  EXPECT_THROW(ZipfTable(10, -0.5), std::invalid_argument);
}

TEST(Rng, UniformAndBelowStayInRange) {
  Rng rng(42);
  double sum = 0;
  constexpr int kN = 100'000;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ASSERT_LT(rng.below(7), 7u);
  }
  EXPECT_NEAR(sum / kN, 0.5, 0.01);
}

TEST(Rng, SameSeedSameSequence) {
  Rng a(9);
  Rng b(9);
  Rng c(10);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    differs = differs || x != c.next();
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace treecached::bench
