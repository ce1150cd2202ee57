// Unit tests of the raft core through the in-memory TestCluster host: each checks one rule
// with assertions (the script tests show the traces; these pin the outcomes).
#include "core/raft/raft.h"

#include <algorithm>

#include "tests/raft/test_cluster.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

NodeId N(uint64_t v) { return NodeId{v}; }

RaftOptions Opts(bool pre_vote = true, bool check_quorum = true) {
  RaftOptions o;
  o.pre_vote = pre_vote;
  o.check_quorum = check_quorum;
  return o;
}

NodeId ElectOne(TestCluster& c, NodeId who) {
  c.Run(who, [&](Raft& r, Ready* out) { r.Campaign(c.now(who), out); });
  EXPECT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(who).role(), Role::kLeader);
  return who;
}

uint64_t Propose(TestCluster& c, NodeId leader, const std::string& data) {
  absl::StatusOr<uint64_t> idx;
  c.Run(leader, [&](Raft& r, Ready* out) { idx = r.Propose(c.now(leader), data, out); });
  EXPECT_TRUE(idx.ok()) << idx.status();
  return idx.ok() ? *idx : 0;
}

TEST(Raft, ElectsAndReplicates) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  const uint64_t idx = Propose(c, N(1), "a=1");
  ASSERT_TRUE(c.Stabilize());
  for (uint64_t i = 1; i <= 3; ++i) {
    EXPECT_EQ(c.raft(N(i)).commit(), idx);
    EXPECT_EQ(c.fsm(N(i)).kv().at("a"), "1");
    EXPECT_EQ(c.raft(N(i)).leader(), N(1));
  }
}

TEST(Raft, BootstrapOnlyOnEmptyNode) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(1, true);
  pb::Configuration config;
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.Bootstrap(c.now(N(1)), config, out); });
  EXPECT_FALSE(s.ok());
}

TEST(Raft, VoteIsPersistedBeforeTheReply) {
  // n1 and n3 campaign in term 2; n2 grants n1, crashes before its sync, restarts, and then
  // receives a duplicate of n3's request. With the rule, n2's grant to n1 never left (it
  // waited for the sync), so only n3 wins term 2. Without it, n1 and n3 both lead term 2.
  for (bool unsafe : {false, true}) {
    RaftOptions o = Opts(/*pre_vote=*/false, /*check_quorum=*/false);
    o.unsafe_reply_before_persist = unsafe;
    TestCluster c(o, nullptr);
    c.AddNodes(3, true);
    for (NodeId id : c.ids()) c.Persist(id);
    c.Block(N(1), N(3));
    c.Block(N(3), N(1));
    c.Run(N(1), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(1)), out); });
    c.Run(N(3), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(3)), out); });
    c.Persist(N(1));
    c.Persist(N(3));
    ASSERT_EQ(c.Duplicate(N(3), N(2)), 1u);
    ASSERT_TRUE(c.DeliverOne(N(1), N(2)));  // grants n1
    ASSERT_TRUE(c.DeliverOne(N(3), N(2)));  // rejects n3: already voted
    c.Drop(N(2), N(3));
    c.Deliver(N(1));  // unsafe: the grant already left
    c.Crash(N(2));
    c.Restart(N(2));
    ASSERT_TRUE(c.DeliverOne(N(3), N(2)));  // the duplicate: n2 has no record of its vote
    c.Persist(N(2));
    c.Deliver(N(3));
    const bool n1_leads = c.raft(N(1)).role() == Role::kLeader && c.raft(N(1)).term() == 2;
    const bool n3_leads = c.raft(N(3)).role() == Role::kLeader && c.raft(N(3)).term() == 2;
    EXPECT_TRUE(n3_leads);
    EXPECT_EQ(n1_leads, unsafe) << (unsafe ? "the scenario must show two leaders without the rule"
                                           : "two leaders in term 2");
  }
}

