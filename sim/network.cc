#include "sim/network.h"

#include "core/base/check.h"

namespace muster::sim {

void Network::SetLink(NodeId from, NodeId to, const LinkConfig& config) { links_[{from, to}] = config; }

const LinkConfig& Network::Link(NodeId from, NodeId to) const {
  auto it = links_.find({from, to});
  return it == links_.end() ? default_link_ : it->second;
}

void Network::Partition(const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
  PartitionOneWay(a, b);
  PartitionOneWay(b, a);
}

void Network::PartitionOneWay(const std::vector<NodeId>& from, const std::vector<NodeId>& to) {
  for (NodeId f : from) {
    for (NodeId t : to) {
      if (f != t) blocked_.insert({f, t});
    }
  }
}

void Network::Isolate(NodeId node, const std::vector<NodeId>& all) {
  std::vector<NodeId> others;
  for (NodeId n : all) {
    if (n != node) others.push_back(n);
  }
  Partition({node}, others);
}

void Network::Bridge(const std::vector<NodeId>& left, NodeId bridge, const std::vector<NodeId>& right) {
  for (NodeId n : left) MUSTER_CHECK(n != bridge, "the bridge belongs to neither side");
  for (NodeId n : right) MUSTER_CHECK(n != bridge, "the bridge belongs to neither side");
  Partition(left, right);
}

Duration Network::MeanDelay(NodeId from, NodeId to) const {
  const LinkConfig& link = Link(from, to);
  return link.latency_min + link.latency_jitter_mean;
}

Network::Fate Network::Decide(NodeId from, NodeId to, bool is_stream, Rng& rng) const {
  Fate fate;
  if (Blocked(from, to)) return fate;
  const LinkConfig& link = Link(from, to);
  const bool faulty = !is_stream || link.faults_affect_streams;
  // Draw in a fixed order whatever the outcome, so one message's fate does not shift
  // the random stream differently depending on earlier branches.
  const bool lost = rng.Bernoulli(faulty ? link.loss : 0);
  const bool duplicated = rng.Bernoulli(faulty ? link.duplicate : 0);
  for (Duration& d : fate.delay) {
    const double jitter_ns = absl::ToDoubleNanoseconds(link.latency_jitter_mean) > 0
                                 ? rng.Exponential(absl::ToDoubleNanoseconds(link.latency_jitter_mean))
                                 : 0;
    d = link.latency_min + absl::Nanoseconds(static_cast<int64_t>(jitter_ns));
  }
  if (lost) return fate;
  fate.copies = duplicated ? 2 : 1;
  return fate;
}

}  // namespace muster::sim
