// Safety then liveness, the two phases of every simulated run (TigerBeetle's VOPR):
//  - safety: faults on, checkers after every step, for a fixed stretch of virtual time;
//  - liveness: the harness heals what its fault model promises to survive (a majority core,
//    a healed network), then the system must reach its goal within a budget, or the run
//    fails with the harness's diagnosis ("no leader among core {1,2,3} after 30s").
// A checker failure in either phase ends the run at once.
#pragma once

#include <functional>
#include <string>

#include "core/base/time.h"
#include "sim/simulator.h"
#include "sim/testing/checker.h"

namespace muster::sim::testing {

struct Phases {
  Duration safety = absl::Seconds(20);
  Duration liveness_budget = absl::Seconds(30);
  // How often, during liveness, `drive` runs and `reached` is asked; zero: after every event.
  Duration poll = absl::Milliseconds(100);
  // End of safety: stop faults, heal the core, restart what must run.
  std::function<void()> heal;
  // Liveness: nudges the system (send the write that must commit); may be empty.
  std::function<void()> drive;
  // The liveness goal.
  std::function<bool()> reached;
  // What was missing, for the failure message, when the budget ran out.
  std::function<std::string()> diagnose;
};

enum class PhaseReached { kSafetyFailed, kLivenessFailed, kDone };

// Runs both phases on `sim`; failures go to `checker`. Returns where the run ended.
PhaseReached RunPhases(Simulator& sim, CheckerBase& checker, const Phases& phases);

}  // namespace muster::sim::testing
