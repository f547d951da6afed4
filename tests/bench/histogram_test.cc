// Unit tests for bench/load/histogram.h: bucket arithmetic and quantiles
// against distributions whose quantiles are known in closed form.

#include "bench/load/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>

namespace treecached::bench {
namespace {

TEST(HistogramBuckets, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 2 * Histogram::kHalf; ++v) {
    const size_t b = Histogram::bucket_of(v);
    EXPECT_EQ(Histogram::bucket_low(b), v);
    EXPECT_EQ(Histogram::bucket_high(b), v);
  }
}

TEST(HistogramBuckets, BucketsTileTheRangeWithoutGaps) {
  EXPECT_EQ(Histogram::bucket_low(0), 0u);
  for (size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::bucket_high(i) + 1, Histogram::bucket_low(i + 1)) << "bucket " << i;
    ASSERT_LE(Histogram::bucket_low(i), Histogram::bucket_high(i));
  }
  EXPECT_EQ(Histogram::bucket_of(UINT64_MAX), Histogram::kBuckets - 1);
  EXPECT_EQ(Histogram::bucket_high(Histogram::kBuckets - 1), UINT64_MAX);
}

TEST(HistogramBuckets, ValueLiesInItsBucketAndWidthIsBelowOnePercent) {
  auto check = [](uint64_t v) {
    const size_t b = Histogram::bucket_of(v);
    ASSERT_LT(b, Histogram::kBuckets);
    const uint64_t low = Histogram::bucket_low(b);
    const uint64_t high = Histogram::bucket_high(b);
    ASSERT_LE(low, v);
    ASSERT_GE(high, v);
    // Width / lower bound <= 1/128: relative error of a reported quantile < 0.8%.
    ASSERT_LE(static_cast<double>(high - low) / static_cast<double>(std::max<uint64_t>(low, 1)),
              1.0 / 128);
  };
  for (uint64_t v = 0; v < (1u << 20); ++v) {
    check(v);
  }
  for (unsigned p = 20; p < 64; ++p) {
    const uint64_t base = uint64_t{1} << p;
    check(base - 1);
    check(base);
    check(base + 1);
    check(base + base / 3);
  }
  check(UINT64_MAX);
}

TEST(Histogram, EmptyHistogramReportsZeros) {
  const auto h = std::make_unique<Histogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->quantile(0.5), 0u);
  EXPECT_EQ(h->min(), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->mean(), 0.0);
}

TEST(Histogram, ExactQuantilesOfSmallIntegers) {
  // 1..100 once each: the value of rank ceil(q * 100).
  auto h = std::make_unique<Histogram>();
  for (uint64_t v = 1; v <= 100; ++v) {
    h->record(v);
  }
  EXPECT_EQ(h->count(), 100u);
  EXPECT_EQ(h->quantile(0.0), 1u);
  EXPECT_EQ(h->quantile(0.01), 1u);
  EXPECT_EQ(h->quantile(0.5), 50u);
  EXPECT_EQ(h->quantile(0.505), 51u);
  EXPECT_EQ(h->quantile(0.9), 90u);
  EXPECT_EQ(h->quantile(0.99), 99u);
  EXPECT_EQ(h->quantile(1.0), 100u);
  EXPECT_EQ(h->quantile(2.0), 100u);  // clamped
  EXPECT_DOUBLE_EQ(h->mean(), 50.5);
  EXPECT_EQ(h->min(), 1u);
  EXPECT_EQ(h->max(), 100u);
}

TEST(Histogram, UniformDistributionQuantilesWithinBucketPrecision) {
  // 1..1,000,000 once each: the q-quantile is q * 1e6.
  auto h = std::make_unique<Histogram>();
  constexpr uint64_t kN = 1'000'000;
  for (uint64_t v = 1; v <= kN; ++v) {
    h->record(v);
  }
  for (const double q : {0.1, 0.5, 0.9, 0.99, 0.999}) {
    const double expected = q * kN;
    const auto got = static_cast<double>(h->quantile(q));
    EXPECT_GE(got, expected) << q;  // the bucket's upper bound: never optimistic
    EXPECT_LE(got, expected * (1 + 1.0 / 128)) << q;
  }
  EXPECT_EQ(h->quantile(1.0), kN);
}

TEST(Histogram, ExponentialDistributionQuantiles) {
  // Values at evenly spaced probabilities of an exponential distribution with
  // mean 1 ms (in ns): the q-quantile is -ln(1 - q) * mean.
  auto h = std::make_unique<Histogram>();
  constexpr int kN = 200'000;
  constexpr double kMean = 1e6;
  for (int i = 0; i < kN; ++i) {
    const double p = (i + 0.5) / kN;
    h->record(static_cast<uint64_t>(-std::log(1 - p) * kMean));
  }
  for (const double q : {0.5, 0.9, 0.99, 0.999}) {
    const double expected = -std::log(1 - q) * kMean;
    EXPECT_NEAR(static_cast<double>(h->quantile(q)), expected, expected * 0.01) << q;
  }
  EXPECT_NEAR(h->mean(), kMean, kMean * 0.001);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  auto a = std::make_unique<Histogram>();
  auto b = std::make_unique<Histogram>();
  auto all = std::make_unique<Histogram>();
  for (uint64_t v = 0; v < 50'000; ++v) {
    const uint64_t value = v * v % 1'000'003;
    (v % 3 == 0 ? *a : *b).record(value);
    all->record(value);
  }
  a->merge(*b);
  EXPECT_EQ(a->count(), all->count());
  EXPECT_EQ(a->min(), all->min());
  EXPECT_EQ(a->max(), all->max());
  EXPECT_DOUBLE_EQ(a->mean(), all->mean());
  for (const double q : {0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(a->quantile(q), all->quantile(q)) << q;
  }
  a->reset();
  EXPECT_EQ(a->count(), 0u);
  EXPECT_EQ(a->quantile(0.5), 0u);
}

TEST(Histogram, QuantileIsClampedToRecordedRange) {
  auto h = std::make_unique<Histogram>();
  h->record(1'000'001);  // bucket upper bound is above the value
  EXPECT_EQ(h->quantile(0.5), 1'000'001u);
  h->record(UINT64_MAX);
  EXPECT_EQ(h->quantile(1.0), UINT64_MAX);
}

}  // namespace
}  // namespace treecached::bench
