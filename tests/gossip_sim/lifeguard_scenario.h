// The Lifeguard comparison scenario, shared by its test and its benchmark table: a healthy
// pool in which one node's message processing stalls (Simulator::Pause: inputs queue and
// run late, timers fire late too) for 2-5 probe timeouts, with Lifeguard on or off.
// Nobody fails, so every suspicion and every failure declaration is false.
#pragma once

#include <cstdint>

#include "core/base/time.h"

namespace muster::gossip::testing {

struct PauseScenario {
  // kStall: Simulator::Pause (the whole process stalls; queued inputs run late, in order).
  // kSlowInbox: every message *into* the node is held for the stall length while its
  // timers keep running (message processing stalled, as a blocked receive loop).
  enum class Mode { kStall, kSlowInbox };
  Mode mode = Mode::kStall;
  Duration slow_inbox_for = absl::Seconds(30);  // kSlowInbox: how long the slowness lasts
  int nodes = 8;
  int pauses = 1;               // stalls of the same node, one after another
  Duration gap_max = absl::Seconds(1);  // running time between stalls: U[0, gap_max]
  double timeouts_min = 2, timeouts_max = 5;  // stall length in probe timeouts
};

struct PauseOutcome {
  uint64_t false_suspicions = 0;    // suspicions raised by failed probes, all nodes
  uint64_t false_declarations = 0;  // suspicion timeouts that declared a member dead
  uint64_t false_failed_events = 0; // member-failed events published, all nodes
  // The same two, only about healthy members (all but the stalled one): Lifeguard's target.
  uint64_t healthy_declarations = 0;
  uint64_t healthy_failed_events = 0;
  uint64_t declarations_by_stalled = 0;  // declarations the stalled node made
  bool converged = false;
};

PauseOutcome RunPauseScenario(uint64_t seed, bool lifeguard, const PauseScenario& scenario);

}  // namespace muster::gossip::testing
