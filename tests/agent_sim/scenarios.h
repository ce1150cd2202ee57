// The agent's scenarios in the simulator, each a function of the seed on AgentRun: staggered
// starts, a partition during discovery, a restart after bootstrap (from the log or a snapshot),
// mismatched -bootstrap-expect, leader kill, late servers promoted by autopilot, dead-server
// cleanup, a crash loop with torn writes, a forward answered across a restart, and the leader
// partitioned away while reads go through it. Each runs its story with a workload of puts and
// reads (every mode) through random servers, asserts its own milestones, then settles (heal,
// one leader, everyone caught up, one more write) and runs the final checks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/agent/agent_machine.h"
#include "sim/testing/faults.h"
#include "sim/testing/seed_loop.h"

namespace muster::agent_sim {

enum class Scenario {
  kStaggeredStarts,
  kPartitionDuringDiscovery,
  kRestartAfterBootstrap,
  kMismatchedExpect,
  kLeaderKill,
  kLateServersPromoted,
  kDeadServerCleanup,
  kCrashLoop,
  // A forward's answer must not reach the forwarder's next life (fixed in 2688150).
  kForwardAcrossRestart,
  // The leader cut off (every partition shape) while reads go through it.
  kLeaderPartitioned,
};

const std::vector<Scenario>& AllScenarios();
std::string_view ScenarioName(Scenario s);
// false if `name` names none.
bool ScenarioByName(std::string_view name, Scenario* out);

struct ScenarioConfig {
  Scenario scenario = Scenario::kStaggeredStarts;
  uint64_t seed = 1;
  bool verbose = false;
  // Applied to every agent's options after the scenario's own (the mutation check's unsafe
  // switches).
  std::function<void(agent::AgentMachineOptions&)> mutate;
  std::string unsafe_name;  // for the repro line
};

struct ScenarioResult {
  sim::testing::SeedOutcome outcome;
  std::vector<uint64_t> final_hashes;  // each server up at the end: its store's ContentHash
  sim::testing::FaultCounts faults;    // network counts included
  uint64_t puts_acked = 0;
  uint64_t snapshot_installs = 0;
  Duration virtual_time;
};

ScenarioResult RunScenario(const ScenarioConfig& config);

// The command that reruns one seed of one scenario.
std::string ReproCommand(const ScenarioConfig& config);

}  // namespace muster::agent_sim
