// Shrinking a failing run (`sim --shrink`): from its schedule (a scenario file's, or what a
// generated run recorded), a search for a smaller schedule that still fails with the same
// seed — a shorter safety phase (first cut to just past the failure), fewer faults (delta
// debugging: halves, quarters, ... then one at a time, as Zeller's ddmin), fewer clients,
// fewer servers (the rest renumbered, bootstrap-expect lowered to match), then milder faults
// (a torn or wiped kill plain, a pause halved), repeated until nothing more can go or the
// runs' budget is spent. Each candidate is run again, in full and deterministically, and
// counts as still failing only when it fails on the property the original run broke
// (FailureProperty): a smaller run failing some other way shows another bug, or a run cut
// too short to settle, not a smaller form of this one.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/time.h"
#include "tests/agent_sim/schedule.h"

namespace muster::agent_sim {

struct ShrinkResult {
  Schedule smallest;
  std::string property;            // what the original run broke, and every accepted cut too
  int runs = 0;                    // candidates run
  int other_failures = 0;          // of them, failing on another property: refused
  std::vector<std::string> steps;  // each accepted cut: "duration 20s -> 6s", "actions 31 -> 4", ...
  std::vector<std::string> refused;  // each cut refused so, with what it broke: "faults 5 -> 3: liveness"
};

// The property a failure names: the checker or rule it reports ("election safety", "raft
// invariants", "one applied history", "lock safety", "exactly-once user events",
// "liveness", "expectation (line 12)", ...), from a checker's failure ("at t=T: what") or a
// run's report ("FAIL seed=S at t=T: what\n..."). A message of no kind listed names itself,
// its numbers blanked ("no steady leader within #s ..."), so it matches only its own kind.
std::string FailureProperty(std::string_view failure);

// Runs a candidate: empty if it passed, else its failure (or report) for FailureProperty.
using CandidateRun = std::function<std::string(const Schedule&)>;

// The faults of `s`: the actions the shrinker may drop (not starts, the network's settings or
// the workload; every fault and expectation).
size_t FaultCount(const Schedule& s);

// `s` without agent `index`: its start, the actions naming it only, its place in joins and
// groups; the agents after it renumbered; bootstrap-expect at most the servers left.
Schedule WithoutAgent(const Schedule& s, int index);

// `failing` must fail with `failure` (recorded at `failed_at`, since the run's start); `run`
// runs a candidate, which is kept only if it fails on `failure`'s property. At most
// `runs_max` candidates.
ShrinkResult Shrink(const Schedule& failing, std::string_view failure, Duration failed_at, const CandidateRun& run,
                    int runs_max);

}  // namespace muster::agent_sim
