// The `sim` binary's runs (generated_run.h): each fault flag makes its fault happen (counted
// by what the run really did, not by the probability set), a wiped restart comes back empty
// and is caught up by the end, a seed runs the same way twice, the delay forms parse, the
// repro line spells out every parameter, and a raft rule switched off is caught through the
// generated runs as through the scenarios.
#include "tests/agent_sim/generated_run.h"

#include <vector>

#include "gtest/gtest.h"
#include "tests/agent_sim/unsafe_switches.h"

namespace muster::agent_sim {
namespace {

// Seeds per fault kind: each kind must show up in their sum (a few seconds in all).
constexpr uint64_t kSeedsPerKind = 4;

GeneratedConfig Base() {
  GeneratedConfig c;
  c.servers = 3;
  c.clients = 1;
  c.duration = absl::Seconds(15);
  return c;
}

// The fault counts summed over seeds 1..kSeedsPerKind of `c`; every run must pass.
sim::testing::FaultCounts RunSeeds(GeneratedConfig c, int* wiped_empty = nullptr) {
  sim::testing::FaultCounts sum;
  for (uint64_t seed = 1; seed <= kSeedsPerKind; ++seed) {
    c.seed = seed;
    GeneratedResult r = RunGenerated(c, nullptr);
    EXPECT_TRUE(r.outcome.ok) << r.outcome.report;
    EXPECT_GT(r.puts_acked, 0u) << r.outcome.summary;
    EXPECT_GT(r.history_ops, 0u) << r.outcome.summary;
    sum.Add(r.faults);
    if (wiped_empty != nullptr) *wiped_empty += r.wiped_restarts_empty;
  }
  return sum;
}

// The servers' join graph a generated run starts with is connected, staggered or not (each
// server joins among those started before it, the first one a later one): the generator once
// drew joins among all five servers and split gossip in two for good (tests/seeds/
// staggered_join_graph.scenario; its split graph: tests/scenarios/must_fail/).
TEST(GeneratedRun, TheServersJoinGraphIsConnected) {
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    GeneratedConfig c = Base();
    c.seed = seed;
    c.servers = 1 + static_cast<int>(seed % 7);
    c.bootstrap_expect = seed % 2 == 0 ? 0 : c.servers;
    const Schedule s = InitialSchedule(c);
    std::vector<int> pool(c.servers + 1);  // union-find over the servers
    for (int i = 1; i <= c.servers; ++i) pool[i] = i;
    auto root = [&](int i) {
      while (pool[i] != i) i = pool[i] = pool[pool[i]];
      return i;
    };
    int starts = 0;
    for (const Action& a : s.actions) {
      if (a.kind != ActionKind::kStart || !s.is_server(a.node.index)) continue;
      starts++;
      for (int j : a.join) {
        if (s.is_server(j)) pool[root(a.node.index)] = root(j);
      }
    }
    ASSERT_EQ(starts, c.servers) << seed;
    for (int i = 2; i <= c.servers; ++i) {
      ASSERT_EQ(root(i), root(1)) << "seed " << seed << ": " << c.servers << " servers"
                                  << (c.bootstrap_expect > 0 ? " staggered" : "") << ", s" << i << " not joined to s1";
    }
  }
}

TEST(GeneratedRun, NoFaultFlagNoFault) {
  sim::testing::FaultCounts f = RunSeeds(Base());
  EXPECT_EQ(f.crashes + f.pauses + f.blocked + f.lost + f.duplicated + f.clock_steps, 0u) << f.Describe();
}

TEST(GeneratedRun, PartitionMakesEveryShape) {
  GeneratedConfig c = Base();
  c.partition = true;
  sim::testing::FaultCounts f = RunSeeds(c);
  EXPECT_GT(f.partitions_symmetric, 0u) << f.Describe();
  EXPECT_GT(f.partitions_one_way, 0u) << f.Describe();
  EXPECT_GT(f.isolations, 0u) << f.Describe();
  EXPECT_GT(f.bridges, 0u) << f.Describe();
  EXPECT_GT(f.blocked, 0u) << f.Describe();
  EXPECT_EQ(f.crashes, 0u);
}

TEST(GeneratedRun, PlainKillsTearNothing) {
  GeneratedConfig c = Base();
  c.kill = KillMode::kPlain;
  sim::testing::FaultCounts f = RunSeeds(c);
  EXPECT_GT(f.crashes, 0u) << f.Describe();
  EXPECT_EQ(f.torn_crashes, 0u) << f.Describe();
  EXPECT_EQ(f.wipes, 0u) << f.Describe();
}

TEST(GeneratedRun, TornKillsTearAnUnsyncedWrite) {
  GeneratedConfig c = Base();
  c.kill = KillMode::kTorn;
  sim::testing::FaultCounts f = RunSeeds(c);
  EXPECT_GT(f.torn_crashes, 0u) << f.Describe();
}

TEST(GeneratedRun, AWipedServerComesBackEmptyAndCatchesUp) {
  GeneratedConfig c = Base();
  c.kill = KillMode::kWipe;
  c.duration = absl::Seconds(30);
  int empty = 0;
  sim::testing::FaultCounts f = RunSeeds(c, &empty);
  EXPECT_GT(f.wipes, 0u) << f.Describe();
  // Each came back with no store and no raft log; the runs passing means it was in the
  // leader's configuration and at its store index by the end (AgentRun::Settle).
  EXPECT_EQ(static_cast<uint64_t>(empty), f.wipes);
}

TEST(GeneratedRun, PausesLossDuplicationAndClockSteps) {
  GeneratedConfig c = Base();
  c.pause = true;
  c.loss = 0.05;
  c.dup = 0.05;
  c.clock_skew = true;
  sim::testing::FaultCounts f = RunSeeds(c);
  EXPECT_GT(f.pauses, 0u) << f.Describe();
  EXPECT_GT(f.lost, 0u) << f.Describe();
  EXPECT_GT(f.duplicated, 0u) << f.Describe();
  EXPECT_GT(f.clock_steps, 0u) << f.Describe();
}

TEST(GeneratedRun, StaggeredStartsWithBootstrapExpectAndCas) {
  GeneratedConfig c = Base();
  c.servers = 5;
  c.clients = 2;
  c.bootstrap_expect = 5;
  c.workload = WorkloadKind::kCas;
  c.partition = true;
  for (uint64_t seed = 1; seed <= kSeedsPerKind; ++seed) {
    c.seed = seed;
    GeneratedResult r = RunGenerated(c, nullptr);
    EXPECT_TRUE(r.outcome.ok) << r.outcome.report;
    EXPECT_GT(r.cas_applied, 0u) << r.outcome.summary;
  }
}

TEST(GeneratedRun, ASeedRunsTheSameWayTwice) {
  GeneratedConfig c;
  c.swarm = true;
  c.seed = 77;
  const GeneratedResult a = RunGenerated(c, nullptr), b = RunGenerated(c, nullptr);
  EXPECT_EQ(a.outcome.fingerprint, b.outcome.fingerprint);
  EXPECT_EQ(a.outcome.summary, b.outcome.summary);
  c.seed = 78;
  EXPECT_NE(RunGenerated(c, nullptr).outcome.fingerprint, a.outcome.fingerprint);
}

TEST(GeneratedRun, DelayForms) {
  DelaySpec d;
  std::string error;
  ASSERT_TRUE(ParseDelay("uniform:1ms-21ms", &d, &error)) << error;
  EXPECT_EQ(d.latency_min, absl::Milliseconds(1));
  EXPECT_EQ(d.jitter_mean, absl::Milliseconds(10));
  ASSERT_TRUE(ParseDelay("exp:2ms+5ms", &d, &error)) << error;
  EXPECT_EQ(d.latency_min, absl::Milliseconds(2));
  EXPECT_EQ(d.jitter_mean, absl::Milliseconds(5));
  ASSERT_TRUE(ParseDelay("fixed:3ms", &d, &error)) << error;
  EXPECT_EQ(d.jitter_mean, absl::ZeroDuration());
  EXPECT_FALSE(ParseDelay("uniform:20ms-1ms", &d, &error));
  EXPECT_FALSE(ParseDelay("normal:1ms", &d, &error));
  EXPECT_NE(error.find("uniform:LO-HI"), std::string::npos);
}

TEST(GeneratedRun, TheReproLineSpellsOutEveryParameter) {
  GeneratedConfig c = Base();
  c.seed = 9;
  c.partition = true;
  c.kill = KillMode::kTorn;
  c.pause = true;
  c.loss = 0.25;
  c.dup = 0.5;
  std::string error;
  ASSERT_TRUE(ParseDelay("uniform:1ms-20ms", &c.delay, &error));
  c.clock_skew = true;
  c.bootstrap_expect = 3;
  c.workload = WorkloadKind::kCas;
  const std::string line = ReproCommand(c);
  for (const char* part : {"--seed 9", "--servers 3", "--clients 1", "--partition", "--kill=torn", "--pause",
                           "--loss 0.25", "--dup 0.5", "--delay uniform:1ms-20ms", "--clock-skew",
                           "--bootstrap-expect 3", "--workload cas", "--rate 20", "--duration 15s"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " missing from " << line;
  }
  c.swarm = true;
  EXPECT_EQ(ReproCommand(c), "bazel run //cmd:sim -- --seed 9 --swarm --duration 15s --trace short");
}

// With one raft rule off, the generated runs fail on some seeds (each with its repro line).
TEST(GeneratedRun, AVoterThatVotesTwiceIsCaught) {
  const UnsafeSwitch* u = FindUnsafeSwitch("vote_twice_in_term");
  ASSERT_NE(u, nullptr);
  GeneratedConfig c = Base();
  c.kill = KillMode::kTorn;
  c.pause = true;
  c.unsafe_name = std::string(u->name);
  c.mutate = u->apply;
  int caught = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    c.seed = seed;
    GeneratedResult r = RunGenerated(c, nullptr);
    if (r.outcome.ok) continue;
    caught++;
    EXPECT_NE(r.outcome.report.find("reproduce: bazel run //cmd:sim -- --seed "), std::string::npos) << r.outcome.report;
    EXPECT_NE(r.outcome.report.find("--unsafe vote_twice_in_term"), std::string::npos) << r.outcome.report;
    EXPECT_NE(r.outcome.report.find("last events:"), std::string::npos) << r.outcome.report;
  }
  EXPECT_GE(caught, 1);
}

}  // namespace
}  // namespace muster::agent_sim
