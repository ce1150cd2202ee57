#include "tests/agent_sim/agent_cluster.h"

#include "absl/strings/str_cat.h"
#include "core/agent/identity.h"

namespace muster::agent_sim {

std::string NodeName(int index) { return absl::StrCat("s", index); }
std::string NodeIdOf(int index) {
  return agent::FormatNodeId(0x1000000000000000ull + static_cast<uint64_t>(index) * 0x10001,
                             0xabcdef0000000000ull + static_cast<uint64_t>(index));
}
Address LanAddress(int index) { return absl::StrCat("n", index, ":8301"); }
Address RpcAddress(int index) { return absl::StrCat("n", index, ":8300"); }

agent::AgentMachineOptions SimAgentOptions(const AgentSpec& spec) {
  agent::AgentMachineOptions o;
  o.config.server = spec.server;
  o.config.bootstrap_expect = spec.bootstrap_expect;
  o.config.bootstrap = spec.bootstrap;
  o.config.node_name = NodeName(spec.index);
  o.config.node_id = NodeIdOf(spec.index);
  o.config.datacenter = spec.datacenter;
  o.config.data_dir = "/sim";
  o.config.retry_join = spec.join;
  o.config.retry_interval = absl::Seconds(2);
  o.config.log_level = "INFO";
  o.raft.heartbeat_interval = absl::Milliseconds(50);
  o.raft.election_timeout = absl::Milliseconds(500);
  o.raft.lease_duration = absl::Milliseconds(400);
  return o;
}

NodeId AddAgent(sim::Simulator& sim, const AgentSpec& spec) {
  std::array<Address, kEndpointCount> endpoints;
  endpoints[static_cast<int>(Endpoint::kRpc)] = RpcAddress(spec.index);
  if (spec.server) endpoints[static_cast<int>(Endpoint::kWan)] = absl::StrCat("n", spec.index, ":8302");
  return sim.AddNode(agent::AgentMachineFactory(SimAgentOptions(spec)), LanAddress(spec.index), endpoints);
}

agent::AgentMachine* AgentAt(sim::Simulator& sim, NodeId node) {
  return static_cast<agent::AgentMachine*>(sim.machine(node));
}

std::shared_ptr<Outcome> Send(sim::Simulator& sim, NodeId node, const std::string& method,
                              const proto::agent::Call& call) {
  auto outcome = std::make_shared<Outcome>();
  sim.Request(node, method, call.SerializeAsString(), [outcome](const Response& r) {
    outcome->answered = true;
    outcome->status = r.status;
    outcome->reply.ParseFromString(r.body);
  });
  return outcome;
}

std::vector<NodeId> Leaders(sim::Simulator& sim) {
  std::vector<NodeId> out;
  for (NodeId n : sim.nodes()) {
    if (!sim.IsUp(n)) continue;
    const raft::Raft* r = AgentAt(sim, n)->raft();
    if (r != nullptr && r->role() == raft::Role::kLeader) out.push_back(n);
  }
  return out;
}

}  // namespace muster::agent_sim
