#include "core/seam/effects.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

TEST(EffectsTest, WakeAtKeepsEarliest) {
  Effects e;
  Time t0 = SimEpoch();
  e.WakeAt(t0 + absl::Seconds(5));
  e.WakeAt(t0 + absl::Seconds(2));
  e.WakeAt(t0 + absl::Seconds(9));
  ASSERT_TRUE(e.wake_at.has_value());
  EXPECT_EQ(*e.wake_at, t0 + absl::Seconds(2));
}

TEST(EffectsTest, AppendKeepsOrderAndEarliestWake) {
  Effects a, b;
  a.messages.push_back({"n1", Channel::kDatagram, "first"});
  b.messages.push_back({"n2", Channel::kStream, "second"});
  StorageWrite w;
  w.id = 7;
  w.sync = true;
  w.Put("k", "v");
  b.writes.push_back(w);
  a.WakeAt(SimEpoch() + absl::Seconds(3));
  b.WakeAt(SimEpoch() + absl::Seconds(1));
  a.Append(std::move(b));
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_EQ(a.messages[0].payload, "first");
  EXPECT_EQ(a.messages[1].payload, "second");
  ASSERT_EQ(a.writes.size(), 1u);
  EXPECT_EQ(a.writes[0].ops[0].key, "k");
  EXPECT_EQ(*a.wake_at, SimEpoch() + absl::Seconds(1));
  EXPECT_TRUE(b.empty());
}

TEST(EffectsTest, EmptyAndClear) {
  Effects e;
  EXPECT_TRUE(e.empty());
  e.events.push_back({"member-join", "n1"});
  EXPECT_FALSE(e.empty());
  e.Clear();
  EXPECT_TRUE(e.empty());
}

}  // namespace
}  // namespace muster
