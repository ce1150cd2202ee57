// The simulated network: per-link latency (a floor plus exponential jitter, which also
// reorders), loss and duplication, and partitions — symmetric, one-way, isolate-one and
// bridge. It decides the fate of each message with the simulator's one seeded Rng; it
// never holds messages itself (the Simulator's event queue does).
#pragma once

#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/base/node_id.h"
#include "core/base/rng.h"
#include "core/base/time.h"

namespace muster::sim {

struct LinkConfig {
  Duration latency_min = absl::Microseconds(500);
  Duration latency_jitter_mean = absl::Microseconds(500);  // exponential, added to the floor
  double loss = 0;       // probability a message is dropped
  double duplicate = 0;  // probability a delivered message arrives twice
  // Applies to datagrams only when false: streams are reliable while the link is up
  // (TCP retransmits), so loss and duplication do not touch them.
  bool faults_affect_streams = false;
};

class Network {
 public:
  void SetDefaultLink(const LinkConfig& config) { default_link_ = config; }
  const LinkConfig& default_link() const { return default_link_; }
  // Overrides the link from -> to (one direction).
  void SetLink(NodeId from, NodeId to, const LinkConfig& config);
  void ClearLinkOverrides() { links_.clear(); }

  // Partitions. Each adds blocked directions; Heal() removes them all.
  void Partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b);  // both ways
  void PartitionOneWay(const std::vector<NodeId>& from, const std::vector<NodeId>& to);
  void Isolate(NodeId node, const std::vector<NodeId>& all);
  // `left` and `right` cannot reach each other; `bridge` reaches both sides.
  void Bridge(const std::vector<NodeId>& left, NodeId bridge, const std::vector<NodeId>& right);
  void Heal() { blocked_.clear(); }
  bool Blocked(NodeId from, NodeId to) const { return blocked_.count({from, to}) > 0; }
  bool partitioned() const { return !blocked_.empty(); }

  // The fate of one message: how many copies arrive (0, 1 or 2) and each one's delay.
  struct Fate {
    int copies = 0;
    Duration delay[2];
  };
  Fate Decide(NodeId from, NodeId to, bool is_stream, Rng& rng) const;
  // The link's mean delay (floor + mean jitter), drawing nothing: how long a broken stream
  // takes to be noticed (a RST or a refused connect), so reporting one never shifts the Rng.
  Duration MeanDelay(NodeId from, NodeId to) const;

 private:
  const LinkConfig& Link(NodeId from, NodeId to) const;

  LinkConfig default_link_;
  absl::btree_map<std::pair<NodeId, NodeId>, LinkConfig> links_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
};

}  // namespace muster::sim
