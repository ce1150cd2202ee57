// The gossip swarm: one seed draws a whole run (pool size, link faults, partitions, kills and
// restarts, pauses, graceful leaves, user events, Lifeguard on or off), which then runs a
// safety phase with faults and a liveness phase after healing, with checkers after every step
// of every node. Any failure, a tripped per-step invariant included, is recorded (the first
// one) with the seed and the one command that reproduces it; the run never aborts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/gossip/serf.h"

namespace muster::gossip::testing {

// One unsafe_* switch of MemberlistConfig or SerfConfig (bug injection), by its short name.
struct UnsafeSwitch {
  std::string_view name;  // for --unsafe
  std::string_view rule;  // the rule it breaks
  void (*set)(SerfConfig&);
};
const std::vector<UnsafeSwitch>& UnsafeSwitches();
const UnsafeSwitch* FindUnsafeSwitch(std::string_view name);  // null if unknown

struct SwarmConfig {
  uint64_t seed = 1;
  std::string unsafe;  // an UnsafeSwitch name, or empty
  bool verbose = false;  // print the drawn options and the fault schedule
  // The per-step checkers of each node's view of each member (incarnation order, dead final,
  // intent order). Off, only the end-to-end checkers remain: to measure whether a rule's breach
  // also shows as a liveness or delivery failure (the kill matrix's last column).
  bool view_checkers = true;
};

struct SwarmResult {
  bool ok = true;
  std::string failure;  // the first violation: "at t=...: checker: message"
  std::string report;   // the failure with the seed and the repro command (sim/testing's Report)
  std::string summary;  // what the seed drew
  uint64_t fingerprint = 0;
  // What the run did, by kind ("kill", "partition", "lifeguard off", ...): for a test that
  // every knob is exercised.
  absl::btree_map<std::string, int> exercised;
};

SwarmResult RunSwarm(const SwarmConfig& config);
// The command that reruns one seed (with the switch, if any).
std::string ReproCommand(uint64_t seed, std::string_view unsafe = "");

}  // namespace muster::gossip::testing
