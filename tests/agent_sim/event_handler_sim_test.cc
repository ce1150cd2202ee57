// Event handlers and a watch under the simulator (three servers, two clients, 5% datagram loss
// and 5% duplication): the simulated process runner sees every ProcessStart the agents emit.
//   - a user event fired once on a client runs every agent's `user:deploy` handler exactly once,
//     with SERF_USER_EVENT and the payload; with Serf's Lamport-time dedup switched off (the
//     unsafe switch) still exactly once, by the agent's own check of the event's ID;
//   - a client's key watch runs for null, then for the key's value once it is written;
//   - a crashed client reaches every other agent's member-failed handler, its line on stdin.
// Over kSeedsDefault seeds (EVENT_HANDLER_SEEDS=N for 1..N); each run's figures are printed.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

namespace pba = ::muster::proto::agent;

constexpr uint64_t kSeedsDefault = 8;
// EVENT_HANDLER_SEEDS=N runs seeds 1..N (each with Serf's dedup on and off).
uint64_t SeedCount() {
  const char* n = std::getenv("EVENT_HANDLER_SEEDS");
  return n != nullptr && std::atoll(n) > 0 ? static_cast<uint64_t>(std::atoll(n)) : kSeedsDefault;
}
constexpr Duration kElectionBound = absl::Seconds(30);
constexpr Duration kDeliveryBound = absl::Seconds(20);

struct Seen {
  std::map<NodeId, int> deploys;               // user:deploy runs per agent
  std::map<NodeId, std::vector<std::string>> failed_lines;  // member-failed stdin per agent
  std::vector<std::string> watch_inputs;       // the watch's stdin, in order
  bool bad_deploy_run = false;
};

std::string EnvValue(const ProcessStart& p, const std::string& name) {
  for (const auto& [k, v] : p.env) {
    if (k == name) return v;
  }
  return "";
}

NodeId AddWithHandlers(sim::Simulator& sim, const AgentSpec& spec, bool watch, bool no_serf_dedup) {
  agent::AgentMachineOptions o = SimAgentOptions(spec);
  o.config.event_handlers = {"user:deploy=deploy.sh", "member-failed=failed.sh"};
  if (watch) o.config.watches = {R"({"type": "key", "key": "cfg/x", "handler": "watch.sh"})"};
  o.lan.unsafe_user_events_no_dedup = no_serf_dedup;
  std::array<Address, kEndpointCount> endpoints;
  endpoints[static_cast<int>(Endpoint::kRpc)] = RpcAddress(spec.index);
  if (spec.server) endpoints[static_cast<int>(Endpoint::kWan)] = absl::StrCat("n", spec.index, ":8302");
  return sim.AddNode(agent::AgentMachineFactory(o), LanAddress(spec.index), endpoints);
}

std::map<bool, uint64_t> deliveries_seen;

class EventHandlerSim : public ::testing::TestWithParam<std::tuple<uint64_t, bool>> {};