// Every pair of up nodes agrees on every entry both consider committed.
::testing::AssertionResult CommittedPrefixesAgree(TestCluster& c) {
  for (NodeId a : c.ids()) {
    for (NodeId b : c.ids()) {
      if (a >= b || !c.up(a) || !c.up(b)) continue;
      const RaftLog& la = c.raft(a).log();
      const RaftLog& lb = c.raft(b).log();
      const uint64_t hi = std::min(c.raft(a).commit(), c.raft(b).commit());
      for (uint64_t i = std::max(la.first_index(), lb.first_index()); i <= hi; ++i) {
        if (la.At(i).term() != lb.At(i).term() || la.At(i).data() != lb.At(i).data()) {
          return ::testing::AssertionFailure() << "n" << a.value << " and n" << b.value << " committed different entries at "
                                               << i << ": term " << la.At(i).term() << " vs " << lb.At(i).term();
        }
      }
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(Raft, SingleServerChangeWaitsForOwnTermCommit) {
  // The 2015 bug (Ongaro, raft-dev): C0={1,2,3,4}; leader n1 adds n5 but only n5 gets
  // C1={1..5}; n1 crashes; n2 wins term 3 with C0 and at once removes n1 (C2={2,3,4}),
  // committing with n3; n1 returns and wins term 4 with n4 and n5 under C1, then commits
  // its own different entries at the same indexes. The rule: a leader changes membership
  // only after committing an entry of its own term.
  for (bool unsafe : {false, true}) {
    RaftOptions o = Opts(false, false);
    o.unsafe_config_change_before_noop = unsafe;
    TestCluster c(o, nullptr);
    c.AddNodes(4, true);
    ElectOne(c, N(1));
    for (uint64_t p : {2, 3, 4}) {
      c.Block(N(1), N(p));
      c.Block(N(p), N(1));
    }
    c.AddNodes(1, false);  // n5, empty
    absl::Status s;
    c.Run(N(1), [&](Raft& r, Ready* out) { s = r.ChangeMembership(c.now(N(1)), ConfChange::kAddVoter, N(5), "n5", out); });
    ASSERT_TRUE(s.ok()) << s;
    c.Tick(N(1), o.heartbeat_interval);
    ASSERT_TRUE(c.Stabilize());
    ASSERT_EQ(c.raft(N(5)).log().last_index(), 3u);
    c.Crash(N(1));
    c.Drop(N(1), NodeId{});
    c.Heal();
    c.Run(N(2), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(2)), out); });
    c.Persist(N(2));
    c.Deliver(NodeId{});  // vote requests
    c.Persist(N(3));
    c.Persist(N(4));
    c.Deliver(N(2));  // votes: n2 leads term 3, its no-op is not committed yet
    ASSERT_EQ(c.raft(N(2)).role(), Role::kLeader);
    c.Block(N(2), N(4));  // from here n2's entries reach n3 only
    c.Block(N(2), N(5));
    c.Run(N(2), [&](Raft& r, Ready* out) { s = r.ChangeMembership(c.now(N(2)), ConfChange::kRemove, N(1), "", out); });
    EXPECT_EQ(s.ok(), unsafe) << s;
    ASSERT_TRUE(c.Stabilize());
    c.Crash(N(2));
    c.Drop(N(2), NodeId{});
    c.Heal();
    c.Block(N(1), N(3));
    c.Block(N(3), N(1));
    c.Restart(N(1));
    for (int round = 0; round < 3 && c.raft(N(1)).role() != Role::kLeader; ++round) {
      c.Run(N(1), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(1)), out); });
      ASSERT_TRUE(c.Stabilize());
    }
    ASSERT_TRUE(c.Stabilize());
    if (unsafe) {
      EXPECT_FALSE(CommittedPrefixesAgree(c)) << "the scenario must lose a committed entry without the rule";
    } else {
      EXPECT_TRUE(CommittedPrefixesAgree(c));
    }
  }
}

