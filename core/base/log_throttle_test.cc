#include "core/base/log_throttle.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(LogThrottleTest, OneLineAnIntervalThenTheCountHeldBack) {
  const Time t0 = absl::FromUnixSeconds(100);
  LogThrottle throttle(absl::Seconds(1));
  std::string note = "x";
  EXPECT_TRUE(throttle.Allow(t0, &note));
  EXPECT_EQ(note, "");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(throttle.Allow(t0 + absl::Milliseconds(100 * i), &note));
  EXPECT_TRUE(throttle.Allow(t0 + absl::Seconds(1), &note));
  EXPECT_EQ(note, " (5 more since the last such line)");
  EXPECT_TRUE(throttle.Allow(t0 + absl::Seconds(3), &note));
  EXPECT_EQ(note, "");
}

}  // namespace
}  // namespace muster
