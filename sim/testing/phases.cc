#include "sim/testing/phases.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::sim::testing {

PhaseReached RunPhases(Simulator& sim, CheckerBase& checker, const Phases& phases) {
  const Time safety_end = sim.now() + phases.safety;
  while (sim.now() < safety_end && !checker.failed()) {
    if (!sim.Step()) break;
  }
  if (checker.failed()) return PhaseReached::kSafetyFailed;
  if (phases.heal) phases.heal();
  const Time deadline = sim.now() + phases.liveness_budget;
  while (!checker.failed()) {
    if (phases.reached && phases.reached()) return PhaseReached::kDone;
    if (sim.now() >= deadline) {
      checker.Fail(sim.now(), absl::StrCat("liveness: not reached within ", absl::FormatDuration(phases.liveness_budget),
                                           " after healing", phases.diagnose ? ": " + phases.diagnose() : ""));
      break;
    }
    if (phases.drive) phases.drive();
    if (phases.poll > absl::ZeroDuration()) {
      sim.RunUntil(std::min(deadline, sim.now() + phases.poll));
    } else if (!sim.Step()) {
      // Nothing left to happen: the goal cannot be reached any more.
      checker.Fail(sim.now(), absl::StrCat("liveness: nothing left to run after healing",
                                           phases.diagnose ? ": " + phases.diagnose() : ""));
      break;
    }
  }
  return PhaseReached::kLivenessFailed;
}

}  // namespace muster::sim::testing
