#include "core/base/check.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(CheckDeathTest, FailingCheckAbortsWithItsCondition) {
  EXPECT_DEATH(MUSTER_CHECK(1 + 1 == 3, "arithmetic ", 42), "CHECK failed: 1 \\+ 1 == 3 arithmetic 42");
}

TEST(CheckDeathTest, ComparisonShowsBothValues) {
  int term = 5, prev = 7;
  EXPECT_DEATH(MUSTER_CHECK_LE(prev, term, "term went backwards"), "\\(7 vs 5\\) term went backwards");
}

TEST(CheckTest, PassingCheckDoesNothing) {
  MUSTER_CHECK(true);
  MUSTER_CHECK_EQ(1, 1, "equal");
  SUCCEED();
}

}  // namespace
}  // namespace muster
