// Shrinking a failing run (`sim --shrink`): from its schedule (a scenario file's, or what a
// generated run recorded), a search for a smaller schedule that still fails with the same
// seed — a shorter safety phase (first cut to just past the failure), fewer faults (delta
// debugging: halves, quarters, ... then one at a time, as Zeller's ddmin), fewer clients,
// fewer servers (the rest renumbered, bootstrap-expect lowered to match), then milder faults
// (a torn or wiped kill plain, a pause halved), repeated until nothing more can go or the
// runs' budget is spent. Each candidate is run again, in full and
// deterministically, by `fails`.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/base/time.h"
#include "tests/agent_sim/schedule.h"

namespace muster::agent_sim {

struct ShrinkResult {
  Schedule smallest;
  int runs = 0;                    // candidates run
  std::vector<std::string> steps;  // each accepted cut: "duration 20s -> 6s", "actions 31 -> 4", ...
};

// The faults of `s`: the actions the shrinker may drop (not starts, the network's settings or
// the workload; every fault and expectation).
size_t FaultCount(const Schedule& s);

// `s` without agent `index`: its start, the actions naming it only, its place in joins and
// groups; the agents after it renumbered; bootstrap-expect at most the servers left.
Schedule WithoutAgent(const Schedule& s, int index);

// `failing` must fail (its failure recorded at `failed_at`, since the run's start); `fails`
// runs a candidate and says whether it fails too. At most `runs_max` candidates.
ShrinkResult Shrink(const Schedule& failing, Duration failed_at, const std::function<bool(const Schedule&)>& fails,
                    int runs_max);

}  // namespace muster::agent_sim
