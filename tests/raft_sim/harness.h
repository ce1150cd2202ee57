// One simulated Raft cluster run for one seed (TigerBeetle's VOPR shape): the seed builds
// everything — cluster size, link faults, partition shapes, crash and pause rates, options
// ("swarm testing") — then a safety phase with faults and checkers after every step, then
// a liveness phase: heal a majority core; within a budget there must be a leader among it
// and a new write must commit, or the run fails with a diagnosis.
//
// The fault model (what the design claims to survive, and what is injected): message loss,
// duplication, delay and reordering (datagram channel); partitions — symmetric, one-way,
// isolate-one, bridge; crash with loss of unsynced writes, optionally torn; restart from
// durable storage; pauses. Not in the model: disk corruption, wiped disks, clock drift
// beyond the lease bound (see Raft::LeaseRead).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/raft/kv_machine.h"
#include "sim/simulator.h"
#include "sim/testing/faults.h"
#include "tests/raft_sim/checker.h"

namespace muster::raft_sim {

struct RunConfig {
  uint64_t seed = 1;
  int servers = 0;                  // 0: chosen by the seed (3, 5 or 7)
  Duration safety = absl::Seconds(20);
  Duration liveness_budget = absl::Seconds(30);
  bool faults = true;
  // Bug injection, to prove the checkers catch what the rules prevent.
  raft::RaftOptions unsafe;  // only the unsafe_* fields are used
  bool verbose = false;      // print the raft log to stderr
};

struct RunResult {
  bool ok = true;
  std::string failure;
  std::string report;   // the failure with the seed and the repro command (CheckerBase::Report)
  std::string summary;  // one line: what the seed chose and what happened
  uint64_t events = 0;
  uint64_t fingerprint = 0;
  uint64_t acked = 0;
  int servers = 0;  // the cluster size the seed ran
  // What the run really did: each fault counted where it was injected (or, for the
  // network's, where a message met it), so a test can prove the swarm exercises what it claims.
  sim::testing::FaultCounts faults;
  uint64_t membership_changes = 0;   // accepted by a leader
  uint64_t snapshots_installed = 0;  // sent by a leader and restored by a follower
  // BUGGIFY sites that fired, summed over every node's lives (empty when the seed left it off).
  std::map<std::string, uint64_t> buggify_fired;
};

RunResult RunSeed(const RunConfig& config);

// Every bug-injection switch of RaftOptions, by the short name raft_sim's --unsafe takes, with
// the rule it turns off: RunSeed copies each one set in RunConfig::unsafe to every node, and
// the kill-matrix tests and core/raft/README.md list them in this order.
struct UnsafeSwitch {
  std::string_view name;
  bool raft::RaftOptions::*field;
  std::string_view rule;
};
const std::vector<UnsafeSwitch>& UnsafeSwitches();
// The switch named `name`, or null.
const UnsafeSwitch* FindUnsafeSwitch(std::string_view name);

// The command that reproduces a seed's run (with the switch named, if any).
std::string ReproCommand(uint64_t seed, std::string_view unsafe = "");
// The name of the first unsafe_* switch set in `unsafe` ("" if none).
std::string_view UnsafeName(const raft::RaftOptions& unsafe);

}  // namespace muster::raft_sim

namespace muster::raft_sim {

// A hand-driven cluster for named scenarios: the simulator, KvMachines bootstrapped as one
// configuration, and the checkers hooked to every step.
class SimCluster {
 public:
  // `members`: how many of the servers (the lowest ids) the bootstrap configuration holds, as
  // voters; the others run outside it until a membership change adds them. 0: all.
  SimCluster(uint64_t seed, int servers, raft::RaftOptions options = {}, uint64_t snapshot_every = 0,
             int members = 0);
  ~SimCluster();
  sim::Simulator& sim();
  Checker& checker() { return checker_; }
  const std::vector<NodeId>& ids() const { return ids_; }
  raft::KvMachine* machine(NodeId id);
  // The up node that is leader in the highest term, if any.
  NodeId Leader();
  // Runs until a leader exists (and has committed its no-op) or `budget` passes.
  NodeId AwaitLeader(Duration budget);
  // Puts through `node`; true once acknowledged within `budget`.
  bool Put(NodeId node, const std::string& body, Duration budget);
  void Crash(NodeId id);
  void Restart(NodeId id);

 private:
  std::unique_ptr<sim::Simulator> sim_;
  Checker checker_;
  std::vector<NodeId> ids_;
};

}  // namespace muster::raft_sim
