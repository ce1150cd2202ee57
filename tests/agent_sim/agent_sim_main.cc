// The agent scenarios' harness binary, for sweeps longer than `make test` runs and for one
// seed's repro: agent_sim --scenario NAME|all [--seed S | --seeds K [--first F]] [--verbose]
// [--unsafe RULE] [--each] (a raft rule switched off: the checkers must catch it on some seeds).
#include <chrono>
#include <cstdio>
#include <string>

#include "tests/agent_sim/scenarios.h"
#include "tests/agent_sim/unsafe_switches.h"

int main(int argc, char** argv) {
  using namespace muster;
  sim::testing::HarnessFlags flags = sim::testing::ParseHarnessFlags(argc, argv);
  std::vector<agent_sim::Scenario> scenarios = agent_sim::AllScenarios();
  bool each = false;  // --each: every seed's summary line
  for (size_t i = 0; i < flags.rest.size(); ++i) {
    if (flags.rest[i] == "--each") {
      each = true;
    } else if (flags.rest[i] == "--scenario" && i + 1 < flags.rest.size()) {
      const std::string name = flags.rest[++i];
      agent_sim::Scenario s;
      if (name == "all") continue;
      if (!agent_sim::ScenarioByName(name, &s)) {
        std::fprintf(stderr, "unknown --scenario %s\n", name.c_str());
        return 2;
      }
      scenarios = {s};
    } else {
      flags.error = "unknown argument " + flags.rest[i];
    }
  }
  if (!flags.error.empty()) {
    std::fprintf(stderr, "%s\nusage: agent_sim --scenario NAME|all [--seed S | --seeds K [--first F]] [--verbose] "
                         "[--unsafe RULE] [--each]\n", flags.error.c_str());
    return 2;
  }
  const agent_sim::UnsafeSwitch* unsafe = nullptr;
  if (!flags.unsafe.empty()) {
    unsafe = agent_sim::FindUnsafeSwitch(flags.unsafe);
    if (unsafe == nullptr) return sim::testing::RefuseUnknownUnsafe(flags.unsafe, agent_sim::UnsafeSwitches());
  }
  int failed = 0;
  for (agent_sim::Scenario scenario : scenarios) {
    const auto start = std::chrono::steady_clock::now();
    sim::testing::LoopSummary sum = sim::testing::RunSeeds(
        flags.seeds,
        [&](uint64_t seed) {
          agent_sim::ScenarioConfig c;
          c.scenario = scenario;
          c.seed = seed;
          c.verbose = flags.verbose;
          if (unsafe != nullptr) {
            c.unsafe_name = std::string(unsafe->name);
            c.mutate = unsafe->apply;
          }
          return agent_sim::RunScenario(c).outcome;
        },
        stdout, flags.single || each);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %.1f s wall\n", std::string(agent_sim::ScenarioName(scenario)).c_str(), seconds);
    failed += static_cast<int>(sum.failed);
  }
  return failed == 0 ? 0 : 1;
}
