// Simulation: Lifeguard pays for itself. One node's message processing is held back by
// 2-5 probe timeouts per message for 30 s (its timers keep running: a blocked receive
// loop); with Lifeguard off it accuses healthy peers it cannot hear, and its suspicions
// spread; with Lifeguard on, its missing nacks raise its health score (longer probes) and
// its lone suspicions start at the maximum timeout, so refutations arrive in time.
// The full 1,000-seed table is bench/gossip_lifeguard; this runs GOSSIP_SEEDS or 300.
#include <algorithm>
#include <cstdio>

#include "tests/gossip_sim/lifeguard_scenario.h"
#include "tests/gossip_sim/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

PauseOutcome Sum(bool lifeguard, const PauseScenario& sc, int seeds, uint64_t first_seed) {
  PauseOutcome t;
  for (int i = 0; i < seeds; ++i) {
    PauseOutcome o = RunPauseScenario(first_seed + i, lifeguard, sc);
    EXPECT_TRUE(o.converged) << "seed " << first_seed + i;
    t.false_suspicions += o.false_suspicions;
    t.false_declarations += o.false_declarations;
    t.false_failed_events += o.false_failed_events;
    t.healthy_declarations += o.healthy_declarations;
    t.healthy_failed_events += o.healthy_failed_events;
    t.declarations_by_stalled += o.declarations_by_stalled;
  }
  return t;
}

// Issue 10 item 15: this test was "50 times fewer", asserted as off >= 50 * on with on = 0,
// which any off > 0 passes. What is measured is none with Lifeguard and hundreds without;
// it now asserts exactly that, per seed, with the margins stated.
TEST(LifeguardTest, SlowInboxNoHealthyMemberIsDeclaredFailedWithLifeguardAndManyAreWithout) {
  const int seeds = SeedCount(300);
  PauseScenario sc;
  sc.mode = PauseScenario::Mode::kSlowInbox;
  PauseOutcome off = Sum(false, sc, seeds, FirstSeed(70'000));
  PauseOutcome on = Sum(true, sc, seeds, FirstSeed(70'000));
  std::printf("slow inbox, %d seeds: healthy members declared failed: off=%llu on=%llu; "
              "member-failed events about healthy members: off=%llu on=%llu; "
              "all declarations (incl. the slow node itself): off=%llu on=%llu; false suspicions: off=%llu on=%llu\n",
              seeds, (unsigned long long)off.healthy_declarations, (unsigned long long)on.healthy_declarations,
              (unsigned long long)off.healthy_failed_events, (unsigned long long)on.healthy_failed_events,
              (unsigned long long)off.false_declarations, (unsigned long long)on.false_declarations,
              (unsigned long long)off.false_suspicions, (unsigned long long)on.false_suspicions);
  // With Lifeguard: none (1,000 seeds: none either).
  EXPECT_EQ(on.healthy_declarations, 0u);
  EXPECT_EQ(on.healthy_failed_events, 0u);
  // Without: seeds 70000-70299 gave 428 declarations (1.43 a seed; 1,000 seeds 1.45) and 666
  // member-failed events (2.2 a seed). Bounds: 1 and 1.5 a seed, ~30% under.
  EXPECT_GE(off.healthy_declarations, static_cast<uint64_t>(seeds));
  EXPECT_GE(off.healthy_failed_events, static_cast<uint64_t>(seeds) * 3 / 2);
  // Counting the slow node itself too (others declaring the node that cannot hear them
  // failed, which is arguably right): off 529, on 10 (53x; 1,000 seeds 1,673 / 22 = 76x).
  // Each side on its own, so neither half can hide behind the other: off at least 1.4 a
  // seed (1.76 measured), on at most 1 per 15 seeds (1 per 30 measured, 1 per 45 over 1,000).
  EXPECT_GE(off.false_declarations, static_cast<uint64_t>(seeds) * 14 / 10);
  EXPECT_LE(on.false_declarations * 15, static_cast<uint64_t>(seeds));
  // The slow node's own suspicions are tempered too (its probes stretch): off 12,532, on
  // 4,530 (2.8x). Bound: 2x.
  EXPECT_LT(on.false_suspicions * 2, off.false_suspicions);
}

TEST(LifeguardTest, OneStallOfTwoToFiveProbeTimeoutsIsSurvivedByBoth) {
  // A single whole-process stall (Simulator::Pause) of 1-2.5 s is shorter than the 4 s
  // minimum suspicion timeout: healthy members are never declared failed in either mode.
  // The stalled node itself is, now and then, without Lifeguard: a suspecter that misses
  // its refutation lets the fixed 4 s timer run out. With Lifeguard, its suspicions start
  // longer and the buddy system tells it directly; the refuter also answers the accuser
  // directly (both modes). 1,000 seeds (bench/gossip_bench): off 24, on 0.
  const int seeds = SeedCount(300);
  PauseScenario sc;
  PauseOutcome off = Sum(false, sc, seeds, FirstSeed(80'000));
  PauseOutcome on = Sum(true, sc, seeds, FirstSeed(80'000));
  std::printf("one stall, %d seeds: declarations off=%llu on=%llu (about healthy members: off=%llu on=%llu)\n", seeds,
              (unsigned long long)off.false_declarations, (unsigned long long)on.false_declarations,
              (unsigned long long)off.healthy_declarations, (unsigned long long)on.healthy_declarations);
  EXPECT_EQ(off.healthy_declarations, 0u);
  EXPECT_EQ(on.healthy_declarations, 0u);
  // The stalled node itself. Seeds 80000-80999: off 21, on 1 (seed 80916, also before issue
  // 10's gossip changes); the default 300: off 3, on 0. (An "on <= off" check here was
  // implied by the "on == 0" beside it, which held for the default seeds only.) Bounds:
  // off 1 per 20 seeds, about twice its rate; on 1 per 300 seeds (1 per 1,000 measured), so
  // at most 1 in the default run and 3 in 1,000.
  EXPECT_LE(off.false_declarations * 20, static_cast<uint64_t>(seeds));
  EXPECT_LE(on.false_declarations * 300, static_cast<uint64_t>(std::max(seeds, 300)));
}

}  // namespace
}  // namespace muster::gossip::testing