TEST_P(EventHandlerSim, UserEventOncePerAgentWatchOnChangeFailedMemberEverywhere) {
  const auto [seed, no_serf_dedup] = GetParam();
  sim::Simulator sim(seed);
  sim::LinkConfig link;
  link.loss = 0.05;
  link.duplicate = 0.05;
  sim.network().SetDefaultLink(link);
  std::vector<NodeId> agents;
  for (int i = 1; i <= 5; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.server = i <= 3;
    spec.bootstrap_expect = spec.server ? 3 : 0;
    if (i > 1) spec.join = {LanAddress(1)};
    agents.push_back(AddWithHandlers(sim, spec, /*watch=*/i == 5, no_serf_dedup));
  }
  const NodeId fire_on = agents[3], victim = agents[3];  // the watch is on agents[4]
  Seen seen;
  sim.set_process_runner([&](NodeId node, const ProcessStart& p) {
    if (p.command == "deploy.sh") {
      ++seen.deploys[node];
      if (EnvValue(p, "SERF_USER_EVENT") != "deploy" || p.stdin_data != "v42\n") seen.bad_deploy_run = true;
    } else if (p.command == "failed.sh") {
      seen.failed_lines[node].push_back(p.stdin_data);
    } else if (p.command == "watch.sh") {
      seen.watch_inputs.push_back(p.stdin_data);
    }
    return sim::Simulator::HealthyEnd(p);
  });
  sim.set_process_delay(absl::Milliseconds(30));
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, kElectionBound));
  ASSERT_TRUE(sim.RunUntil(
      [&] {
        for (NodeId n : agents) {
          if (AgentAt(sim, n)->lan().NumAliveMembers() != 5) return false;
        }
        return true;
      },
      kElectionBound));
  sim.RunFor(absl::Seconds(3));

  pba::Call fire;
  fire.set_key("deploy");
  fire.set_value("v42");
  auto fired = Send(sim, fire_on, "event.fire", fire);
  ASSERT_TRUE(sim.RunUntil([&] { return fired->answered; }, absl::Seconds(5)));
  ASSERT_TRUE(fired->status.ok()) << fired->status;
  pba::Call put;
  put.set_key("cfg/x");
  put.set_value("on");
  auto written = Send(sim, agents[0], "kv.put", put);
  ASSERT_TRUE(sim.RunUntil([&] { return written->answered; }, absl::Seconds(10)));
  ASSERT_TRUE(written->status.ok()) << written->status;
  sim.RunFor(kDeliveryBound);  // long enough for any duplicate to have been delivered too
  for (NodeId n : agents) EXPECT_EQ(seen.deploys[n], 1) << "agent " << n.value << ", seed " << seed;
  // Serf's deliveries of the event: once per agent, or more with its dedup off (duplicated
  // and re-gossiped datagrams) — which the agent's own ID check absorbed above.
  uint64_t serf_deliveries = 0;
  for (NodeId n : agents) {
    for (const auto& [key, count] : AgentAt(sim, n)->lan().stats().user_delivered) serf_deliveries += count;
  }
  if (no_serf_dedup) {
    EXPECT_GT(serf_deliveries, agents.size()) << "the unsafe switch made no duplicate: nothing was tested";
  } else {
    EXPECT_EQ(serf_deliveries, agents.size());
  }
  deliveries_seen[no_serf_dedup] += serf_deliveries;
  EXPECT_FALSE(seen.bad_deploy_run);
  ASSERT_GE(seen.watch_inputs.size(), 2u);
  EXPECT_EQ(seen.watch_inputs[0], "null\n");
  EXPECT_TRUE(absl::StrContains(seen.watch_inputs.back(), R"("Key":"cfg/x")")) << seen.watch_inputs.back();
  EXPECT_TRUE(absl::StrContains(seen.watch_inputs.back(), R"("Value":"b24=")")) << seen.watch_inputs.back();
  EXPECT_EQ(seen.watch_inputs.size(), 2u);  // null, then the one write

  sim.Kill(victim);
  const Time killed = sim.now();
  const std::string line_start = absl::StrCat(NodeName(4), "\tn4\tnode\t");
  const auto everyone_heard = [&] {
    for (NodeId n : agents) {
      if (n == victim) continue;
      bool heard = false;
      for (const std::string& in : seen.failed_lines[n]) heard = heard || absl::StartsWith(in, line_start);
      if (!heard) return false;
    }
    return true;
  };
  ASSERT_TRUE(sim.RunUntil(everyone_heard, absl::Seconds(60))) << "seed " << seed;
  std::printf("seed %llu%s: serf delivered the user event %llu times to 5 agents, handled 5 times; member-failed "
              "for the crashed client ran on the 4 others %s after the crash (virtual time %s, %llu events)\n",
              static_cast<unsigned long long>(seed), no_serf_dedup ? " (serf dedup off)" : "",
              static_cast<unsigned long long>(serf_deliveries), absl::FormatDuration(sim.now() - killed).c_str(),
              absl::FormatTime(sim.now()).c_str(), static_cast<unsigned long long>(sim.events_processed()));
}

INSTANTIATE_TEST_SUITE_P(Seeds, EventHandlerSim,
                         ::testing::Combine(::testing::Range<uint64_t>(1, SeedCount() + 1), ::testing::Bool()));

}  // namespace
}  // namespace muster::agent_sim
