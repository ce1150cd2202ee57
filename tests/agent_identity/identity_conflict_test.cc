// Two agents with one node name, or one node ID, under the simulator: the one that joins last
// refuses to run (AgentMachine::exit_reason, which makes the process exit 1) with a line that
// says why; the cluster it tried to join goes on, and never lets it in.
#include "gtest/gtest.h"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

class Lines final : public LogSink {
 public:
  void Write(Time, LogLevel, std::string_view component, std::string_view message) override {
    lines.push_back(absl::StrCat(std::string(component), ": ", std::string(message)));
  }
  bool Has(std::string_view needle) const {
    for (const std::string& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::vector<std::string> lines;
};

// A cluster of two bootstrapped servers (s1, s2) and a newcomer at node 3 built from `spec`'s
// options with `edit` applied.
struct Cluster {
  explicit Cluster(uint64_t seed, Duration settle = absl::Seconds(40)) : sim(seed) {
    sim.set_log_sink(&log);
    for (int i = 1; i <= 2; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.bootstrap_expect = 2;
      if (i == 2) spec.join = {LanAddress(1)};
      nodes.push_back(AddAgent(sim, spec));
    }
    EXPECT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, absl::Seconds(30)));
    sim.RunFor(settle);
  }
  NodeId AddNewcomer(const std::function<void(agent::AgentMachineOptions&)>& edit) {
    AgentSpec spec;
    spec.index = 3;
    spec.join = {LanAddress(1)};
    agent::AgentMachineOptions o = SimAgentOptions(spec);
    edit(o);
    std::array<Address, kEndpointCount> endpoints;
    endpoints[static_cast<int>(Endpoint::kRpc)] = RpcAddress(3);
    endpoints[static_cast<int>(Endpoint::kWan)] = "n3:8302";
    return sim.AddNode(agent::AgentMachineFactory(o), LanAddress(3), endpoints);
  }
  sim::Simulator sim;
  Lines log;
  std::vector<NodeId> nodes;
};

TEST(IdentityConflict, AnAgentJoiningWithATakenNameRefusesToRun) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    Cluster c(seed);
    NodeId newcomer = c.AddNewcomer([](agent::AgentMachineOptions& o) { o.config.node_name = NodeName(2); });
    ASSERT_TRUE(c.sim.RunUntil([&] { return AgentAt(c.sim, newcomer)->exit_reason().has_value(); },
                               absl::Seconds(30)))
        << "seed " << seed;
    EXPECT_NE(AgentAt(c.sim, newcomer)->exit_reason()->find("a member named \"s2\" already exists at n2:8301"),
              std::string::npos)
        << *AgentAt(c.sim, newcomer)->exit_reason();
    c.sim.Kill(newcomer);  // what the host does on exit_reason
    c.sim.RunFor(absl::Seconds(5));
    // The cluster's s2 is still s2 at its own address, and s1 still leads a two-server raft.
    const gossip::Member* s2 = AgentAt(c.sim, c.nodes[0])->lan().member("s2");
    ASSERT_NE(s2, nullptr);
    EXPECT_EQ(s2->addr, LanAddress(2));
    EXPECT_EQ(Leaders(c.sim).size(), 1u);
    EXPECT_EQ(AgentAt(c.sim, Leaders(c.sim)[0])->raft()->configuration().servers_size(), 2);
    // The seed that heard the newcomer says so (memberlist keeps the first address).
    EXPECT_TRUE(c.log.Has("conflicting address for s2: n2:8301 vs n3:8301")) << "seed " << seed;
  }
}

TEST(IdentityConflict, AnAgentJoiningWithATakenNodeIdRefusesToRun) {
  for (uint64_t seed : {1, 2, 3, 4, 5, 6}) {
    Cluster c(seed);
    const bool server = seed % 2 == 0;  // a client, or a server imitating s1's raft ID
    NodeId newcomer = c.AddNewcomer([&](agent::AgentMachineOptions& o) {
      o.config.node_id = NodeIdOf(1);
      o.config.server = server;
    });
    ASSERT_TRUE(c.sim.RunUntil([&] { return AgentAt(c.sim, newcomer)->exit_reason().has_value(); },
                               absl::Seconds(30)))
        << "seed " << seed;
    EXPECT_NE(AgentAt(c.sim, newcomer)->exit_reason()->find("has conflicting node ID " + NodeIdOf(1)),
              std::string::npos)
        << *AgentAt(c.sim, newcomer)->exit_reason();
    // It says goodbye before it goes: the cluster sees it left, not failed.
    ASSERT_TRUE(c.sim.RunUntil([&] { return AgentAt(c.sim, newcomer)->left(); }, absl::Seconds(5))) << "seed " << seed;
    c.sim.RunFor(absl::Seconds(1));
    const gossip::Member* gone = AgentAt(c.sim, c.nodes[0])->lan().member(NodeName(3));
    ASSERT_NE(gone, nullptr) << "seed " << seed;
    EXPECT_EQ(gone->status, gossip::MemberStatus::kLeft) << "seed " << seed;
    c.sim.Kill(newcomer);
    c.sim.RunFor(absl::Seconds(5));
    EXPECT_TRUE(c.log.Has("has conflicting node ID " + NodeIdOf(1) + " with this agent's ID; it is ignored"));
    // The leader never registered the impostor, and its goodbye removed no server from raft.
    ASSERT_EQ(Leaders(c.sim).size(), 1u) << "seed " << seed;
    const NodeId leader = Leaders(c.sim)[0];
    EXPECT_FALSE(AgentAt(c.sim, leader)->fsm().store().GetNode(NodeName(3)).has_value());
    c.sim.RunFor(absl::Seconds(10));
    const raft::pb::Configuration& conf = AgentAt(c.sim, Leaders(c.sim)[0])->raft()->configuration();
    EXPECT_EQ(conf.servers_size(), 2) << "seed " << seed << ": " << conf.ShortDebugString();
  }
}

// The incumbents of a cluster a few seconds old (their own joins just done) must not take the
// impostor's arrival for their own join's answer: servers raft knows never yield.
TEST(IdentityConflict, AYoungClustersServersDoNotYieldToANewcomer) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    Cluster c(seed, absl::Seconds(1));
    NodeId newcomer = c.AddNewcomer([](agent::AgentMachineOptions& o) { o.config.node_id = NodeIdOf(1); });
    ASSERT_TRUE(c.sim.RunUntil([&] { return AgentAt(c.sim, newcomer)->exit_reason().has_value(); },
                               absl::Seconds(30)))
        << "seed " << seed;
    for (NodeId n : c.nodes) EXPECT_FALSE(AgentAt(c.sim, n)->exit_reason().has_value()) << "seed " << seed;
    c.sim.Kill(newcomer);
    c.sim.RunFor(absl::Seconds(5));
    EXPECT_EQ(Leaders(c.sim).size(), 1u);
  }
}

}  // namespace
}  // namespace muster::agent_sim
