// Serf's snapshot under the simulator (core/agent/serf_snapshot.h): three servers and three
// clients. (1) Server s1 is cut off from everyone else, killed and restarted while still cut
// off, without -join or -retry-join: it knows nobody but its snapshot, whose members it cannot
// reach; the heal comes at a random point of the others' reconnect rounds, and the pool must
// then be whole again (every agent sees all six alive) within kMergedBound (15 s), the re-join
// retries' interval plus gossip. Without the snapshot only the others' Serf reconnect can find
// it: every 30 s each of the five tries with probability failed / alive = 1/5, so a third of
// the rounds try nobody. Each seed also runs with the snapshot deleted, and the figures are
// printed: over seeds 1-300 the worst with the snapshot was 10.1 s; without it 206 of the 300
// were still split after 15 s and the worst was whole after 3 min 20 s.
// (2) A client that left gracefully and is restarted without -join re-joins nobody
// (rejoin_after_leave off), and with -rejoin it is back in the pool (seeds 1-8).
// (3) A user event handled on a client before a quick restart without -join is not handled
// again (the restored clocks); with the snapshot deleted it ran again in all of seeds 1-10.
// Seeds 1-40 (about 7 s); REJOIN_SEEDS=N runs 1..N, REJOIN_LOG=1 prints each run.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/agent/serf_snapshot.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {
namespace {

namespace pba = ::muster::proto::agent;

constexpr int kServers = 3;
constexpr int kAgents = 6;
// From the heal to a whole pool: the next re-join attempt (every kSnapshotRejoinInterval,
// 10 s), its push-pull, and the epidemic telling the rest (a second or two).
const Duration kMergedBound = agent::kSnapshotRejoinInterval + absl::Seconds(5);
// Cut off this long before the kill and again after the restart: past memberlist's
// gossip_to_the_dead_time (30 s), after which nobody sends the dead s1 anything (before it,
// their gossip reaches the restarted s1, which pushes-pulls with a sender it does not know).
constexpr Duration kCutOffBeforeKill = absl::Seconds(20);
constexpr Duration kCutOffAfterRestart = absl::Seconds(25);
// How long a run without the snapshot is followed after the heal (for the printed figures).
constexpr Duration kReconnectBudget = absl::Minutes(5);

uint64_t Seeds() {
  const char* env = std::getenv("REJOIN_SEEDS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 40;
}

void AddCluster(AgentRun& run) {
  for (int i = 1; i <= kAgents; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.server = i <= kServers;
    spec.bootstrap_expect = spec.server ? kServers : 0;
    for (int j = 1; j <= kServers; ++j) {
      if (j != i) spec.join.push_back(LanAddress(j));
    }
    run.Add(spec);
  }
}

// Whether every agent up sees exactly the agents in `alive` alive (and each of them up).
bool PoolIs(AgentRun& run, const std::vector<int>& alive) {
  for (int i : alive) {
    agent::AgentMachine* a = run.agent(i);
    if (a == nullptr) return false;
    for (int j : alive) {
      const gossip::Member* m = a->lan().member(NodeName(j));
      if (m == nullptr || m->status != gossip::MemberStatus::kAlive) return false;
    }
  }
  return true;
}

std::vector<int> All() {
  std::vector<int> all;
  for (int i = 1; i <= kAgents; ++i) all.push_back(i);
  return all;
}

// Restarted without any join configuration: only the snapshot can bring it back.
void RestartWithoutJoin(AgentRun& run, int index, bool delete_snapshot) {
  run.options(index).config.retry_join.clear();
  run.options(index).config.start_join.clear();
  if (delete_snapshot) {
    StorageWrite w;
    w.Delete(std::string(agent::kSerfSnapshotLanKey));
    w.Delete(std::string(agent::kSerfSnapshotWanKey));
    run.sim().disk(run.node(index)).Apply(w);
  }
  run.Restart(index);
}

struct IsolatedOutcome {
  bool merged = false;
  Duration after_heal;
};

IsolatedOutcome RunIsolatedRestart(uint64_t seed, bool delete_snapshot) {
  IsolatedOutcome outcome;
  AgentRun run(seed, absl::StrCat("bazel test //tests/agent_sim:rejoin_test (seed ", seed, ")"), false);
  AddCluster(run);
  EXPECT_TRUE(run.RunUntil([&] { return PoolIs(run, All()) && run.SteadyLeader().has_value(); }, absl::Seconds(60)))
      << "seed " << seed << ": the pool never formed";

  run.RunFor(absl::Seconds(3));  // the snapshots written
  std::vector<NodeId> rest;
  for (int i = 2; i <= kAgents; ++i) rest.push_back(run.node(i));
  run.sim().network().Partition({run.node(1)}, rest);
  run.RunFor(kCutOffBeforeKill);
  run.Kill(1);
  run.RunFor(absl::Seconds(2));
  RestartWithoutJoin(run, 1, delete_snapshot);
  // The heal at a random point of the others' 30 s reconnect rounds (which started together).
  run.RunFor(kCutOffAfterRestart + run.rng().UniformDuration(absl::ZeroDuration(), absl::Seconds(30)));
  run.sim().network().Heal();
  const Time healed = run.sim().now();
  outcome.merged = run.RunUntil([&] { return PoolIs(run, All()); }, kMergedBound);
  outcome.after_heal = run.sim().now() - healed;
  if (delete_snapshot && !outcome.merged) {
    // How long Serf's reconnect alone takes, for the figures.
    run.RunUntil([&] { return PoolIs(run, All()); }, kReconnectBudget);
    outcome.after_heal = run.sim().now() - healed;
  }
  if (std::getenv("REJOIN_LOG") != nullptr) {
    std::printf("seed %d snapshot %s: merged %d after %s; reconnects logged %d, push-pulls with strangers %d\n",
                static_cast<int>(seed), delete_snapshot ? "deleted" : "kept", outcome.merged,
                absl::FormatDuration(outcome.after_heal).c_str(), run.CountLog(0, "attempting reconnect"),
                run.CountLog(0, "push-pull"));
  }
  if (!delete_snapshot) {
    EXPECT_TRUE(outcome.merged) << "seed " << seed << ": the pool is still split " << kMergedBound
                                << " after the heal";
    EXPECT_GE(run.CountLog(1, "Attempting re-join to previously known nodes"), 1) << "seed " << seed;
    EXPECT_TRUE(run.Settle(absl::Seconds(60))) << "seed " << seed << ": " << run.checker().failure();
    EXPECT_FALSE(run.checker().failed()) << run.checker().failure();
  }
  return outcome;
}

TEST(Rejoin, AServerRestartedWhileCutOffMergesThePoolSoonAfterTheHeal) {
  const uint64_t seeds = Seeds();
  Duration worst, worst_without;
  int split_without = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    IsolatedOutcome with = RunIsolatedRestart(seed, /*delete_snapshot=*/false);
    if (::testing::Test::HasFailure()) return;
    worst = std::max(worst, with.after_heal);
    IsolatedOutcome without = RunIsolatedRestart(seed, /*delete_snapshot=*/true);
    if (!without.merged) ++split_without;
    worst_without = std::max(worst_without, without.after_heal);
  }
  std::printf("isolated restart, %d seeds: whole again after the heal within %s at worst with the snapshot; "
              "without it %d seeds still split after %s, the worst whole after %s (budget %s)\n",
              static_cast<int>(seeds), absl::FormatDuration(worst).c_str(), split_without,
              absl::FormatDuration(kMergedBound).c_str(), absl::FormatDuration(worst_without).c_str(),
              absl::FormatDuration(kReconnectBudget).c_str());
  EXPECT_LE(worst, kMergedBound);
}

// A client leaves gracefully (agent.leave), is killed once it has, and restarts without -join.
void LeaveAndRestart(AgentRun& run, int index, bool rejoin_after_leave) {
  std::shared_ptr<Outcome> left = Send(run.sim(), run.node(index), "agent.leave", pba::Call());
  ASSERT_TRUE(run.RunUntil([&] { return left->answered && run.agent(index)->left(); }, absl::Seconds(20)));
  run.RunFor(absl::Seconds(2));
  run.Kill(index);
  run.RunFor(absl::Seconds(3));
  run.options(index).config.rejoin_after_leave = rejoin_after_leave;
  RestartWithoutJoin(run, index, /*delete_snapshot=*/false);
}

TEST(Rejoin, AGracefulLeaveIsNotRejoinedUnlessRejoinAfterLeave) {
  const uint64_t seeds = std::min<uint64_t>(Seeds(), 8);
  constexpr int kClient = kAgents;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    AgentRun run(seed, absl::StrCat("bazel test //tests/agent_sim:rejoin_test (leave, seed ", seed, ")"), false);
    AddCluster(run);
    ASSERT_TRUE(run.RunUntil([&] { return PoolIs(run, All()); }, absl::Seconds(60))) << "seed " << seed;
    run.RunFor(absl::Seconds(3));
    LeaveAndRestart(run, kClient, /*rejoin_after_leave=*/false);
    if (::testing::Test::HasFatalFailure()) return;
    run.RunFor(absl::Seconds(40));
    ASSERT_NE(run.agent(kClient), nullptr);
    EXPECT_EQ(run.agent(kClient)->lan().NumAliveMembers(), 1) << "seed " << seed << ": it re-joined after a leave";
    EXPECT_EQ(run.CountLog(kClient, "Attempting re-join"), 0) << "seed " << seed;
    EXPECT_GE(run.CountLog(kClient, "the snapshot ends with a leave"), 1) << "seed " << seed;
    const gossip::Member* seen = run.agent(1)->lan().member(NodeName(kClient));
    ASSERT_NE(seen, nullptr) << "seed " << seed;
    EXPECT_EQ(seen->status, gossip::MemberStatus::kLeft) << "seed " << seed;

    // With -rejoin the same restart is back in the pool; its snapshot was written by the
    // fresh life above, whose members were only itself, so it leaves again from a full pool.
    ASSERT_TRUE(run.agent(kClient) != nullptr);
    run.options(kClient).config.retry_join = {LanAddress(1)};
    run.Kill(kClient);
    run.RunFor(absl::Seconds(1));
    run.Restart(kClient);
    ASSERT_TRUE(run.RunUntil([&] { return PoolIs(run, All()); }, absl::Seconds(30))) << "seed " << seed;
    run.RunFor(absl::Seconds(3));
    LeaveAndRestart(run, kClient, /*rejoin_after_leave=*/true);
    if (::testing::Test::HasFatalFailure()) return;
    EXPECT_TRUE(run.RunUntil([&] { return PoolIs(run, All()); }, absl::Seconds(15)))
        << "seed " << seed << ": -rejoin did not bring the client back after its leave";
    EXPECT_GE(run.CountLog(kClient, "Ignoring previous leave in snapshot"), 1) << "seed " << seed;
    EXPECT_FALSE(run.checker().failed()) << run.checker().failure();
  }
}

