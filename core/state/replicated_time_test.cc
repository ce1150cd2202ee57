// Replicated time (issue 10 item 8): the FSM's clock never runs back across leaders, and a new
// leader's stamps continue the last command's timeline instead of its own wall clock.
#include <optional>
#include <string>

#include "core/state/fsm.h"
#include "core/state/replicated_clock.h"
#include "core/state/test_util.h"
#include "gtest/gtest.h"

namespace muster::state {
namespace {

using testing::LiveNodeReq;
using testing::T;
namespace pbs = ::muster::proto::state;

// A lagging leader's renew must not pull a session's deadline back before what the cluster's
// time has already reached: the session would be expired "in the past" at once.
TEST(ReplicatedTimeTest, AnEarlierStampNeverMovesTheFsmClockBack) {
  Fsm fsm;
  ASSERT_TRUE(fsm.Apply(1, commands::Register(T(0), LiveNodeReq("n1"))).status.ok());
  Session s;
  s.id = "s1";
  s.node = "n1";
  s.ttl = absl::Seconds(10);
  ASSERT_TRUE(fsm.Apply(2, commands::SessionCreate(T(100), s, false)).status.ok());
  KVEntry e;
  e.key = "k";
  ASSERT_TRUE(fsm.Apply(3, commands::KV(T(200), pbs::KVRequest::SET, e)).status.ok());  // time is now 200
  // The next leader's clock lags: it stamps 150.
  ASSERT_TRUE(fsm.Apply(4, commands::SessionOp(T(150), pbs::SessionRequest::RENEW, "s1")).status.ok());
  EXPECT_EQ(fsm.store().last_time(), T(200));
  EXPECT_EQ(fsm.store().last_stamp(), T(150));
  // Renewed at replicated time 200 (not 150): TTL x 2 from there.
  EXPECT_TRUE(fsm.store().SessionsExpiredAt(T(205)).empty());
  EXPECT_EQ(fsm.store().NextSessionExpiry(), T(220));
}

TEST(ReplicatedTimeTest, SnapshotsKeepTheClock) {
  Fsm a;
  ASSERT_TRUE(a.Apply(1, commands::Register(T(300), LiveNodeReq("n1"))).status.ok());
  ASSERT_TRUE(a.Apply(2, commands::Register(T(250), LiveNodeReq("n2"))).status.ok());
  Fsm b;
  ASSERT_TRUE(b.Restore(a.Snapshot()).ok());
  EXPECT_EQ(b.store().last_time(), T(300));
  EXPECT_EQ(b.store().last_stamp(), T(250));
}

TEST(ReplicatedClockTest, TheFirstStampOfAClusterIsTheWallClock) {
  ReplicatedClock c;
  EXPECT_EQ(c.Stamp(T(42), 1), T(42));
  EXPECT_EQ(c.Stamp(T(43), 1), T(43));
}

TEST(ReplicatedClockTest, ANewLeaderContinuesTheLastCommandsTimelineNotItsWallClock) {
  ReplicatedClock follower;
  // The old leader stamped 100; this server (clock 10 s ahead) applied it at its local 110.5.
  follower.Observe(T(100), T(110) + absl::Milliseconds(500));
  // It wins the next term at local 112.5: 2 s after applying, so stamp 102, not 112.5.
  EXPECT_EQ(follower.Stamp(T(112) + absl::Milliseconds(500), 2), T(102));
  EXPECT_EQ(follower.Stamp(T(113) + absl::Milliseconds(500), 2), T(103));
}

TEST(ReplicatedClockTest, WithinATermStampsFollowTheLocalClockAndNeverGoBack) {
  ReplicatedClock c;
  c.Observe(T(100), T(100));
  EXPECT_EQ(c.Stamp(T(101), 3), T(101));
  // Its own entries come back applied later than proposed: they do not pull the timeline back.
  c.Observe(T(101), T(102));
  EXPECT_EQ(c.Stamp(T(103), 3), T(103));
  // The local clock steps back 5 s (NTP): the stamps stand still, then move on.
  EXPECT_EQ(c.Stamp(T(98), 3), T(103));
  EXPECT_EQ(c.Stamp(T(99), 3), T(104));
  EXPECT_EQ(c.Now(T(100), 3), T(105));
}

// Two servers learn the same stamp at different moments; each anchors on its own moment, so
// neither's next term can start ahead of the leader that made the stamp.
TEST(ReplicatedClockTest, EachServerAnchorsOnWhenItLearnedTheLastStamp) {
  ReplicatedClock early, late;
  early.Observe(T(100), T(100) + absl::Milliseconds(1));
  late.Observe(T(100), T(100) + absl::Milliseconds(9));
  EXPECT_EQ(early.Now(T(110), 5), T(110) - absl::Milliseconds(1));
  EXPECT_EQ(late.Now(T(110), 5), T(110) - absl::Milliseconds(9));
  // A new term re-anchors on the last applied command, whatever the old timeline said.
  late.Stamp(T(110), 5);
  late.Observe(T(200), T(111));
  EXPECT_EQ(late.Stamp(T(112), 6), T(201));
}

}  // namespace
}  // namespace muster::state
