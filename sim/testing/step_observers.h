// Several observers on one Simulator (it has one slot): each checker, counter and fault
// trigger adds itself, and they run in the order added after every machine step. A step
// budget ends a run that has stopped making sense (a message storm) through the checker,
// with the seed, instead of running forever.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "sim/simulator.h"
#include "sim/testing/checker.h"

namespace muster::sim::testing {

class StepObservers {
 public:
  // Installs itself as `sim`'s observer; `checker` gets the step-budget failure.
  StepObservers(Simulator& sim, CheckerBase& checker, uint64_t steps_max);
  void Add(Simulator::StepObserver observer);
  uint64_t steps() const { return steps_; }

 private:
  Simulator& sim_;
  CheckerBase& checker_;
  uint64_t steps_max_;
  uint64_t steps_ = 0;
  std::vector<Simulator::StepObserver> observers_;
};

}  // namespace muster::sim::testing
