// The checkers over whole agents catch real bugs: with one raft rule switched off (RaftOptions'
// unsafe_*), the crash loop (kills, torn writes, pauses, restarts under a workload) must fail
// on some seeds, each with its seed and repro. Figures at commit time, seeds 1-300 of the
// crash loop (the agent changes under these runs, so the counts move; the test asks for at
// least one catch each):
//   vote_twice_in_term          95 of 300 (8 of seeds 1-40; raft's CheckInvariants: a
//                               candidate that did not vote for itself, a vote changed within
//                               a term)
//   ack_before_durable          3 of 300 (one applied history: an index applied with two terms)
//   ack_append_before_persist   14 of 300 (10 by the applied history; 4 message storms stopped
//                               by the step budget: a follower whose committed log diverged
//                               rejects every append and the leader's probes pile up)
//   reply_before_persist        2 of 300 (two leaders in a term); the runs change with the
//                               agent and the catches move (6 of 1-1500 once, then 0 of
//                               301-600), so the test searches seeds 1-3000 until one catches
//   followers_serve_default_reads  279 of 300 (an agent rule, not raft's: 274 by the watchers'
//                               X-Consul-Index going backwards, 5 by a read missing an
//                               acknowledged put)
// The agent's own rules, in generated runs of 3 servers + 2 clients under partitions and torn
// kills at 50 requests a second (workloads_test's runs, 20 s), with the workload whose checker
// judges them (GeneratedConfig::workload; a swarm draws it from the seed: lock in 3 runs of 8
// with mixed, events the same), seeds 1-300, each caught by its own checker only:
//   acquire_takes_held_locks    300 of 300 under lock, 298 under mixed (lock safety: two
//                               holders, the one taken from surely holding it)
//   acquire_from_suspect_holders  84 of 300 under lock (first seed 6), 55 under mixed: lock
//                               safety, two holders and a read naming the taker while the
//                               holder (partitioned or killed) surely held it — a lock taken
//                               at the first suspicion, before invalidation and lock-delay
//   user_events_handled_twice   300 of 300 under events and under mixed (exactly-once user
//                               events: one agent life handed an event many times)
// Swarm seeds 1-300 (every parameter drawn, the workload among them): acquire_takes_held_locks
// 108, acquire_from_suspect_holders 23 (first seed 6), user_events_handled_twice 98 — of the
// about 112 whose draw has the lock (or events) workload in it.
// The agent's own event-ID check alone off (Serf's dedup by Lamport time on) was caught on
// none of those 300 nor of swarm seeds 1-300: Serf hands an event to one life once, and the
// agent's check is a second guard, so it has no switch here.
// The agent's group proposal (a leader's writes wait while its last log write syncs) leaves
// ack_before_durable a narrow window, hence the long range for it. The acknowledgement waits
// for the leader's sync, so the divergence is caught where it happens, in the applied history,
// before an acknowledged put goes missing.
#include <cstdio>

#include "gtest/gtest.h"
#include "tests/agent_sim/agent_run.h"
#include "tests/agent_sim/generated_run.h"
#include "tests/agent_sim/scenarios.h"
#include "tests/agent_sim/shrink.h"
#include "tests/agent_sim/unsafe_switches.h"

