// Faults a swarm injects, shared by every harness: the partition shapes of the fault model
// (symmetric halves, one way, isolate one, bridge) and the counts of what a run really did,
// so a suite can show each kind happened (not only that its probability was set).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/node_id.h"
#include "core/base/rng.h"
#include "sim/simulator.h"

namespace muster::sim::testing {

enum class PartitionShape { kSymmetric, kOneWay, kIsolate, kBridge };

struct FaultCounts {
  uint64_t lost = 0;        // messages dropped by link loss
  uint64_t duplicated = 0;  // messages delivered twice
  uint64_t reordered = 0;   // datagrams overtaking an earlier one on their link
  uint64_t blocked = 0;     // messages dropped by a partition
  uint64_t partitions_symmetric = 0;
  uint64_t partitions_one_way = 0;
  uint64_t isolations = 0;
  uint64_t bridges = 0;
  uint64_t crashes = 0;
  uint64_t torn_crashes = 0;  // crashes with an unsynced write left to tear
  uint64_t wipes = 0;         // restarts with the data dir gone
  uint64_t pauses = 0;
  uint64_t clock_steps = 0;

  // Takes the network's counts from the simulator.
  void TakeNetworkStats(const Simulator& sim);
  void Add(const FaultCounts& other);
  std::string Describe() const;
};

// Heals the network, then cuts `nodes` (shuffled with `rng`) into the drawn shape; `victim`
// is the one isolated. Counts it in `counts`. Fewer than two nodes (three for a bridge): no cut.
PartitionShape InjectPartition(Simulator& sim, Rng& rng, const std::vector<NodeId>& nodes, NodeId victim,
                               FaultCounts* counts);

// The cut itself, for a harness that draws its own order: `order` split at `cut` into two
// sides (symmetric, or one way from the first side to the second); `victim` isolated from
// `all`; or a bridge: order[0] reaches both halves of the rest, which cannot reach each other.
// Counts what it did in `counts` (a bridge of fewer than three nodes does nothing).
void ApplyPartition(Simulator& sim, PartitionShape shape, const std::vector<NodeId>& order, size_t cut,
                    NodeId victim, const std::vector<NodeId>& all, FaultCounts* counts);

}  // namespace muster::sim::testing
