// The lock-safety checker: handovers through release and through invalidation after the
// lock-delay pass; two holders, an acquire within the lock-delay, a read naming the wrong
// holder and a dead session's acquire fail.
#include "sim/checkers/lock_checker.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace muster::sim::checkers {
namespace {

Time T(int64_t ms) { return SimEpoch() + absl::Milliseconds(ms); }

void Acquire(LockHistory& h, const std::string& session, int64_t call, int64_t ret,
             bool ok = true) {
  h.CompleteAcquire(h.InvokeAcquire(1, "lock", session, T(call)), T(ret), ok);
}
void Release(LockHistory& h, const std::string& session, int64_t call, int64_t ret) {
  h.CompleteRelease(h.InvokeRelease(1, "lock", session, T(call)), T(ret), true);
}
void Read(LockHistory& h, std::optional<std::string> holder, int64_t call, int64_t ret) {
  h.CompleteRead(h.InvokeRead(2, "lock", T(call)), T(ret), holder);
}

TEST(LockCheckerTest, HandoversPass) {
  LockHistory h;
  Acquire(h, "s1", 0, 10);
  Acquire(h, "s2", 5, 15, false);  // refused while s1 holds
  Read(h, "s1", 20, 21);
  Release(h, "s1", 30, 31);
  Acquire(h, "s2", 25, 40);  // overlaps the release: took effect after it
  Read(h, "s2", 50, 51);
  // s2 dies; s3 waits out the 15 s lock-delay.
  h.SessionInvalidated("s2", T(100), absl::Seconds(15));
  Read(h, std::nullopt, 200, 201);
  Acquire(h, "s3", 15'200, 15'210);
  Read(h, "s3", 15'300, 15'301);
  const CheckResult result = CheckLockSafety(h);
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(LockCheckerTest, TwoHoldersFail) {
  LockHistory h;
  Acquire(h, "s1", 0, 10);
  Acquire(h, "s2", 20, 30);  // s1 never released
  const CheckResult result = CheckLockSafety(h);
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("two holders: s1 surely held it"), std::string::npos)
      << result.Report();
}

TEST(LockCheckerTest, AcquireWithinLockDelayFails) {
  LockHistory h;
  Acquire(h, "s1", 0, 10);
  h.SessionInvalidated("s1", T(100), absl::Seconds(15));
  Acquire(h, "s2", 5'000, 5'010);
  const CheckResult result = CheckLockSafety(h);
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("within the lock-delay of s1"), std::string::npos)
      << result.Report();
  // Allowing for 10 s of skew and leader change, it passes.
  LockCheckOptions slack;
  slack.lock_delay_slack = absl::Seconds(11);
  EXPECT_TRUE(CheckLockSafety(h, slack).ok());
}

TEST(LockCheckerTest, ReleaseDoesNotStartLockDelay) {
  LockHistory h;
  Acquire(h, "s1", 0, 10);
  Release(h, "s1", 20, 21);
  h.SessionInvalidated("s1", T(100), absl::Seconds(15));
  Acquire(h, "s2", 200, 210);
  EXPECT_TRUE(CheckLockSafety(h).ok());
}

TEST(LockCheckerTest, ReadsSeeTheHolder) {
  LockHistory wrong;
  Acquire(wrong, "s1", 0, 10);
  Read(wrong, "s2", 20, 21);
  Read(wrong, std::nullopt, 30, 31);  // the lock vanished
  EXPECT_EQ(CheckLockSafety(wrong).violation_count, 2);

  LockHistory dead;
  Acquire(dead, "s1", 0, 10);
  dead.SessionInvalidated("s1", T(100), absl::ZeroDuration());
  Read(dead, "s1", 200, 201);
  const CheckResult result = CheckLockSafety(dead);
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("names a session invalidated"), std::string::npos);
}

TEST(LockCheckerTest, DeadSessionAcquireFails) {
  LockHistory h;
  h.SessionInvalidated("s1", T(0), absl::ZeroDuration());
  Acquire(h, "s1", 10, 20);
  EXPECT_EQ(CheckLockSafety(h).violation_count, 1);
}

TEST(LockCheckerTest, UnansweredOpsHoldAndEndNothingSurely) {
  LockHistory h;
  h.Unknown(h.InvokeAcquire(1, "lock", "s1", T(0)));
  Acquire(h, "s2", 10, 20);                 // s1's acquire may never have happened
  h.InvokeRelease(1, "lock", "s2", T(30));  // pending: s2 may have let go at 30
  Acquire(h, "s3", 40, 50);
  const CheckResult result = CheckLockSafety(h);
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(LockCheckerTest, AcquireAnsweredAfterItsSessionDiedMayHaveLetGo) {
  // s2 acquired at ~1 ms, died at 2 ms (lock-delay 0), s1 acquired at 3 ms; s2's answer was
  // delayed until 10 ms. No two holders at once.
  LockHistory h;
  h.CompleteAcquire(h.InvokeAcquire(2, "lock", "s2", T(0)), T(10), true);
  h.SessionInvalidated("s2", T(2), absl::ZeroDuration());
  Acquire(h, "s1", 3, 4);
  const CheckResult result = CheckLockSafety(h);
  EXPECT_TRUE(result.ok()) << result.Report();
}

}  // namespace
}  // namespace muster::sim::checkers
