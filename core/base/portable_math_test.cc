// PortableLog and friends: close to libm, and pinned to known bit patterns, because the point of
// them is that every machine computes the same bits (core/base/portable_math.h).
#include "core/base/portable_math.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/base/rng.h"
#include "gtest/gtest.h"

namespace muster {
namespace {

int64_t UlpDistance(double a, double b) {
  int64_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  // Both have the same sign in every case checked here (log changes sign only at 1).
  return ia > ib ? ia - ib : ib - ia;
}

TEST(PortableLogTest, WithinTwoUlpOfLibmEverywhere) {
  Rng rng(11);
  int64_t worst = 0;
  for (int i = 0; i < 200000; ++i) {
    // Uniform over the bit patterns of positive finite doubles: every binade is exercised.
    uint64_t bits = rng.Uniform(0x7fefffffffffffffULL) + 1;
    double x;
    std::memcpy(&x, &bits, sizeof x);
    worst = std::max(worst, UlpDistance(PortableLog(x), std::log(x)));
  }
  for (int i = 0; i < 200000; ++i) {  // and densely around 1, where log is small
    double x = 0.5 + rng.UniformDouble();
    if (x == 1.0) continue;
    worst = std::max(worst, UlpDistance(PortableLog(x), std::log(x)));
  }
  EXPECT_LE(worst, 2);
}

TEST(PortableLogTest, ExactWhereTheMathIsExact) {
  EXPECT_EQ(PortableLog(1.0), 0.0);
  EXPECT_EQ(PortableLog(2.0), 0x1.62e42fefa39efp-1);  // ln 2 rounded to nearest
  EXPECT_EQ(PortableLog(0.5), -0x1.62e42fefa39efp-1);
  for (int e = 0; e <= 22; ++e) EXPECT_EQ(PortableLog10(std::pow(10.0, e)), e) << e;
}

// The bits themselves, so a change to the algorithm (which would change every simulator seed's
// meaning, and the cross-machine promise) is a deliberate test update. Values from this code;
// the two marked ones differ from glibc's log by one ulp, which is what libm's freedom means.
TEST(PortableLogTest, KnownValuesArePinned) {
  EXPECT_EQ(PortableLog(3.0), 0x1.193ea7aad030ap+0);        // glibc: ...030b
  EXPECT_EQ(PortableLog(10.0), 0x1.26bb1bbb55515p+1);       // glibc: ...5516
  EXPECT_EQ(PortableLog(0.1), -0x1.26bb1bbb55515p+1);
  EXPECT_EQ(PortableLog(1e-300), -0x1.5963447f87fb5p+9);
  EXPECT_EQ(PortableLog(std::numeric_limits<double>::max()), 0x1.62e42fefa39efp+9);
  EXPECT_EQ(PortableLog(std::numeric_limits<double>::denorm_min()), -0x1.74385446d71c3p+9);
  EXPECT_EQ(PortableLog(123456.789), 0x1.77281cad8a844p+3);
}

TEST(RngExponentialTest, DrawsArePinned) {
  Rng r(2015);
  EXPECT_EQ(r.Exponential(1.0), 0x1.f95a60e3e6e8dp+0);
  EXPECT_EQ(r.Exponential(1.0), 0x1.b8dcd8c2cec1cp-1);
  EXPECT_EQ(r.Exponential(1.0), 0x1.d4b5e14213702p+0);
  EXPECT_EQ(r.Exponential(1.0), 0x1.e5c97f4f5ad8fp-3);
  EXPECT_EQ(r.Exponential(1.0), 0x1.3c84f449d775ap-1);
}

TEST(IntegerLogTest, DecimalDigitsIsCeilLog10OfNPlusOne) {
  for (uint64_t n = 0; n < 200000; ++n) {
    ASSERT_EQ(DecimalDigits(n), static_cast<int>(std::ceil(std::log10(n + 1.0)))) << n;
  }
  EXPECT_EQ(DecimalDigits(UINT64_MAX), 20);
}

TEST(IntegerLogTest, CeilLog2MatchesFloatingPoint) {
  for (uint64_t n = 1; n < 200000; ++n) {
    ASSERT_EQ(CeilLog2(n), static_cast<int>(std::ceil(std::log2(static_cast<double>(n))))) << n;
  }
  EXPECT_EQ(CeilLog2(uint64_t{1} << 63), 63);
  EXPECT_EQ(CeilLog2((uint64_t{1} << 63) + 1), 64);
}

}  // namespace
}  // namespace muster
