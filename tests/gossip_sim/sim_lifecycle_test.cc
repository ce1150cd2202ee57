// Simulation: partitions heal without a manual join; a graceful leave is seen as left
// everywhere and reaped after the tombstone timeout (failed members after the reconnect
// timeout); a user event under 20% loss and duplication reaches every node exactly once.
#include <cstdio>

#include "tests/gossip_sim/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

TEST(PartitionTest, HalvesHealIntoOnePoolAfterThePartitionEnds) {
  const int seeds = SeedCount(200);
  double worst = 0, total = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(40'000) + i;
    ClusterOptions o;
    o.nodes = 6 + i % 5;  // 6..10
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) << "seed " << seed;
    std::vector<NodeId> a(c.ids().begin(), c.ids().begin() + o.nodes / 2);
    std::vector<NodeId> b(c.ids().begin() + o.nodes / 2, c.ids().end());
    c.sim().network().Partition(a, b);
    // Long enough for each side to declare the other failed.
    c.sim().RunFor(absl::Seconds(40));
    const std::string a0 = SimCluster::Name(a[0]), b0 = SimCluster::Name(b[0]);
    EXPECT_EQ(c.node(a[0])->serf().member(b0)->status, MemberStatus::kFailed) << "seed " << seed;
    EXPECT_EQ(c.node(b[0])->serf().member(a0)->status, MemberStatus::kFailed) << "seed " << seed;
    c.sim().network().Heal();
    auto took = c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(180), absl::Milliseconds(100));
    ASSERT_TRUE(took.has_value()) << "seed " << seed << ": the pool did not heal";
    worst = std::max(worst, absl::ToDoubleSeconds(*took));
    total += absl::ToDoubleSeconds(*took);
  }
  std::printf("partition heal (N=6..10, %d seeds, reconnect interval 30 s): mean=%.1fs max=%.1fs\n", seeds,
              total / seeds, worst);
}

TEST(LeaveTest, GracefulLeaveIsLeftEverywhereAndReapedAfterTheTombstoneTimeout) {
  const int seeds = SeedCount(200);
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(50'000) + i;
    ClusterOptions o;
    o.nodes = 5 + i % 6;
    o.tweak = [](SerfConfig& c) {
      c.tombstone_timeout = absl::Seconds(60);
      c.reconnect_timeout = absl::Seconds(90);
      c.reap_interval = absl::Seconds(5);
    };
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) << "seed " << seed;
    NodeId leaver = c.ids()[1 + c.sim().rng().Uniform(c.ids().size() - 1)];
    const std::string name = SimCluster::Name(leaver);
    bool answered = false;
    c.sim().Request(leaver, "leave", "", [&](const Response& r) { answered = r.status.ok(); });
    const Time left_at = c.sim().now();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeStatus(name, MemberStatus::kLeft); }, absl::Seconds(20)))
        << "seed " << seed << ": leave not seen as left everywhere";
    c.sim().RunFor(absl::Seconds(1.1));  // the leave answers after leave_propagate_delay
    EXPECT_TRUE(answered) << "seed " << seed;
    c.sim().Kill(leaver);  // the process exits after leaving
    // Also kill one more member: it is failed, and reaped after the reconnect timeout.
    NodeId victim = c.ids()[0] == leaver ? c.ids()[1] : c.ids()[0];
    for (NodeId id : c.ids()) {
      if (id != leaver && id != c.ids()[0]) victim = id;
    }
    const std::string vname = SimCluster::Name(victim);
    c.sim().Kill(victim);
    const Time killed_at = c.sim().now();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeStatus(vname, MemberStatus::kFailed); }, absl::Seconds(40)))
        << "seed " << seed;
    // Not reaped before its timeout...
    c.sim().RunUntil(left_at + absl::Seconds(55));
    for (NodeId id : c.Live()) EXPECT_NE(c.node(id)->serf().member(name), nullptr) << "seed " << seed << " early reap";
    // ...and reaped after it, within one reap interval (plus the leave's spread).
    auto gone = [&](const std::string& n) {
      for (NodeId id : c.Live()) {
        if (c.node(id)->serf().member(n) != nullptr) return false;
      }
      return true;
    };
    c.sim().RunUntil(left_at + absl::Seconds(60 + 5 + 3));
    EXPECT_TRUE(gone(name)) << "seed " << seed << ": left member not reaped";
    c.sim().RunUntil(killed_at + absl::Seconds(80));
    for (NodeId id : c.Live()) EXPECT_NE(c.node(id)->serf().member(vname), nullptr) << "seed " << seed;
    c.sim().RunUntil(killed_at + absl::Seconds(40 + 90 + 5));
    EXPECT_TRUE(gone(vname)) << "seed " << seed << ": failed member not reaped";
    for (NodeId id : c.Live()) {
      const auto& ev = c.node(id)->serf().stats().events;
      EXPECT_EQ(ev.at("member-leave"), 1u) << "seed " << seed;
      EXPECT_EQ(ev.at("member-reap"), 2u) << "seed " << seed;
      EXPECT_EQ(c.node(id)->serf().stats().failed_seen.count(name), 0u) << "seed " << seed << ": leave seen as failure";
    }
  }
}

TEST(UserEventTest, ReachesEveryNodeExactlyOnceUnderLossAndDuplication) {
  const int seeds = SeedCount(200);
  uint64_t dups_dropped = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(60'000) + i;
    ClusterOptions o;
    o.nodes = 5 + i % 11;  // 5..15
    o.link.loss = 0.20;
    o.link.duplicate = 0.20;
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(90))) << "seed " << seed;
    NodeId origin = c.ids()[c.sim().rng().Uniform(c.ids().size())];
    bool ok = false;
    c.sim().Request(origin, "user-event", "deploy\nv1.2.3", [&](const Response& r) { ok = r.status.ok(); });
    c.sim().RunFor(absl::Seconds(1));
    ASSERT_TRUE(ok);
    // A second event of the same name and payload is a different event (new Lamport time).
    c.sim().Request(origin, "user-event", "deploy\nv1.2.3", [](const Response&) {});
    c.sim().RunFor(absl::Seconds(70));  // past one push-pull period, the anti-entropy fallback
    for (NodeId id : c.Live()) {
      const auto& s = c.node(id)->serf().stats();
      ASSERT_EQ(s.user_delivered.size(), 2u) << "seed " << seed << " node " << SimCluster::Name(id);
      for (const auto& [key, count] : s.user_delivered) {
        EXPECT_EQ(count, 1u) << "seed " << seed << " node " << SimCluster::Name(id) << " event " << key;
      }
      dups_dropped += s.user_duplicates_dropped;
    }
  }
  std::printf("user events under 20%% loss + 20%% duplication, %d seeds: duplicates dropped=%llu\n", seeds,
              static_cast<unsigned long long>(dups_dropped));
  EXPECT_GT(dups_dropped, 0u);
}

}  // namespace
}  // namespace muster::gossip::testing