TEST(Raft, Figure8OldTermEntryIsNotCommittedByCounting) {
  // Figure 8, arranged so that the leader of term 4 sees its term-2 entry at index 3 on a
  // majority (n1, n3, n4) while its own no-op is on n1 alone. Counting replicas would commit
  // index 3; n5 (last term 3) can then win term 5 with n2, n3, n4 and overwrite it.
  for (bool unsafe : {false, true}) {
    RaftOptions o = Opts(false, false);
    o.msg_bytes_max = 1;  // one entry per message
    o.unsafe_commit_previous_term = unsafe;
    TestCluster c(o, nullptr);
    c.AddNodes(5, true);
    ElectOne(c, N(1));
    for (uint64_t p : {3, 4, 5}) c.Block(N(1), N(p));
    Propose(c, N(1), "old");  // (a) index 3, term 2, on n1 and n2
    ASSERT_TRUE(c.Stabilize());
    c.Crash(N(1));
    c.Drop(N(1), NodeId{});
    c.Heal();
    c.Block(N(5), N(2));  // (b) n5 wins term 3 with n3, n4 and appends 3/3 alone
    c.Run(N(5), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(5)), out); });
    c.Persist(N(5));
    c.Deliver(NodeId{});
    for (uint64_t p : {3, 4}) c.Persist(N(p));
    c.Deliver(N(5));
    ASSERT_EQ(c.raft(N(5)).role(), Role::kLeader);
    c.Persist(N(5));
    c.Drop(N(5), NodeId{});
    c.Crash(N(5));
    c.Heal();
    c.Restart(N(1));  // (c) n1 wins term 4 (after losing term 3: n3, n4 voted for n5)
    for (int i = 0; i < 2; ++i) {
      c.Run(N(1), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(1)), out); });
      c.Persist(N(1));
      c.Deliver(NodeId{});
      for (uint64_t p : {2, 3, 4}) c.Persist(N(p));
      c.Deliver(N(1));
    }
    ASSERT_EQ(c.raft(N(1)).role(), Role::kLeader);
    ASSERT_EQ(c.raft(N(1)).term(), 4u);
    c.Block(N(1), N(2));
    c.Persist(N(1));  // the no-op 4/4 is durable on n1
    for (int round = 0; round < 5; ++round) {  // probe n3, n4 down to index 2, send 2/3
      c.Deliver(N(3));
      c.Deliver(N(4));
      c.Persist(N(3));
      c.Persist(N(4));
      c.Deliver(N(1));  // their answers; once they acknowledge 3, n1 sends 4/4 (not delivered)
      if (c.raft(N(3)).log().last_index() == 3 && c.raft(N(4)).log().last_index() == 3) break;
    }
    ASSERT_EQ(c.raft(N(3)).log().last_index(), 3u);
    const uint64_t n1_commit = c.raft(N(1)).commit();
    const uint64_t n1_term_at_3 = c.raft(N(1)).log().At(3).term();
    c.Drop(N(1), NodeId{});  // the no-op never reaches anyone
    c.Crash(N(1));
    c.Restart(N(5));  // (d)
    for (int i = 0; i < 3 && c.raft(N(5)).role() != Role::kLeader; ++i) {
      c.Run(N(5), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(5)), out); });
      ASSERT_TRUE(c.Stabilize());
    }
    ASSERT_EQ(c.raft(N(5)).role(), Role::kLeader);
    ASSERT_GE(c.raft(N(5)).commit(), 3u);
    const bool lost = n1_commit >= 3 && c.raft(N(5)).log().At(3).term() != n1_term_at_3;
    if (unsafe) {
      EXPECT_TRUE(lost) << "n1 commit " << n1_commit << ": the scenario must lose a committed entry without the rule";
    } else {
      EXPECT_EQ(n1_commit, 2u) << "an old-term entry was committed by counting replicas";
      EXPECT_FALSE(lost);
    }
  }
}

TEST(Raft, MembershipAddNonVoterPromoteRemove) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.AddNodes(1, false);
  absl::Status s;
  auto change = [&](ConfChange ch, uint64_t id) {
    c.Run(N(1), [&](Raft& r, Ready* out) { s = r.ChangeMembership(c.now(N(1)), ch, N(id), "n" + std::to_string(id), out); });
    return s;
  };
  ASSERT_TRUE(change(ConfChange::kAddNonVoter, 4).ok());
  // One change at a time: the next is refused until this one commits.
  EXPECT_FALSE(change(ConfChange::kPromote, 4).ok());
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(4)).log().last_index(), c.raft(N(1)).log().last_index());
  EXPECT_FALSE(c.raft(N(4)).GetStatus().peers.empty());
  ASSERT_TRUE(change(ConfChange::kPromote, 4).ok());
  ASSERT_TRUE(c.Stabilize());
  int voters = 0;
  for (const auto& srv : c.raft(N(4)).configuration().servers()) voters += srv.voter() ? 1 : 0;
  EXPECT_EQ(voters, 4);
  // Remove the leader itself: it steps down once the change commits; the rest elect.
  ASSERT_TRUE(change(ConfChange::kRemove, 1).ok());
  ASSERT_TRUE(c.Stabilize());
  EXPECT_NE(c.raft(N(1)).role(), Role::kLeader);
  // n3 and n4 stop hearing a leader (clocks past the election timeout, not yet their own
  // deadlines); n2 times out first.
  c.Tick(N(3), Opts().election_timeout);
  c.Tick(N(4), Opts().election_timeout);
  c.Tick(N(2), 2 * Opts().election_timeout);
  ASSERT_TRUE(c.Stabilize());
  int leaders = 0;
  for (uint64_t i = 2; i <= 4; ++i) leaders += c.raft(N(i)).role() == Role::kLeader ? 1 : 0;
  EXPECT_EQ(leaders, 1);
  // The removed server cannot disrupt: it does not campaign (not a voter in its config).
  for (int i = 0; i < 3; ++i) c.Tick(N(1), 2 * Opts().election_timeout);
  EXPECT_EQ(c.raft(N(1)).role(), Role::kFollower);
  EXPECT_TRUE(CommittedPrefixesAgree(c));
}

