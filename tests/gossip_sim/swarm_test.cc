// The gossip swarm in `make test`: 1,000 seeds (sharded), each a safety phase with faults and a
// liveness phase, checkers after every step; and the kill matrix: each unsafe_* switch makes
// the swarm fail within the first seeds with its checker's message, while the same seeds pass
// without it (the 1,000 above include them).
#include "tests/gossip_sim/swarm.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/testing/seed_loop.h"

namespace muster::gossip::testing {
namespace {

constexpr uint64_t kFirstSeed = 1;
// GOSSIP_SWARM_SEEDS=K and GOSSIP_SWARM_SEED=F run another range (sim/testing's convention).
const sim::testing::SeedRange kRange = sim::testing::SeedsFromEnv("GOSSIP_SWARM", {kFirstSeed, 1000});

sim::testing::SeedOutcome Outcome(uint64_t seed) {
  SwarmConfig c;
  c.seed = seed;
  const SwarmResult r = RunSwarm(c);
  return sim::testing::SeedOutcome{r.ok, r.summary, r.report, r.fingerprint};
}

class Seeds : public ::testing::TestWithParam<uint64_t> {};

TEST_P(Seeds, SafetyThenLiveness) {
  const sim::testing::SeedOutcome o = Outcome(GetParam());
  EXPECT_TRUE(o.ok) << o.summary << "\n" << o.report;
}

INSTANTIATE_TEST_SUITE_P(Gossip, Seeds, ::testing::Range<uint64_t>(kRange.first, kRange.first + kRange.count));

TEST(GossipSwarm, SameSeedSameRun) {
  for (uint64_t seed : {1u, 2u, 3u}) EXPECT_EQ(sim::testing::CheckDeterministic(seed, Outcome), "");
}

// The first 50 seeds between them use every knob, so a knob that stopped working (a fault
// that never fires) shows here rather than as a swarm that silently checks less.
TEST(GossipSwarm, EveryKnobIsExercised) {
  absl::btree_map<std::string, int> total;
  for (uint64_t seed = kFirstSeed; seed < kFirstSeed + 50; ++seed) {
    SwarmConfig c;
    c.seed = seed;
    for (const auto& [kind, n] : RunSwarm(c).exercised) total[kind] += n;
  }
  for (const char* kind : {"partition", "one-way partition", "isolation", "kill", "restart", "pause", "leave",
                           "user event", "final kill", "lifeguard off", "pool over 20", "loss", "duplication"}) {
    EXPECT_GT(total[kind], 0) << kind << " never happened in 50 seeds";
  }
}

TEST(GossipSwarm, UnknownSwitchIsAFailureNotACrash) {
  SwarmConfig c;
  c.unsafe = "no-such-rule";
  const SwarmResult r = RunSwarm(c);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(absl::StrContains(r.failure, "no-such-rule"));
}

// Rule -> switch -> the checker that must catch it, within the first kMatrixSeeds seeds.
struct Kill {
  const char* unsafe;
  const char* checker;  // the failure names it: "at t=...: <checker>: ..."
};

constexpr uint64_t kMatrixSeeds = 20;

class KillMatrix : public ::testing::TestWithParam<Kill> {};

TEST_P(KillMatrix, SwitchIsCaughtWithinTheFirstSeeds) {
  const Kill k = GetParam();
  ASSERT_NE(FindUnsafeSwitch(k.unsafe), nullptr);
  for (uint64_t seed = kFirstSeed; seed < kFirstSeed + kMatrixSeeds; ++seed) {
    SwarmConfig on;
    on.seed = seed;
    on.unsafe = k.unsafe;
    const SwarmResult r = RunSwarm(on);
    if (r.ok) continue;
    EXPECT_TRUE(absl::StrContains(r.failure, absl::StrCat(": ", k.checker, ":")))
        << "caught by another checker than expected:\n" << r.report;
    SwarmConfig off = on;
    off.unsafe.clear();
    const SwarmResult clean = RunSwarm(off);
    EXPECT_TRUE(clean.ok) << "the seed fails without the switch too:\n" << clean.report;
    return;
  }
  ADD_FAILURE() << k.unsafe << " survived seeds " << kFirstSeed << ".." << kFirstSeed + kMatrixSeeds - 1;
}

INSTANTIATE_TEST_SUITE_P(Gossip, KillMatrix,
                         ::testing::Values(Kill{"refutation", "liveness"},
                                           Kill{"incarnation-order", "incarnation order"},
                                           Kill{"confirmations", "liveness"},
                                           Kill{"dead-final", "dead is final"},
                                           Kill{"intent-order", "intent order"},
                                           Kill{"event-dedup", "exactly-once"}),
                         [](const ::testing::TestParamInfo<Kill>& info) {
                           std::string name = info.param.unsafe;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace muster::gossip::testing
