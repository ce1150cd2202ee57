// Recovery from storage keeps the per-node invariants (Raft::CheckInvariants), also from the
// prefix of a torn write.
#include "core/raft/raft.h"
#include "tests/raft/test_cluster.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

// A follower in term 4 takes an append from term 5's leader: one write holds the entries and,
// last, the hard state naming term 5. A crash that keeps only the entries (a torn write)
// restarted it in term 4 holding a term-5 entry (raft_sim seeds 2905 and 5899).
TEST(Recovery, ATornWriteThatKeptEntriesButNotTheTermRecoversInTheEntriesTerm) {
  RaftOptions o = ServerOptions(1);
  sim::Disk disk;
  Time now = SimEpoch();
  {
    Raft r(o, &disk, 1, now, Logger(nullptr, "raft"));
    Ready boot;
    ASSERT_TRUE(r.Bootstrap(now, VotersConfiguration(3), &boot).ok());
    for (const StorageWrite& w : boot.effects.writes) disk.Apply(w);
    disk.SyncThrough(UINT64_MAX);

    pb::Message m;
    m.set_type(pb::MSG_APP);
    m.set_from(2);
    m.set_from_address("n2");
    m.set_to(1);
    m.set_term(5);
    m.set_index(1);
    m.set_log_term(1);
    pb::Entry* e = m.add_entries();
    e->set_index(2);
    e->set_term(5);
    e->set_data("k=v");
    Ready ready;
    now += absl::Milliseconds(1);
    ASSERT_TRUE(r.Receive(now, m.SerializeAsString(), &ready).ok());
    ASSERT_EQ(r.term(), 5u);
    // Keep only the write's ops before the hard state: the torn prefix.
    ASSERT_FALSE(ready.effects.writes.empty());
    StorageWrite torn = ready.effects.writes.back();
    while (!torn.ops.empty() && torn.ops.back().key != kHardStateKey) torn.ops.pop_back();
    ASSERT_FALSE(torn.ops.empty()) << "the hard state is in the write";
    torn.ops.pop_back();
    disk.Apply(torn);
    disk.SyncThrough(UINT64_MAX);
  }
  Raft restarted(o, &disk, 2, now, Logger(nullptr, "raft"));
  EXPECT_EQ(restarted.log().last_index(), 2u);
  EXPECT_EQ(restarted.term(), 5u);
  EXPECT_FALSE(restarted.vote().valid());
  EXPECT_TRUE(restarted.CheckInvariants().ok()) << restarted.CheckInvariants();
}

}  // namespace
}  // namespace muster::raft
