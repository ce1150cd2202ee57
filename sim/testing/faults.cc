#include "sim/testing/faults.h"

#include "absl/strings/str_cat.h"

namespace muster::sim::testing {

void FaultCounts::TakeNetworkStats(const Simulator& sim) {
  lost = sim.network_stats().lost;
  duplicated = sim.network_stats().duplicated;
  reordered = sim.network_stats().reordered;
  blocked = sim.network_stats().blocked;
}

void FaultCounts::Add(const FaultCounts& o) {
  lost += o.lost;
  duplicated += o.duplicated;
  reordered += o.reordered;
  blocked += o.blocked;
  partitions_symmetric += o.partitions_symmetric;
  partitions_one_way += o.partitions_one_way;
  isolations += o.isolations;
  bridges += o.bridges;
  crashes += o.crashes;
  torn_crashes += o.torn_crashes;
  wipes += o.wipes;
  pauses += o.pauses;
  clock_steps += o.clock_steps;
}

std::string FaultCounts::Describe() const {
  return absl::StrCat("lost=", lost, " dup=", duplicated, " reordered=", reordered, " blocked=", blocked,
                      " sym=", partitions_symmetric, " oneway=", partitions_one_way, " isolate=", isolations,
                      " bridge=", bridges, " crash=", crashes, " torn=", torn_crashes, " wipe=", wipes,
                      " pause=", pauses, " clock_steps=", clock_steps);
}

PartitionShape InjectPartition(Simulator& sim, Rng& rng, const std::vector<NodeId>& nodes, NodeId victim,
                               FaultCounts* counts) {
  sim.network().Heal();
  std::vector<NodeId> v = nodes;
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.Uniform(i)]);
  const auto shape = static_cast<PartitionShape>(rng.Uniform(4));
  if (v.size() < 2) return shape;
  const size_t cut = 1 + rng.Uniform(v.size() - 1);
  ApplyPartition(sim, shape, v, cut, victim, nodes, counts);
  return shape;
}

void ApplyPartition(Simulator& sim, PartitionShape shape, const std::vector<NodeId>& v, size_t cut, NodeId victim,
                    const std::vector<NodeId>& all, FaultCounts* counts) {
  Network& net = sim.network();
  std::vector<NodeId> a(v.begin(), v.begin() + cut), b(v.begin() + cut, v.end());
  switch (shape) {
    case PartitionShape::kSymmetric:
      net.Partition(a, b);
      counts->partitions_symmetric++;
      break;
    case PartitionShape::kOneWay:
      net.PartitionOneWay(a, b);
      counts->partitions_one_way++;
      break;
    case PartitionShape::kIsolate:
      net.Isolate(victim, all);
      counts->isolations++;
      break;
    case PartitionShape::kBridge: {
      if (v.size() < 3) break;
      std::vector<NodeId> left(v.begin() + 1, v.begin() + 1 + (v.size() - 1) / 2);
      std::vector<NodeId> right(v.begin() + 1 + (v.size() - 1) / 2, v.end());
      net.Bridge(left, v[0], right);
      counts->bridges++;
      break;
    }
  }
}

}  // namespace muster::sim::testing