TEST(Raft, RemovedServerThatMissedItsRemovalCannotDisrupt) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Block(N(1), N(3));
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.ChangeMembership(c.now(N(1)), ConfChange::kRemove, N(3), "", out); });
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(c.Stabilize());
  const uint64_t term = c.raft(N(1)).term();
  // n3 never learned; it times out and campaigns; pre-vote fails at n2, which hears n1.
  c.Heal();
  c.Block(N(1), N(3));
  c.Block(N(3), N(1));
  for (int i = 0; i < 5; ++i) {
    c.Tick(N(1), Opts().heartbeat_interval);
    c.Tick(N(3), Opts().election_timeout);
    ASSERT_TRUE(c.Stabilize());
  }
  EXPECT_EQ(c.raft(N(1)).role(), Role::kLeader);
  EXPECT_EQ(c.raft(N(1)).term(), term);
  EXPECT_EQ(c.raft(N(2)).term(), term);
}

TEST(Raft, SnapshotSentInChunksAndRestored) {
  RaftOptions o = Opts();
  o.snapshot_chunk_bytes = 16;
  TestCluster c(o, nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(3));
  for (int i = 0; i < 20; ++i) Propose(c, N(1), "k" + std::to_string(i % 5) + "=v" + std::to_string(i));
  ASSERT_TRUE(c.Stabilize());
  Status before = c.raft(N(1)).GetStatus();
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.Compact(c.now(N(1)), c.fsm(N(1)).applied(), c.fsm(N(1)).Snapshot(), out); });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.raft(N(1)).log().first_index(), before.applied + 1);
  c.Restart(N(3));
  Propose(c, N(1), "after=1");
  for (int i = 0; i < 40 && c.raft(N(3)).commit() < c.raft(N(1)).commit(); ++i) {
    c.Tick(N(1), o.heartbeat_interval);
    ASSERT_TRUE(c.Stabilize());
  }
  EXPECT_EQ(c.raft(N(3)).commit(), c.raft(N(1)).commit());
  EXPECT_EQ(c.fsm(N(3)).kv(), c.fsm(N(1)).kv());
  EXPECT_EQ(c.fsm(N(3)).chain(), c.fsm(N(1)).chain());
  EXPECT_GE(c.raft(N(3)).log().snapshot_index(), before.applied);
  // The restored follower survives a restart from its own storage.
  c.Crash(N(3));
  c.Restart(N(3));
  EXPECT_EQ(c.raft(N(3)).log().snapshot_index(), c.raft(N(1)).log().snapshot_index());
  EXPECT_EQ(c.fsm(N(3)).kv().at("after"), "1");
}

TEST(Raft, LeadershipTransfer) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  Propose(c, N(1), "a=1");
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.TransferLeadership(c.now(N(1)), N(3), out); });
  ASSERT_TRUE(s.ok()) << s;
  // Proposals are refused while the transfer runs, and the lease is void.
  absl::StatusOr<uint64_t> idx;
  c.Run(N(1), [&](Raft& r, Ready* out) { idx = r.Propose(c.now(N(1)), "b=2", out); });
  EXPECT_FALSE(idx.ok());
  EXPECT_FALSE(c.raft(N(1)).LeaseRead(c.now(N(1))).ok());
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(3)).role(), Role::kLeader);
  EXPECT_EQ(c.raft(N(1)).role(), Role::kFollower);
  EXPECT_EQ(c.raft(N(1)).leader(), N(3));
  EXPECT_EQ(c.fsm(N(3)).kv().at("a"), "1");
}

TEST(Raft, ReadIndexAndLease) {
  std::vector<std::string> trace;
  TestCluster c(Opts(), &trace);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  Propose(c, N(1), "a=1");
  ASSERT_TRUE(c.Stabilize());
  absl::Status s;
  std::vector<ReadState> reads;
  c.Run(N(1), [&](Raft& r, Ready* out) {
    s = r.ReadIndex(c.now(N(1)), 42, out);
    reads = out->reads;
  });
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(reads.empty()) << "a read needs a quorum round first";
  c.Deliver(N(2));
  c.Persist(N(2));
  trace.clear();
  ASSERT_TRUE(c.DeliverOne(N(2), N(1)));  // n1 + n2 are a quorum of 3
  const std::string want = "n1 read ready: ctx=42 index=" + std::to_string(c.raft(N(1)).commit());
  EXPECT_NE(std::find(trace.begin(), trace.end(), want), trace.end()) << want;
  // Lease: valid right after a quorum acknowledged a round, expired after lease_duration.
  EXPECT_TRUE(c.raft(N(1)).LeaseRead(c.now(N(1))).ok());
  EXPECT_EQ(*c.raft(N(1)).LeaseRead(c.now(N(1))), c.raft(N(1)).commit());
  EXPECT_FALSE(c.raft(N(1)).LeaseRead(c.now(N(1)) + Opts().lease_duration).ok());
  // Followers cannot serve either.
  EXPECT_FALSE(c.raft(N(2)).LeaseRead(c.now(N(2))).ok());
  c.Run(N(2), [&](Raft& r, Ready* out) { s = r.ReadIndex(c.now(N(2)), 1, out); });
  EXPECT_FALSE(s.ok());
}