// A client with a `user:deploy` handler runs it for an event, is killed and restarted at once
// without -join. The others still gossip to it, so without a snapshot its first push-pull is
// with a "stranger" (not a join, whose first reply would set the pool's old events aside), and
// the pool's event buffer holds the deploy; with the snapshot it re-joins, and the restored
// clocks must keep it from running the handler again. Returns the handler's runs on the client
// over both lives.
int DeployRunsAcrossARestart(uint64_t seed, bool delete_snapshot) {
  AgentRun run(seed, absl::StrCat("bazel test //tests/agent_sim:rejoin_test (events, seed ", seed, ")"), false);
  constexpr int kClient = kAgents;
  int runs = 0;
  run.sim().set_process_runner([&](NodeId node, const ProcessStart& p) {
    if (node == run.node(kClient) && p.command == "deploy.sh") ++runs;
    return sim::Simulator::HealthyEnd(p);
  });
  for (int i = 1; i <= kAgents; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.server = i <= kServers;
    spec.bootstrap_expect = spec.server ? kServers : 0;
    for (int j = 1; j <= kServers; ++j) {
      if (j != i) spec.join.push_back(LanAddress(j));
    }
    run.Add(spec, [&](agent::AgentMachineOptions& o) {
      if (i == kClient) o.config.event_handlers = {"user:deploy=deploy.sh"};
    });
  }
  EXPECT_TRUE(run.RunUntil([&] { return PoolIs(run, All()) && run.SteadyLeader().has_value(); }, absl::Seconds(60)));
  pba::Call fire;
  fire.set_key("deploy");
  fire.set_value("v1");
  std::shared_ptr<Outcome> fired = Send(run.sim(), run.node(1), "event.fire", fire);
  EXPECT_TRUE(run.RunUntil([&] { return fired->answered && runs == 1; }, absl::Seconds(10))) << "seed " << seed;
  run.RunFor(absl::Seconds(3));  // its clock in the snapshot
  run.Kill(kClient);
  RestartWithoutJoin(run, kClient, delete_snapshot);
  EXPECT_TRUE(run.RunUntil([&] { return PoolIs(run, All()); }, absl::Seconds(30))) << "seed " << seed;
  run.RunFor(absl::Seconds(35));  // push-pulls, periodic ones too
  EXPECT_FALSE(run.checker().failed()) << run.checker().failure();
  return runs;
}

TEST(Rejoin, AUserEventHandledBeforeARestartIsNotHandledAgain) {
  const uint64_t seeds = std::min<uint64_t>(Seeds(), 10);
  int replayed_without = 0;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    EXPECT_EQ(DeployRunsAcrossARestart(seed, /*delete_snapshot=*/false), 1) << "seed " << seed;
    if (::testing::Test::HasFailure()) return;
    if (DeployRunsAcrossARestart(seed, /*delete_snapshot=*/true) > 1) ++replayed_without;
  }
  std::printf("restart after a user event, %d seeds: handled once with the snapshot; without it run again in %d\n",
              static_cast<int>(seeds), replayed_without);
}

}  // namespace
}  // namespace muster::agent_sim
