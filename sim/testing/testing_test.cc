// The harness library on the simulator's own test machine: a failing checker reports the seed
// and the repro command, the phases end where they should, swarm knobs are listed with their
// docs, the seed loop counts failures, and faults are counted.
#include <cstdio>

#include "gtest/gtest.h"
#include "sim/chatter_machine.h"
#include "sim/testing/checker.h"
#include "sim/testing/faults.h"
#include "sim/testing/phases.h"
#include "sim/testing/seed_loop.h"
#include "sim/testing/step_observers.h"
#include "sim/testing/swarm.h"

namespace muster::sim::testing {
namespace {

TEST(CheckerBase, KeepsTheFirstFailureWithSeedAndRepro) {
  CheckerBase c(42, "bazel run //x:y -- --seed 42");
  EXPECT_FALSE(c.failed());
  EXPECT_EQ(c.Report(), "");
  c.Fail(SimEpoch() + absl::Seconds(2), "two leaders in term 3");
  c.Fail(SimEpoch() + absl::Seconds(3), "a consequence");
  EXPECT_TRUE(c.failed());
  EXPECT_EQ(c.failure(), "at t=2s: two leaders in term 3");
  EXPECT_EQ(c.Report(), "FAIL seed=42 at t=2s: two leaders in term 3\n  reproduce: bazel run //x:y -- --seed 42");
}

TEST(SwarmDraw, SameSeedSameKnobsEachListedWithItsDoc) {
  auto draw = [](uint64_t seed) {
    SwarmDraw d(seed);
    d.OneOf("servers", "cluster size", {3, 5, 7});
    d.Chance("pre_vote", "raft's pre-vote", 0.5);
    d.UniformDuration("jitter", "mean link jitter", absl::Milliseconds(1), absl::Milliseconds(5));
    d.Fixed("datagram", "set by a flag", true);
    return d;
  };
  SwarmDraw a = draw(7), b = draw(7);
  EXPECT_EQ(a.Describe(), b.Describe());
  EXPECT_NE(a.Describe().find("datagram=on"), std::string::npos);
  EXPECT_NE(a.Knobs().find("servers: cluster size"), std::string::npos);
  bool some_differ = false;
  for (uint64_t s = 8; s < 20; ++s) some_differ |= draw(s).Describe() != a.Describe();
  EXPECT_TRUE(some_differ);
}

TEST(SeedLoop, CountsFailuresAndRemembersTheFirst) {
  std::FILE* out = std::tmpfile();
  LoopSummary s = RunSeeds({10, 5}, [](uint64_t seed) {
    SeedOutcome o;
    o.ok = seed % 2 == 0;
    o.summary = "seed=" + std::to_string(seed);
    o.report = "FAIL seed=" + std::to_string(seed);
    return o;
  }, out);
  std::fclose(out);
  EXPECT_EQ(s.runs, 5u);
  EXPECT_EQ(s.failed, 2u);  // 11 and 13
  EXPECT_EQ(s.first_failed_seed, 11u);
}

TEST(SeedLoop, FlagsAndEnvironment) {
  const char* argv[] = {"sim", "--seeds", "30", "--first", "5", "--unsafe", "vote", "--servers", "3"};
  HarnessFlags f = ParseHarnessFlags(9, const_cast<char**>(argv));
  EXPECT_EQ(f.error, "");
  EXPECT_EQ(f.seeds.first, 5u);
  EXPECT_EQ(f.seeds.count, 30u);
  EXPECT_EQ(f.unsafe, "vote");
  ASSERT_EQ(f.rest.size(), 2u);
  EXPECT_EQ(f.rest[0], "--servers");
  const char* bad[] = {"sim", "--seed", "x"};
  EXPECT_NE(ParseHarnessFlags(3, const_cast<char**>(bad)).error, "");
  setenv("LIBTEST_SEEDS", "7", 1);
  setenv("LIBTEST_SEED", "100", 1);
  SeedRange r = SeedsFromEnv("LIBTEST", {1, 200});
  EXPECT_EQ(r.first, 100u);
  EXPECT_EQ(r.count, 7u);
  EXPECT_EQ(SeedsFromEnv("LIBTEST_NONE", {1, 200}).count, 200u);
}

// A tiny harness on the chatter machine: two nodes; safety with a partition, then liveness
// (after healing, node 2 must hear node 1 again).
SeedOutcome ChatterRun(uint64_t seed, bool never_heal) {
  Simulator sim(seed);
  CheckerBase checker(seed, "chatter --seed " + std::to_string(seed));
  StepObservers observers(sim, checker, 1'000'000);
  uint64_t steps_seen = 0;
  observers.Add([&](NodeId, const Input&, const Effects&) { ++steps_seen; });
  ChatterConfig c1, c2;
  c1.peers = {"n2"};
  c2.peers = {"n1"};
  NodeId a = sim.AddNode(ChatterMachine::Factory(c1));
  NodeId b = sim.AddNode(ChatterMachine::Factory(c2));
  Rng rng(seed);
  FaultCounts counts;
  sim.After(absl::Milliseconds(100), [&] { InjectPartition(sim, rng, {a, b}, a, &counts); });
  size_t heard_at_heal = 0;
  Phases p;
  p.safety = absl::Seconds(1);
  p.liveness_budget = absl::Seconds(2);
  p.heal = [&] {
    if (!never_heal) sim.network().Heal();
    heard_at_heal = static_cast<ChatterMachine*>(sim.machine(b))->received().size();
  };
  p.reached = [&] { return static_cast<ChatterMachine*>(sim.machine(b))->received().size() > heard_at_heal + 10; };
  p.diagnose = [] { return std::string("n2 hears nothing from n1"); };
  RunPhases(sim, checker, p);
  SeedOutcome o;
  o.ok = !checker.failed();
  o.report = checker.Report();
  o.fingerprint = sim.fingerprint();
  counts.TakeNetworkStats(sim);
  o.summary = "steps=" + std::to_string(steps_seen) + " " + counts.Describe();
  return o;
}

TEST(Phases, SafetyThenLivenessAndADiagnosisWhenTheGoalIsMissed) {
  SeedOutcome good = ChatterRun(3, false);
  EXPECT_TRUE(good.ok) << good.report;
  SeedOutcome bad = ChatterRun(3, true);
  ASSERT_FALSE(bad.ok);
  EXPECT_NE(bad.report.find("FAIL seed=3"), std::string::npos) << bad.report;
  EXPECT_NE(bad.report.find("n2 hears nothing from n1"), std::string::npos) << bad.report;
  EXPECT_NE(bad.report.find("reproduce: chatter --seed 3"), std::string::npos) << bad.report;
}

TEST(Determinism, ASeedRunsTheSameWayTwice) {
  for (uint64_t seed : {1, 2, 3}) {
    EXPECT_EQ(CheckDeterministic(seed, [](uint64_t s) { return ChatterRun(s, false); }), "");
  }
}

}  // namespace
}  // namespace muster::sim::testing
