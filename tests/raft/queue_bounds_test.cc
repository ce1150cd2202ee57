// Every queue raft keeps has a named bound (issue 9): reads waiting for a quorum, and log
// writes waiting for the disk. Past a bound the request is refused as UNAVAILABLE, which the
// client retries, instead of the queue growing without end.
#include "core/raft/raft.h"
#include "tests/raft/test_cluster.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

NodeId N(uint64_t v) { return NodeId{v}; }

TEST(QueueBounds, ReadsWaitingForAQuorumAreBounded) {
  RaftOptions o;
  o.check_quorum = false;  // so the leader keeps leading with both followers gone
  TestCluster c(o, nullptr);
  c.AddNodes(3, true);
  c.Run(N(1), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(1)), out); });
  ASSERT_TRUE(c.Stabilize());
  ASSERT_EQ(c.raft(N(1)).role(), Role::kLeader);
  c.Crash(N(2));
  c.Crash(N(3));
  size_t accepted = 0, refused = 0;
  for (size_t i = 0; i < kPendingReadsMax + 100; ++i) {
    absl::Status s;
    c.Run(N(1), [&](Raft& r, Ready* out) { s = r.ReadIndex(c.now(N(1)), i, out); });
    if (s.ok()) ++accepted;
    if (absl::IsUnavailable(s)) ++refused;
  }
  EXPECT_EQ(accepted, kPendingReadsMax);
  EXPECT_EQ(refused, 100u);
}

TEST(QueueBounds, LogWritesWaitingForTheDiskAreBounded) {
  // A single server whose disk never finishes a sync.
  Time now = SimEpoch();
  Ready ready;
  std::unique_ptr<Raft> leader = SingleServerLeader(now, &ready);
  Raft& r = *leader;
  size_t accepted = 0;
  absl::Status last;
  uint64_t last_write_id = 0;
  for (size_t i = 0; i < kLogWritesInFlightMax + 100; ++i) {
    now += absl::Microseconds(10);
    Ready out;
    absl::StatusOr<uint64_t> idx = r.Propose(now, "k=v", &out);
    if (idx.ok()) ++accepted;
    last = idx.status();
    for (const StorageWrite& w : out.effects.writes) last_write_id = w.id;
  }
  EXPECT_LE(accepted, kLogWritesInFlightMax);
  EXPECT_GE(accepted, kLogWritesInFlightMax - 4);  // bootstrap, vote and no-op writes count too
  EXPECT_TRUE(absl::IsUnavailable(last)) << last;
  // Once the disk catches up, proposals are taken again.
  Ready durable;
  r.WriteDurable(now, last_write_id, &durable);
  Ready out;
  EXPECT_TRUE(r.Propose(now, "k=v", &out).ok());
}

}  // namespace
}  // namespace muster::raft
