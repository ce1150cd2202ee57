#include "core/gossip/suspicion.h"

#include "core/gossip/awareness.h"
#include "core/gossip/lamport.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

TEST(SuspicionTest, MinimumScalesWithLog10OfClusterSize) {
  const Duration s = absl::Seconds(1);
  EXPECT_EQ(SuspicionTimeoutMin(4, 1, s), absl::Seconds(4));
  EXPECT_EQ(SuspicionTimeoutMin(4, 10, s), absl::Seconds(4));
  EXPECT_EQ(SuspicionTimeoutMin(4, 100, s), absl::Seconds(8));
  EXPECT_EQ(SuspicionTimeoutMin(4, 1000, s), absl::Seconds(12));
  EXPECT_EQ(SuspicionTimeoutMin(5, 50, s), absl::Milliseconds(5 * 1698));  // log10(50) = 1.698
}

TEST(SuspicionTest, StartsAtMaxAndShrinksWithConfirmations) {
  const Duration min = absl::Seconds(4), max = absl::Seconds(24);
  const Time t0 = SimEpoch();
  Suspicion s("a", /*expected=*/3, min, max, t0);
  EXPECT_EQ(s.deadline(), t0 + max);
  EXPECT_TRUE(s.Confirm("b"));
  // max - log(2)/log(4) * 20 s = 24 - 10 = 14 s.
  EXPECT_EQ(s.deadline(), t0 + absl::Seconds(14));
  EXPECT_FALSE(s.Confirm("b")) << "a confirmer counts once";
  EXPECT_FALSE(s.Confirm("a")) << "the accuser is not its own confirmation";
  EXPECT_TRUE(s.Confirm("c"));
  Time after_two = s.deadline();
  EXPECT_LT(after_two, t0 + absl::Seconds(14));
  EXPECT_GT(after_two, t0 + min);
  EXPECT_TRUE(s.Confirm("d"));
  EXPECT_EQ(s.deadline(), t0 + min);
  EXPECT_FALSE(s.Confirm("e")) << "no confirmations beyond the expected count";
  EXPECT_EQ(s.confirmations(), 3);
}

TEST(SuspicionTest, NoExpectedConfirmationsMeansFixedMinimum) {
  Suspicion s("a", 0, absl::Seconds(4), absl::Seconds(24), SimEpoch());
  EXPECT_EQ(s.deadline(), SimEpoch() + absl::Seconds(4));
}

TEST(SuspicionTest, TimeoutIsMonotoneInConfirmations) {
  Duration prev = absl::InfiniteDuration();
  for (int c = 0; c <= 5; ++c) {
    Duration t = SuspicionTimeout(c, 5, absl::Seconds(5), absl::Seconds(30));
    EXPECT_LT(t, prev);
    EXPECT_GE(t, absl::Seconds(5));
    prev = t;
  }
}

TEST(AwarenessTest, ScoreIsBoundedAndScalesTimeouts) {
  Awareness a(8);
  EXPECT_EQ(a.ScaleTimeout(absl::Seconds(1)), absl::Seconds(1));
  a.ApplyDelta(3);
  EXPECT_EQ(a.ScaleTimeout(absl::Seconds(1)), absl::Seconds(4));
  a.ApplyDelta(100);
  EXPECT_EQ(a.score(), 7);
  EXPECT_EQ(a.ScaleTimeout(absl::Milliseconds(500)), absl::Seconds(4));
  a.ApplyDelta(-100);
  EXPECT_EQ(a.score(), 0);
  Awareness off(1);
  off.ApplyDelta(5);
  EXPECT_EQ(off.ScaleTimeout(absl::Seconds(1)), absl::Seconds(1));
}

TEST(LamportClockTest, WitnessOrdersLocalTimesAfterRemoteOnes) {
  LamportClock a, b;
  EXPECT_EQ(a.Time(), 0u);
  EXPECT_EQ(a.Increment(), 1u);
  EXPECT_EQ(a.Increment(), 2u);
  b.Witness(a.Time());
  EXPECT_GT(b.Time(), a.Time());
  uint64_t before = b.Time();
  b.Witness(0);  // older news never moves the clock back
  EXPECT_EQ(b.Time(), before);
  EXPECT_GT(b.Increment(), a.Time());
}

}  // namespace
}  // namespace muster::gossip
