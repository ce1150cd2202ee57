#include "core/base/rng.h"

#include <cmath>
#include <vector>

#include "core/base/hash.h"
#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(RngTest, SameSeedSameStream) {
  Rng a(42), b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.Next(), b.Next());
}

TEST(RngTest, DifferentSeedsDiffer) {
  Rng a(1), b(2);
  int equal = 0;
  for (int i = 0; i < 1000; ++i) equal += a.Next() == b.Next();
  EXPECT_EQ(equal, 0);
}

// Pins the stream so a change to the generator (which would silently change every
// simulator seed's meaning) is a visible, deliberate test update.
TEST(RngTest, StreamIsPinned) {
  Rng r(7);
  uint64_t h = 0;
  for (int i = 0; i < 100; ++i) h = HashCombine(h, r.Next());
  Rng again(7);
  uint64_t h2 = 0;
  for (int i = 0; i < 100; ++i) h2 = HashCombine(h2, again.Next());
  EXPECT_EQ(h, h2);
  uint64_t sm = 0;
  EXPECT_EQ(SplitMix64(sm), 0xe220a8397b1dcdafULL);  // splitmix64's published first output for seed 0
}

TEST(RngTest, UniformIsInRangeAndRoughlyFlat) {
  Rng r(3);
  std::vector<int> buckets(10, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    uint64_t x = r.Uniform(10);
    ASSERT_LT(x, 10u);
    buckets[x]++;
  }
  for (int count : buckets) EXPECT_NEAR(count, n / 10, n / 100);  // within 10% of expected
}

TEST(RngTest, UniformInRangeIncludesBounds) {
  Rng r(5);
  bool saw_lo = false, saw_hi = false;
  for (int i = 0; i < 10000; ++i) {
    int64_t x = r.UniformInRange(-2, 2);
    ASSERT_GE(x, -2);
    ASSERT_LE(x, 2);
    saw_lo |= x == -2;
    saw_hi |= x == 2;
  }
  EXPECT_TRUE(saw_lo);
  EXPECT_TRUE(saw_hi);
}

TEST(RngTest, BernoulliMatchesProbability) {
  Rng r(11);
  int hits = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) hits += r.Bernoulli(0.1);
  EXPECT_NEAR(hits / static_cast<double>(n), 0.1, 0.005);
  EXPECT_FALSE(r.Bernoulli(0));
  EXPECT_TRUE(r.Bernoulli(1));
}

TEST(RngTest, ExponentialHasItsMean) {
  Rng r(13);
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double x = r.Exponential(5.0);
    ASSERT_GE(x, 0);
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
  }
  EXPECT_NEAR(sum / n, 5.0, 0.1);
}

TEST(RngTest, UniformDurationBounds) {
  Rng r(17);
  for (int i = 0; i < 10000; ++i) {
    Duration d = r.UniformDuration(absl::Milliseconds(150), absl::Milliseconds(300));
    ASSERT_GE(d, absl::Milliseconds(150));
    ASSERT_LE(d, absl::Milliseconds(300));
  }
}

TEST(RngTest, ForkIsIndependentAndDeterministic) {
  Rng a(99), b(99);
  Rng fa = a.Fork(), fb = b.Fork();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(fa.Next(), fb.Next());
  EXPECT_NE(a.Next(), fa.Next());
}

TEST(StableHashTest, StableAndSensitive) {
  EXPECT_EQ(StableHash("muster"), StableHash("muster"));
  EXPECT_NE(StableHash("muster"), StableHash("mustes"));
  EXPECT_NE(HashCombine(1, 2), HashCombine(2, 1));
}

}  // namespace
}  // namespace muster