namespace muster::agent_sim {
namespace {

struct Mutation {
  const char* name;
  uint64_t first;
  uint64_t count;
  // Stop at the first catch: for a rule caught on a fraction of a percent of seeds, whose
  // catching seeds move whenever the agent's runs change, a long range searched until one
  // catches is robust where a short fixed one is not.
  bool until_first = false;
};

int Caught(const Mutation& m) {
  const UnsafeSwitch* u = FindUnsafeSwitch(m.name);
  EXPECT_NE(u, nullptr) << m.name;
  if (u == nullptr) return 0;
  int caught = 0;
  uint64_t ran = 0;
  for (uint64_t seed = m.first; seed < m.first + m.count; ++seed) {
    ++ran;
    ScenarioConfig c;
    c.scenario = Scenario::kCrashLoop;
    c.seed = seed;
    c.unsafe_name = std::string(u->name);
    c.mutate = u->apply;
    ScenarioResult r = RunScenario(c);
    if (!r.outcome.ok) {
      caught++;
      std::printf("caught: %s\n", r.outcome.report.c_str());
      if (m.until_first) break;
    }
  }
  std::printf("%s: caught on %d of %llu seeds (from %llu)\n", m.name, caught,
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(m.first));
  return caught;
}

TEST(AgentMutation, VoteTwiceInTermIsCaught) {
  EXPECT_GE(Caught({"vote_twice_in_term", 1, 40}), 1);
}

TEST(AgentMutation, AckBeforeDurableIsCaught) {
  EXPECT_GE(Caught({"ack_before_durable", 1, 300}), 1);
}

TEST(AgentMutation, AckAppendBeforePersistIsCaught) {
  EXPECT_GE(Caught({"ack_append_before_persist", 1, 300}), 1);
}

TEST(AgentMutation, ReplyBeforePersistIsCaught) {
  EXPECT_GE(Caught({"reply_before_persist", 1, 3000, /*until_first=*/true}), 1);
}

TEST(AgentMutation, FollowersServingDefaultReadsIsCaught) {
  EXPECT_GE(Caught({"followers_serve_default_reads", 1, 10}), 1);
}

// Every switch is off unless a test turns it on: default options are the production agent's
// (cmd/agent builds its options from the config and the raft timing alone).
TEST(AgentMutation, EverySwitchIsOffByDefault) {
  const agent::AgentMachineOptions o;
  EXPECT_FALSE(o.unsafe_followers_serve_default_reads);
  EXPECT_FALSE(o.unsafe_acquire_takes_held_locks);
  EXPECT_FALSE(o.unsafe_acquire_from_suspect_holders);
  EXPECT_FALSE(o.unsafe_user_events_no_id_check);
  EXPECT_FALSE(o.lan.unsafe_user_events_no_dedup);
  EXPECT_FALSE(o.raft.unsafe_ack_before_durable || o.raft.unsafe_ack_append_before_persist ||
               o.raft.unsafe_vote_twice_in_term || o.raft.unsafe_reply_before_persist);
}

// An agent rule's switch (`name`, or none) in generated runs of `workload` over seeds
// [first, first + count): how many failed, each of them on `property` (FailureProperty).
int CaughtInGeneratedRuns(const char* name, WorkloadKind workload, uint64_t first, uint64_t count,
                          const char* property) {
  const UnsafeSwitch* u = name == nullptr ? nullptr : FindUnsafeSwitch(name);
  if (name != nullptr) {
    EXPECT_NE(u, nullptr) << name;
  }
  int caught = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    GeneratedConfig c;
    c.seed = seed;
    c.servers = 3;
    c.clients = 2;
    c.partition = true;
    c.kill = KillMode::kTorn;
    c.workload = workload;
    c.rate = 50;
    if (u != nullptr) {
      c.unsafe_name = std::string(u->name);
      c.mutate = u->apply;
    }
    const GeneratedResult r = RunGenerated(c, nullptr);
    if (r.outcome.ok) continue;
    caught++;
    EXPECT_EQ(FailureProperty(r.outcome.report), property) << r.outcome.report;
    if (caught == 1) std::printf("caught: %s\n", r.outcome.report.substr(0, 1500).c_str());
  }
  std::printf("%s under %s: caught on %d of %llu seeds (from %llu)\n", name == nullptr ? "no switch" : name,
              WorkloadName(workload), caught, static_cast<unsigned long long>(count),
              static_cast<unsigned long long>(first));
  return caught;
}

TEST(AgentMutation, AcquireTakingHeldLocksIsCaughtByLockSafety) {
  EXPECT_EQ(CaughtInGeneratedRuns("acquire_takes_held_locks", WorkloadKind::kLock, 1, 5, "lock safety"), 5);
}

TEST(AgentMutation, AcquireFromSuspectHoldersIsCaughtByLockSafety) {
  EXPECT_GE(CaughtInGeneratedRuns("acquire_from_suspect_holders", WorkloadKind::kLock, 1, 40, "lock safety"), 1);
}

TEST(AgentMutation, UserEventsHandledTwiceAreCaughtByTheEventChecker) {
  EXPECT_EQ(
      CaughtInGeneratedRuns("user_events_handled_twice", WorkloadKind::kEvents, 1, 5, "exactly-once user events"), 5);
}

// Without a switch the same runs hold (the catches above are the switches', not noise).
TEST(AgentMutation, SameLockAndEventRunsHoldWithoutASwitch) {
  EXPECT_EQ(CaughtInGeneratedRuns(nullptr, WorkloadKind::kLock, 1, 40, ""), 0);
  EXPECT_EQ(CaughtInGeneratedRuns(nullptr, WorkloadKind::kEvents, 1, 5, ""), 0);
}

// A cluster whose every disk is wiped (beyond the fault model) re-bootstraps empty: caught,
// by election safety first (the new cluster's leaders reuse terms the old one had: 9 of the
// 10 seeds), by the applied history (index 3 applied twice with other bytes: seed 10), else it
// would be by the acknowledged puts missing from the stores.
TEST(AgentMutation, EveryDiskWipedIsCaught) {
  int caught = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    AgentRun run(seed, "EveryDiskWipedIsCaught", false);
    for (int i = 1; i <= 3; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.bootstrap_expect = 3;
      if (i > 1) spec.join = {LanAddress(1)};
      run.Add(spec);
    }
    ASSERT_TRUE(run.RunUntil([&] { return run.SteadyLeader().has_value(); }, absl::Seconds(30))) << seed;
    run.StartWorkload(absl::Milliseconds(50));
    run.RunUntil([&] { return run.puts_acked() >= 20; }, absl::Seconds(20));
    ASSERT_GE(run.puts_acked(), 20u) << seed;
    for (int i = 1; i <= 3; ++i) run.RestartWiped(i);
    EXPECT_FALSE(run.Settle(absl::Seconds(60))) << seed;
    if (run.checker().failed()) caught++;
    std::printf("wiped: %s\n", run.checker().Report().c_str());
  }
  EXPECT_EQ(caught, 10);
}