TEST(Raft, NewLeaderServesNoReadsBeforeItsNoopCommits) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  c.Run(N(1), [&](Raft& r, Ready* out) { r.Campaign(c.now(N(1)), out); });
  for (int i = 0; i < 6; ++i) {
    c.Persist(N(1));
    c.Persist(N(2));
    c.Persist(N(3));
    c.Deliver(NodeId{});
    if (c.raft(N(1)).role() == Role::kLeader) break;
  }
  ASSERT_EQ(c.raft(N(1)).role(), Role::kLeader);
  ASSERT_FALSE(c.raft(N(1)).CommittedOwnTerm());
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.ReadIndex(c.now(N(1)), 1, out); });
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(c.raft(N(1)).LeaseRead(c.now(N(1))).ok());
}

TEST(Raft, CheckQuorumStepsDownAPartitionedLeader) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Block(N(2), N(1));
  c.Block(N(3), N(1));
  for (int i = 0; i < 4; ++i) {
    c.Tick(N(1), Opts().election_timeout);
    c.Stabilize();
  }
  EXPECT_NE(c.raft(N(1)).role(), Role::kLeader);
}

// The contact that counts for stale reads (Consul's X-Consul-LastContact): none before a
// follower's log takes an append of its leader; a follower restarted in a quiet cluster asks
// for one with its heartbeat answer; a deposed leader cut off one way, whose answers never
// reach the new leader (so it gets no more of its entries), gains none however many of
// the new leader's heartbeats it hears once its log lacks what that leader committed.
TEST(Raft, LeaderLogContactCountsOnlyAppendsTheLogTook) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  EXPECT_EQ(c.raft(N(2)).leader_log_contact(), absl::InfinitePast());
  ElectOne(c, N(1));
  EXPECT_EQ(c.raft(N(2)).leader_log_contact(), c.now(N(2)));
  EXPECT_EQ(c.raft(N(1)).leader_log_contact(), absl::InfinitePast()) << "the leader itself";

  c.Crash(N(3));
  c.Restart(N(3));
  EXPECT_EQ(c.raft(N(3)).leader_log_contact(), absl::InfinitePast());
  c.Tick(N(1), Opts().heartbeat_interval);
  c.Tick(N(3), Opts().heartbeat_interval);
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(3)).leader_log_contact(), c.now(N(3))) << "no write came: the heartbeat asked for an append";

  Propose(c, N(1), "everywhere");
  ASSERT_TRUE(c.Stabilize());
  c.Block(N(1), N(2));
  c.Block(N(1), N(3));
  Propose(c, N(1), "only on n1");
  ASSERT_TRUE(c.Stabilize());
  c.Tick(N(2), 2 * Opts().election_timeout);
  c.Tick(N(3), 2 * Opts().election_timeout);
  c.Stabilize();
  if (c.raft(N(2)).role() != Role::kLeader) ElectOne(c, N(2));
  ASSERT_EQ(c.raft(N(2)).role(), Role::kLeader);
  Propose(c, N(2), "after the cut");
  Time frozen;
  for (int i = 0; i < 10; ++i) {
    c.Tick(N(2), Opts().heartbeat_interval);
    c.Tick(N(1), Opts().heartbeat_interval);
    c.Tick(N(3), Opts().heartbeat_interval);
    c.Stabilize();
    if (i == 0) frozen = c.raft(N(1)).leader_log_contact();
  }
  EXPECT_EQ(c.raft(N(1)).role(), Role::kFollower);
  EXPECT_EQ(c.raft(N(1)).leader(), N(2));
  // At most the append that found its log matching before n2 committed past it: never again,
  // as its log lacks what n2 committed since.
  EXPECT_EQ(c.raft(N(1)).leader_log_contact(), frozen) << "n2's heartbeats do not refresh it";
  EXPECT_LE(c.raft(N(1)).leader_log_contact(), c.now(N(1)) - 9 * Opts().heartbeat_interval);
  EXPECT_EQ(c.raft(N(3)).leader_log_contact(), c.now(N(3)));
  c.Heal();
  c.Tick(N(2), Opts().heartbeat_interval);
  c.Tick(N(1), Opts().heartbeat_interval);
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(1)).leader_log_contact(), c.now(N(1))) << "healed: the append is taken";
}

TEST(Raft, FlowControlLimitsMessagesInFlight) {
  RaftOptions o = Opts();
  o.inflight_msgs_max = 2;
  o.msg_bytes_max = 64;
  TestCluster c(o, nullptr);
  c.AddNodes(2, true);
  ElectOne(c, N(1));
  c.Drop(NodeId{}, NodeId{});
  for (int i = 0; i < 20; ++i) Propose(c, N(1), std::string(60, 'x'));
  size_t to_n2 = 0;
  for (const InFlight& m : c.in_flight()) to_n2 += m.to == N(2) ? 1 : 0;
  EXPECT_EQ(to_n2, 2u) << "replicate state must stop at inflight_msgs_max";
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(2)).commit(), c.raft(N(1)).log().last_index());
}

