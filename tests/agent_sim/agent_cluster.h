// Whole agents under the simulator: each node runs core/agent's AgentMachine with its three
// endpoints ("nI:8300" RPC, "nI:8301" LAN, "nI:8302" WAN), as the io/ runtime opens them on a
// real host. Tests and the scenario driver build clusters with it and talk to the agents
// through the same requests the HTTP API sends (proto/agent.proto's Call and Reply).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/agent/agent_machine.h"
#include "proto/agent.pb.h"
#include "sim/simulator.h"

namespace muster::agent_sim {

struct AgentSpec {
  int index = 1;  // node nI
  bool server = true;
  int bootstrap_expect = 0;
  bool bootstrap = false;
  std::string datacenter = "dc1";
  std::vector<std::string> join;  // LAN addresses ("n1:8301") joined at start and retried
};

// The options a simulated agent runs with: Consul's defaults for the agent, raft timed for the
// simulated LAN (50 ms heartbeats, 500 ms elections), a short retry interval.
agent::AgentMachineOptions SimAgentOptions(const AgentSpec& spec);
std::string NodeName(int index);
std::string NodeIdOf(int index);
Address LanAddress(int index);
Address RpcAddress(int index);

// Adds agent `spec.index` to `sim` (its node id is then spec.index if added in order).
NodeId AddAgent(sim::Simulator& sim, const AgentSpec& spec);

agent::AgentMachine* AgentAt(sim::Simulator& sim, NodeId node);

// A request's outcome, once answered.
struct Outcome {
  bool answered = false;
  absl::Status status;
  proto::agent::Reply reply;
};

// Sends `method` with `call` to `node`; the outcome fills in when the agent answers.
std::shared_ptr<Outcome> Send(sim::Simulator& sim, NodeId node, const std::string& method,
                              const proto::agent::Call& call);

// The leaders among the agents that are up (by raft's view), for "exactly one leader" checks.
std::vector<NodeId> Leaders(sim::Simulator& sim);

}  // namespace muster::agent_sim