// The acknowledged-write check reads the stores it is handed: the puts one cluster acknowledged
// are reported missing from another cluster's servers, and found on their own.
TEST(AgentMutation, AcknowledgedPutsAreLookedUpInTheStores) {
  auto cluster = [](uint64_t seed, int puts_min) {
    auto run = std::make_unique<AgentRun>(seed, "AcknowledgedPutsAreLookedUpInTheStores", false);
    for (int i = 1; i <= 3; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.bootstrap_expect = 3;
      if (i > 1) spec.join = {LanAddress(1)};
      run->Add(spec);
    }
    run->RunUntil([&] { return run->SteadyLeader().has_value(); }, absl::Seconds(30));
    if (puts_min > 0) run->StartWorkload(absl::Milliseconds(50));
    run->RunUntil([&] { return static_cast<int>(run->puts_acked()) >= puts_min; }, absl::Seconds(20));
    run->StopWorkload();
    run->RunFor(absl::Seconds(2));
    return run;
  };
  std::unique_ptr<AgentRun> written = cluster(1, 20);
  std::unique_ptr<AgentRun> empty = cluster(2, 0);
  auto servers = [](AgentRun& run) {
    std::vector<std::pair<NodeId, const agent::AgentMachine*>> out;
    for (int i : run.up_indexes()) out.emplace_back(run.node(i), run.agent(i));
    return out;
  };
  ASSERT_GE(written->checker().acknowledged(), 20u);
  written->checker().CheckAcknowledgedPresent(servers(*written), written->sim().now());
  EXPECT_FALSE(written->checker().failed()) << written->checker().failure();
  written->checker().CheckAcknowledgedPresent(servers(*empty), written->sim().now());
  EXPECT_NE(written->checker().failure().find("is missing on"), std::string::npos) << written->checker().failure();
}

// Without a switch the same seeds hold (the catches above are the switches', not noise).
TEST(AgentMutation, SameSeedsHoldWithoutASwitch) {
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    ScenarioConfig c;
    c.scenario = Scenario::kCrashLoop;
    c.seed = seed;
    ScenarioResult r = RunScenario(c);
    EXPECT_TRUE(r.outcome.ok) << r.outcome.summary << "\n" << r.outcome.report;
  }
}

}  // namespace
}  // namespace muster::agent_sim