TEST(Raft, LostSnapshotChunkIsResent) {
  RaftOptions o = Opts();
  o.snapshot_chunk_bytes = 8;
  TestCluster c(o, nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(3));
  for (int i = 0; i < 10; ++i) Propose(c, N(1), "k" + std::to_string(i) + "=v");
  ASSERT_TRUE(c.Stabilize());
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.Compact(c.now(N(1)), c.fsm(N(1)).applied(), c.fsm(N(1)).Snapshot(), out); });
  ASSERT_TRUE(s.ok());
  c.Restart(N(3));
  c.Tick(N(1), o.heartbeat_interval);
  // Drop every chunk for a while: the leader resends from the follower's offset on heartbeats.
  int dropped = 0;
  for (int i = 0; i < 6; ++i) {
    c.Deliver(N(3));
    c.Persist(N(3));
    c.Deliver(N(1));
    dropped += c.Drop(N(1), N(3));
    c.Tick(N(1), o.heartbeat_interval);
  }
  EXPECT_GT(dropped, 0);
  for (int i = 0; i < 200 && c.raft(N(3)).commit() < c.raft(N(1)).commit(); ++i) {
    c.Tick(N(1), o.heartbeat_interval);
    ASSERT_TRUE(c.Stabilize());
  }
  EXPECT_EQ(c.raft(N(3)).commit(), c.raft(N(1)).commit());
  EXPECT_EQ(c.fsm(N(3)).chain(), c.fsm(N(1)).chain());
}

TEST(Raft, LeadershipTransferTimesOut) {
  TestCluster c(Opts(), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Block(N(1), N(3));  // the target never hears
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.TransferLeadership(c.now(N(1)), N(3), out); });
  ASSERT_TRUE(s.ok());
  c.Stabilize();
  c.Tick(N(1), Opts().election_timeout);
  c.Stabilize();
  EXPECT_EQ(c.raft(N(1)).role(), Role::kLeader);
  absl::StatusOr<uint64_t> idx;
  c.Run(N(1), [&](Raft& r, Ready* out) { idx = r.Propose(c.now(N(1)), "again=1", out); });
  EXPECT_TRUE(idx.ok()) << "proposals resume once the transfer is abandoned";
  EXPECT_FALSE(c.raft(N(1)).LeaseRead(c.now(N(1))).ok()) << "the lease stays void for the term";
}

TEST(Raft, FlowControlLimitsBytesInFlight) {
  RaftOptions o = Opts();
  o.inflight_msgs_max = 100;
  o.inflight_bytes_max = 1000;
  o.msg_bytes_max = 100;
  TestCluster c(o, nullptr);
  c.AddNodes(2, true);
  ElectOne(c, N(1));
  for (int i = 0; i < 50; ++i) Propose(c, N(1), std::string(90, 'x'));
  size_t bytes = 0, msgs = 0;
  for (const InFlight& m : c.in_flight()) {
    if (m.to == N(2)) {
      bytes += m.payload.size();
      ++msgs;
    }
  }
  EXPECT_LE(msgs, 12u) << "about inflight_bytes_max / entry size messages";
  EXPECT_GE(msgs, 10u);
  EXPECT_LT(bytes, 1000u + 2 * 200u);
  ASSERT_TRUE(c.Stabilize());
  EXPECT_EQ(c.raft(N(2)).commit(), c.raft(N(1)).log().last_index());
}

// Issue 10 item 1: the leader keeps the send time of heartbeat rounds for the lease and
// ReadIndex. It used to prune only below the lowest round acknowledged by *every* voter, so
// one voter down pinned the record and each heartbeat and each ReadIndex added a round:
// 72,000 heartbeats an hour. One voter of three down, a ReadIndex every heartbeat interval,
// one hour of leader time: the record must stay flat.
TEST(Raft, HeartbeatRoundRecordStaysFlatWithAVoterDown) {
  std::vector<std::string> trace;
  TestCluster c(Opts(), &trace);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(3));
  const Duration hour = absl::Hours(1);
  const int steps = static_cast<int>(hour / Opts().heartbeat_interval);
  size_t kept_max = 0;
  uint64_t reads_served = 0;
  for (int i = 0; i < steps; ++i) {
    c.Tick(N(1), Opts().heartbeat_interval);
    c.Tick(N(2), Opts().heartbeat_interval);
    trace.clear();
    c.Run(N(1), [&](Raft& r, Ready* out) { ASSERT_TRUE(r.ReadIndex(c.now(N(1)), i, out).ok()); });
    c.Stabilize();
    for (const std::string& line : trace) reads_served += line.rfind("n1 read ready", 0) == 0 ? 1 : 0;
    ASSERT_EQ(c.raft(N(1)).role(), Role::kLeader) << "step " << i;
    kept_max = std::max(kept_max, c.raft(N(1)).GetStatus().heartbeat_rounds_kept);
  }
  // Two rounds per step (the heartbeat and the read's), each confirmed by n2 within the
  // step: the unconfirmed tail is at most those two plus the confirmed round itself.
  EXPECT_LE(kept_max, 3u) << "heartbeat rounds kept while n3 is down";
  EXPECT_EQ(c.raft(N(1)).GetStatus().heartbeat_rounds_kept, 1u);
  EXPECT_EQ(reads_served, static_cast<uint64_t>(steps)) << "every read confirmed by n1 + n2";
}

