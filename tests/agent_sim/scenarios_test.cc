// The agent's scenarios in `make test`: every scenario over its seeds (AGENT_SIM_SEEDS /
// AGENT_SIM_SEED pick another range, e.g. AGENT_SIM_SEEDS=2000 for a long sweep), each
// failure printed with the one command that reruns it; the claim that the faults really
// happened; and determinism (one seed twice: one fingerprint, one final state).
#include <cstdio>
#include <map>
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "sim/testing/seed_loop.h"
#include "tests/agent_sim/scenarios.h"

namespace muster::agent_sim {
namespace {

// 10 scenarios x 100 seeds = 1,000 seeds, about 15 s of CPU in all on this machine (two shards).
constexpr uint64_t kSeedsPerScenario = 100;

sim::testing::SeedRange Seeds() { return sim::testing::SeedsFromEnv("AGENT_SIM", {1, kSeedsPerScenario}); }

class EveryScenario : public ::testing::TestWithParam<Scenario> {};

TEST_P(EveryScenario, SeedsHold) {
  ScenarioConfig c;
  c.scenario = GetParam();
  sim::testing::FaultCounts faults;
  uint64_t acked = 0, installs = 0;
  Duration virtual_time;
  const sim::testing::LoopSummary sum = sim::testing::RunSeeds(
      Seeds(),
      [&](uint64_t seed) {
        c.seed = seed;
        ScenarioResult r = RunScenario(c);
        faults.Add(r.faults);
        acked += r.puts_acked;
        installs += r.snapshot_installs;
        virtual_time += r.virtual_time;
        return r.outcome;
      },
      stdout);
  std::printf("%s: %llu seeds, %llu puts acknowledged, %llu snapshot installs, %s virtual; faults: %s\n",
              std::string(ScenarioName(GetParam())).c_str(), static_cast<unsigned long long>(sum.runs),
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(installs),
              absl::FormatDuration(virtual_time).c_str(), faults.Describe().c_str());
  EXPECT_EQ(sum.failed, 0u) << "first failed seed " << sum.first_failed_seed << " (its repro is printed above)";
  EXPECT_GT(acked, 0u) << "no write acknowledged in any seed";
}

INSTANTIATE_TEST_SUITE_P(Agent, EveryScenario, ::testing::ValuesIn(AllScenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return std::string(ScenarioName(info.param));
                         });

// The fault kinds each scenario claims really happened over the default seeds: kills (torn
// ones too) in the crash loop, partitions of several shapes while servers discover each other,
// and a restarted server brought up to date by a snapshot.
TEST(AgentSim, FaultsHappen) {
  sim::testing::FaultCounts crash, partition;
  uint64_t installs = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    ScenarioConfig c;
    c.seed = seed;
    c.scenario = Scenario::kCrashLoop;
    crash.Add(RunScenario(c).faults);
    c.scenario = Scenario::kPartitionDuringDiscovery;
    partition.Add(RunScenario(c).faults);
    c.scenario = Scenario::kRestartAfterBootstrap;
    installs += RunScenario(c).snapshot_installs;
  }
  std::printf("crash loop: %s\npartitions: %s\nsnapshot installs after restarts: %llu\n", crash.Describe().c_str(),
              partition.Describe().c_str(), static_cast<unsigned long long>(installs));
  EXPECT_GT(crash.crashes, 50u);
  EXPECT_GT(crash.torn_crashes, 5u);
  EXPECT_GT(partition.blocked, 0u);
  EXPECT_GT(partition.partitions_symmetric + partition.partitions_one_way + partition.isolations + partition.bridges,
            5u);
  EXPECT_GT(installs, 0u);
}

TEST(AgentSim, SameSeedSameRun) {
  for (Scenario s : AllScenarios()) {
    ScenarioConfig c;
    c.scenario = s;
    c.seed = 11;
    ScenarioResult a = RunScenario(c), b = RunScenario(c);
    EXPECT_TRUE(a.outcome.ok) << a.outcome.summary << "\n" << a.outcome.report;
    EXPECT_EQ(a.outcome.fingerprint, b.outcome.fingerprint) << ScenarioName(s);
    EXPECT_EQ(a.final_hashes, b.final_hashes) << ScenarioName(s);
    EXPECT_FALSE(a.final_hashes.empty()) << ScenarioName(s);
    EXPECT_EQ(sim::testing::CheckDeterministic(c.seed, [&](uint64_t seed) {
                ScenarioConfig d = c;
                d.seed = seed;
                return RunScenario(d).outcome;
              }),
              "")
        << ScenarioName(s);
  }
}

}  // namespace
}  // namespace muster::agent_sim
