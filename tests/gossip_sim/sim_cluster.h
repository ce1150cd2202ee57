// Test and benchmark harness: a pool of Serf nodes in the simulator, all joining through
// the first node ("n1"), with helpers to read every node's view. Test-only; no assertions
// of its own beyond sanity, so each scenario states what it checks.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/gossip/serf_machine.h"
#include "sim/simulator.h"

namespace muster::gossip::testing {

// A scenario's seeds, by sim/testing's convention (SeedsFromEnv): how many it runs, the
// default or GOSSIP_SEEDS; where they start, `first` or GOSSIP_SEED (to rerun one seed, or to
// split a long run over processes: GOSSIP_SEEDS=100 with GOSSIP_SEED=3000 and 3100).
int SeedCount(int default_count);
uint64_t FirstSeed(uint64_t first);

struct ClusterOptions {
  int nodes = 5;
  sim::LinkConfig link;
  std::function<void(SerfConfig&)> tweak;  // applied to every node's config
  bool join = true;                        // nodes other than n1 join through n1
  // Zero: every node joins as it starts. Otherwise each sends a "join" request at a uniform
  // time in [0, join_spread] (as agents started one by one would).
  Duration join_spread = absl::ZeroDuration();
  LogSink* log_sink = nullptr;
  // Sees every message a node sends, as it leaves the node (to count what gossip costs).
  std::function<void(NodeId, const OutboundMessage&)> on_send;
  // A broken per-step invariant goes here, with the node's name in the message; unset, it
  // aborts the run (printing the seed).
  std::function<void(const std::string&)> on_violation;
  // Runs after the built-in checks of every step (the swarm's own checkers).
  sim::Simulator::StepObserver on_step;
};

class SimCluster {
 public:
  SimCluster(uint64_t seed, const ClusterOptions& options);

  sim::Simulator& sim() { return sim_; }
  const std::vector<NodeId>& ids() const { return ids_; }
  static std::string Name(NodeId id) { return ToString(id); }
  SerfMachine* node(NodeId id);  // null while down
  std::vector<NodeId> Live() const;

  // Every live node sees exactly `alive` as its alive members (by name).
  bool AllSeeAlive(const std::set<std::string>& alive);
  // Every live node sees `name` with `status`.
  bool AllSeeStatus(const std::string& name, MemberStatus status);
  std::set<std::string> LiveNames() const;
  // Steps the simulation in `step`s until `done` holds or `budget` passes; the time it
  // took, or nullopt.
  Time last_join() const { return last_join_; }
  std::optional<Duration> RunUntil(const std::function<bool()>& done, Duration budget,
                                   Duration step = absl::Milliseconds(50));

 private:
  // Invariants checked after every step of every node (a broken one aborts the run):
  // datagrams fit the limit; within one life of a node its incarnation and its three
  // Lamport clocks never go back.
  struct Watermarks {
    uint64_t life = UINT64_MAX;  // SerfMachine::host_incarnation
    uint64_t incarnation = 0, member_ltime = 0, event_ltime = 0, query_ltime = 0;
  };
  void CheckInvariants(NodeId id, const Effects& effects);
  void Violation(const std::string& what);

  sim::Simulator sim_;
  std::vector<NodeId> ids_;
  absl::btree_map<uint64_t, Watermarks> watermarks_;
  std::function<void(NodeId, const OutboundMessage&)> on_send_;
  std::function<void(const std::string&)> on_violation_;
  Time last_join_;
};

}  // namespace muster::gossip::testing
