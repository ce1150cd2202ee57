#include "tests/fuzz/fuzz_loop.h"

#include "absl/time/clock.h"
#include "tests/fuzz/mutator.h"

namespace muster::fuzz {
namespace {
std::string* current = new std::string();  // never freed: read from a signal handler
}  // namespace

const std::string& CurrentInput() { return *current; }

LoopResult RunLoop(FuzzTarget& target, const LoopOptions& options) {
  LoopResult result;
  Mutator mutator(options.seed);
  const absl::Time deadline = absl::Now() + options.duration;
  while (result.inputs < options.inputs_max) {
    *current = mutator.Next(target.corpus());
    target.RunOne(*current);
    ++result.inputs;
    if (result.inputs % options.reset_every == 0) {
      if (std::string v = target.CheckBounds(); !v.empty()) {
        result.bound_violation = v;
        return result;
      }
      result.resident_bytes_max = std::max(result.resident_bytes_max, ResidentBytes());
      if (absl::Now() >= deadline) break;  // keep the last victim for Describe()
      target.Reset();
    }
  }
  result.resident_bytes_max = std::max(result.resident_bytes_max, ResidentBytes());
  return result;
}

}  // namespace muster::fuzz