// With no quorum answering (and check-quorum off, so the leader never steps down) the
// unconfirmed tail is capped; once a quorum answers again the lease works from the round it
// confirmed.
TEST(Raft, HeartbeatRoundRecordIsCappedWithoutAQuorum) {
  TestCluster c(Opts(/*pre_vote=*/true, /*check_quorum=*/false), nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(2));
  c.Crash(N(3));
  for (int i = 0; i < 1000; ++i) {
    c.Tick(N(1), Opts().heartbeat_interval);
    c.Drop(NodeId{}, NodeId{});
  }
  ASSERT_EQ(c.raft(N(1)).role(), Role::kLeader);
  EXPECT_EQ(c.raft(N(1)).GetStatus().heartbeat_rounds_kept, kHeartbeatRoundsKeptMax);
  EXPECT_FALSE(c.raft(N(1)).LeaseRead(c.now(N(1))).ok());
}

// Issue 10 item 6: over the datagram channel raft sent appends up to msg_bytes_max (1 MiB)
// and snapshot chunks of snapshot_chunk_bytes (64 KiB). Every datagram now fits in
// kDatagramPayloadBytesMax: appends and chunks are cut to fit, and only an entry too big
// for any datagram travels over the stream.
TEST(Raft, DatagramsFitTheDatagramLimit) {
  RaftOptions o = Opts();
  o.channel = Channel::kDatagram;
  o.inflight_msgs_max = 4;  // proposals pile up behind a full pipeline: batched appends
  TestCluster c(o, nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(3));
  size_t datagrams = 0, streams = 0, oversized = 0;
  auto count = [&] {
    for (const InFlight& m : c.in_flight()) {
      (m.channel == Channel::kDatagram ? datagrams : streams)++;
      if (m.channel == Channel::kDatagram && m.payload.size() > kDatagramPayloadBytesMax) ++oversized;
    }
  };
  // 200 entries of 100 bytes while n2 does not answer: one append would carry them all.
  c.Block(N(2), N(1));
  for (int i = 0; i < 200; ++i) Propose(c, N(1), "k" + std::to_string(i % 50) + "=" + std::string(100, 'a' + i % 26));
  Propose(c, N(1), "big=" + std::string(4000, 'z'));  // no datagram can carry this entry
  c.Heal();
  // Every message passes through here once: Deliver hands over all in flight.
  auto round = [&] {
    c.Tick(N(1), o.heartbeat_interval);
    for (int j = 0; j < 20; ++j) {
      for (NodeId id : c.ids()) c.Persist(id);
      count();
      c.Deliver(NodeId{}, false);
    }
  };
  for (int i = 0; i < 100 && c.raft(N(2)).commit() < c.raft(N(1)).log().last_index(); ++i) round();
  EXPECT_EQ(c.raft(N(2)).commit(), c.raft(N(1)).log().last_index());
  // A snapshot of ~9 KB (50 keys of 100 bytes, one of 4,000) to n3, with 64 KiB chunks by
  // default: in chunks that fit.
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.Compact(c.now(N(1)), c.fsm(N(1)).applied(), c.fsm(N(1)).Snapshot(), out); });
  ASSERT_TRUE(s.ok()) << s;
  c.Restart(N(3));
  for (int i = 0; i < 400 && c.raft(N(3)).commit() < c.raft(N(1)).commit(); ++i) round();
  EXPECT_EQ(c.raft(N(3)).commit(), c.raft(N(1)).commit());
  EXPECT_EQ(c.fsm(N(3)).chain(), c.fsm(N(1)).chain());
  EXPECT_EQ(oversized, 0u) << "datagrams over " << kDatagramPayloadBytesMax << " bytes";
  EXPECT_GT(datagrams, 20u);
  EXPECT_GE(streams, 1u) << "the 4,000-byte entry goes over the stream";
  EXPECT_LE(streams, 3u) << "only messages carrying the 4,000-byte entry";
}

