#include "sim/testing/step_observers.h"

#include "absl/strings/str_cat.h"

namespace muster::sim::testing {

StepObservers::StepObservers(Simulator& sim, CheckerBase& checker, uint64_t steps_max)
    : sim_(sim), checker_(checker), steps_max_(steps_max) {
  sim_.set_step_observer([this](NodeId id, const Input& input, const Effects& effects) {
    for (const auto& o : observers_) o(id, input, effects);
    if (++steps_ == steps_max_) {
      checker_.Fail(sim_.now(), absl::StrCat("more than ", steps_max_, " steps: a message storm?"));
    }
  });
}

void StepObservers::Add(Simulator::StepObserver observer) { observers_.push_back(std::move(observer)); }

}  // namespace muster::sim::testing
