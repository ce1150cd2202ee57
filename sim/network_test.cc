// The network model's faults, checked statistically over many messages.
#include "sim/network.h"

#include "gtest/gtest.h"
#include "sim/chatter_machine.h"
#include "sim/simulator.h"

namespace muster::sim {
namespace {

TEST(NetworkTest, LossRateWithinTolerance) {
  Network net;
  LinkConfig link;
  link.loss = 0.2;
  net.SetDefaultLink(link);
  Rng rng(1);
  const int n = 100000;
  int delivered = 0;
  for (int i = 0; i < n; ++i) delivered += net.Decide(NodeId{1}, NodeId{2}, false, rng).copies;
  // Binomial(100000, 0.8): sd ~126; 1% tolerance is ~8 sd.
  EXPECT_NEAR(delivered / static_cast<double>(n), 0.8, 0.01);
}

TEST(NetworkTest, DuplicationRateWithinTolerance) {
  Network net;
  LinkConfig link;
  link.duplicate = 0.1;
  net.SetDefaultLink(link);
  Rng rng(2);
  const int n = 100000;
  int twice = 0;
  for (int i = 0; i < n; ++i) twice += net.Decide(NodeId{1}, NodeId{2}, false, rng).copies == 2;
  EXPECT_NEAR(twice / static_cast<double>(n), 0.1, 0.01);
}

TEST(NetworkTest, StreamsIgnoreLossUnlessAsked) {
  Network net;
  LinkConfig link;
  link.loss = 0.5;
  net.SetDefaultLink(link);
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(net.Decide(NodeId{1}, NodeId{2}, true, rng).copies, 1);
  link.faults_affect_streams = true;
  net.SetDefaultLink(link);
  int lost = 0;
  for (int i = 0; i < 1000; ++i) lost += net.Decide(NodeId{1}, NodeId{2}, true, rng).copies == 0;
  EXPECT_GT(lost, 400);
}

TEST(NetworkTest, LatencyHasFloorAndMeanJitter) {
  Network net;
  LinkConfig link;
  link.latency_min = absl::Milliseconds(2);
  link.latency_jitter_mean = absl::Milliseconds(3);
  net.SetDefaultLink(link);
  Rng rng(4);
  double sum_ms = 0;
  const int n = 50000;
  for (int i = 0; i < n; ++i) {
    Duration d = net.Decide(NodeId{1}, NodeId{2}, false, rng).delay[0];
    ASSERT_GE(d, absl::Milliseconds(2));
    sum_ms += absl::ToDoubleMilliseconds(d);
  }
  EXPECT_NEAR(sum_ms / n, 5.0, 0.1);
}

TEST(NetworkTest, PerLinkOverride) {
  Network net;
  LinkConfig lossy;
  lossy.loss = 1.0;
  net.SetLink(NodeId{1}, NodeId{2}, lossy);
  Rng rng(5);
  EXPECT_EQ(net.Decide(NodeId{1}, NodeId{2}, false, rng).copies, 0);
  EXPECT_EQ(net.Decide(NodeId{2}, NodeId{1}, false, rng).copies, 1);
}

TEST(NetworkTest, PartitionShapes) {
  Network net;
  const NodeId a{1}, b{2}, c{3}, d{4}, e{5};
  net.Partition({a, b}, {c, d, e});
  EXPECT_TRUE(net.Blocked(a, c));
  EXPECT_TRUE(net.Blocked(e, b));
  EXPECT_FALSE(net.Blocked(a, b));
  EXPECT_FALSE(net.Blocked(c, e));
  net.Heal();
  EXPECT_FALSE(net.partitioned());

  net.PartitionOneWay({a}, {b});
  EXPECT_TRUE(net.Blocked(a, b));
  EXPECT_FALSE(net.Blocked(b, a));
  net.Heal();

  net.Isolate(c, {a, b, c, d, e});
  for (NodeId other : {a, b, d, e}) {
    EXPECT_TRUE(net.Blocked(c, other));
    EXPECT_TRUE(net.Blocked(other, c));
  }
  EXPECT_FALSE(net.Blocked(a, b));
  net.Heal();

  net.Bridge({a, b}, c, {d, e});
  EXPECT_TRUE(net.Blocked(a, d));
  EXPECT_TRUE(net.Blocked(e, b));
  EXPECT_FALSE(net.Blocked(a, c));
  EXPECT_FALSE(net.Blocked(c, e));
  EXPECT_FALSE(net.Blocked(d, c));
}

std::vector<Address> Peers(int n) {
  std::vector<Address> peers;
  for (int i = 1; i <= n; ++i) peers.push_back(ToString(NodeId{static_cast<uint64_t>(i)}));
  return peers;
}

// End to end through the simulator: nothing crosses a partition while it lasts, and a
// one-way partition is one way.
TEST(NetworkTest, NoDeliveryAcrossPartitionEndToEnd) {
  Simulator sim(6);
  std::vector<ChatterMachine*> live;
  ChatterConfig config;
  config.peers = Peers(4);
  for (int i = 0; i < 4; ++i) sim.AddNode(ChatterMachine::Factory(config, &live));
  const NodeId n1{1}, n2{2}, n3{3}, n4{4};
  sim.network().Partition({n1, n2}, {n3, n4});
  sim.network().PartitionOneWay({n1}, {n2});  // and n1 cannot reach n2, though n2 reaches n1
  sim.RunFor(absl::Seconds(2));
  for (const auto& r : live[0]->received()) EXPECT_EQ(r.from, "n2");
  EXPECT_GT(live[0]->received().size(), 100u);
  EXPECT_TRUE(live[1]->received().empty()) << "one-way partition leaked";
  for (const auto& r : live[2]->received()) EXPECT_EQ(r.from, "n4");
  for (const auto& r : live[3]->received()) EXPECT_EQ(r.from, "n3");
  const Time healed_at = sim.now();
  sim.network().Heal();
  sim.RunFor(absl::Seconds(1));
  bool saw_cross = false;
  for (const auto& r : live[2]->received()) saw_cross |= r.from == "n1" && r.at >= healed_at;
  EXPECT_TRUE(saw_cross) << "the healed network delivers again";
}

// Jitter reorders datagrams; streams never reorder.
TEST(NetworkTest, DatagramsReorderStreamsDoNot) {
  for (Channel channel : {Channel::kDatagram, Channel::kStream}) {
    Simulator sim(7);
    LinkConfig link;
    link.latency_jitter_mean = absl::Milliseconds(20);  // longer than the send period
    sim.network().SetDefaultLink(link);
    std::vector<ChatterMachine*> live;
    ChatterConfig config;
    config.peers = Peers(2);
    config.channel = channel;
    sim.AddNode(ChatterMachine::Factory(config, &live));
    sim.AddNode(ChatterMachine::Factory(config, &live));
    sim.RunFor(absl::Seconds(2));
    int inversions = 0;
    const auto& got = live[1]->received();
    ASSERT_GT(got.size(), 100u);
    for (size_t i = 1; i < got.size(); ++i) inversions += got[i].seq < got[i - 1].seq;
    if (channel == Channel::kDatagram) {
      EXPECT_GT(inversions, 10);
    } else {
      EXPECT_EQ(inversions, 0);
    }
  }
}

}  // namespace
}  // namespace muster::sim