// Issue 10 item 5: every snapshot response made the leader send a chunk, and the follower
// answered duplicated chunks too, so each duplicate started one more parallel stream of the
// same snapshot: traffic grew geometrically with the chunk count. Now one chunk is in flight
// per follower and only the answer to that chunk moves the stream. Under 50% duplication of
// every message, the chunk bytes the leader sends for one transfer stay near the snapshot.
TEST(Raft, SnapshotTransferUnderDuplicationSendsOneStream) {
  RaftOptions o = Opts();
  o.snapshot_chunk_bytes = 64;
  TestCluster c(o, nullptr);
  c.AddNodes(3, true);
  ElectOne(c, N(1));
  c.Crash(N(3));
  for (int i = 0; i < 80; ++i) Propose(c, N(1), "k" + std::to_string(i) + "=" + std::string(40, 'v'));
  ASSERT_TRUE(c.Stabilize());
  absl::Status s;
  c.Run(N(1), [&](Raft& r, Ready* out) { s = r.Compact(c.now(N(1)), c.fsm(N(1)).applied(), c.fsm(N(1)).Snapshot(), out); });
  ASSERT_TRUE(s.ok()) << s;
  const uint64_t snapshot_bytes = c.raft(N(1)).log().snapshot_data().size();
  ASSERT_GT(snapshot_bytes, 30 * o.snapshot_chunk_bytes) << "enough chunks to show the growth";
  c.Restart(N(3));
  Rng rng(5);
  uint64_t chunk_bytes = 0;
  // Bail out once it is clearly blowing up (today's code reaches this), or after 1,000
  // delivery rounds.
  for (int i = 0; i < 1000 && c.raft(N(3)).commit() < c.raft(N(1)).commit() && chunk_bytes < 50 * snapshot_bytes;
       ++i) {
    if (i % 10 == 0) c.Tick(N(1), o.heartbeat_interval);
    for (NodeId id : c.ids()) c.Persist(id);
    for (const InFlight& m : c.in_flight()) {
      pb::Message pm;
      ASSERT_TRUE(pm.ParseFromString(m.payload));
      if (pm.type() == pb::MSG_SNAP) chunk_bytes += pm.chunk().size();
    }
    c.DuplicateIf([&](const InFlight&) { return rng.Bernoulli(0.5); });
    c.Deliver(NodeId{}, false);
  }
  EXPECT_EQ(c.raft(N(3)).commit(), c.raft(N(1)).commit());
  EXPECT_EQ(c.fsm(N(3)).chain(), c.fsm(N(1)).chain());
  // One stream: the snapshot once, plus a chunk resent when a heartbeat response finds it
  // unanswered for a heartbeat interval (none expected here: every round trip takes one
  // delivery round). Bound: 10% over the snapshot size.
  EXPECT_LE(chunk_bytes, snapshot_bytes + snapshot_bytes / 10) << "snapshot " << snapshot_bytes << " bytes";
  EXPECT_GE(chunk_bytes, snapshot_bytes);
}

TEST(RaftLog, RecoversAPrefixFromATornWrite) {
  sim::Disk storage;
  RaftLog log;
  StorageWrite w;
  w.id = 1;
  for (uint64_t i = 1; i <= 5; ++i) {
    pb::Entry e;
    e.set_index(i);
    e.set_term(1);
    e.set_data("d" + std::to_string(i));
    log.Append(e, &w);
  }
  // A torn write keeps a prefix of the ops; drop entry 3's put: the log ends at 2.
  StorageWrite torn;
  torn.id = 1;
  torn.ops = {w.ops[0], w.ops[1], w.ops[3], w.ops[4]};
  storage.Apply(torn);
  RaftLog recovered;
  recovered.Recover(&storage);
  EXPECT_EQ(recovered.last_index(), 2u);
  EXPECT_EQ(recovered.At(2).data(), "d2");
}

TEST(Progress, ProbeReplicateAndStaleRejections) {
  Progress pr(5, 2, 1 << 20);
  EXPECT_FALSE(pr.Paused());
  pr.probe_sent = true;
  EXPECT_TRUE(pr.Paused());
  EXPECT_FALSE(pr.MaybeDecrTo(7, 3)) << "a rejection of another probe is stale";
  EXPECT_TRUE(pr.MaybeDecrTo(4, 2));
  EXPECT_EQ(pr.next, 3u);
  EXPECT_TRUE(pr.MaybeUpdate(3, Time()));
  pr.BecomeReplicate(Time());
  pr.inflights.Add(5, 10);
  pr.inflights.Add(6, 10);
  EXPECT_TRUE(pr.Paused());
  pr.inflights.FreeLE(5);
  EXPECT_FALSE(pr.Paused());
  EXPECT_FALSE(pr.MaybeDecrTo(2, 0)) << "rejections at or below match are stale";
}

}  // namespace
}  // namespace muster::raft
