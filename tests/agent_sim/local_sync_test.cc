// A client agent's service and HTTP check under the simulator (three servers, one client, the
// probes' results decided by the test): the catalog shows the check's status within an
// interval and a sync, follows it when the probe fails and passes again while the leader is
// crashed, and a client crashed and restarted still has its service and check without
// registering again. The bounds measured are printed.
#include <cstdio>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

namespace pba = ::muster::proto::agent;

// The check's interval, and the bound the catalog must follow the probe within: an interval,
// the probe's delay, one partial sync (a forwarded write), with room for a leader election.
constexpr Duration kInterval = absl::Seconds(2);
constexpr Duration kFollowBound = absl::Seconds(10);
constexpr Duration kElectionBound = absl::Seconds(30);

// The status of `check_id` on `node` in the catalog as `server` reads it ("" when absent).
std::string CatalogStatus(sim::Simulator& sim, NodeId server, const std::string& node, const std::string& check_id) {
  pba::Call call;
  call.set_key(node);
  call.set_consistency("stale");
  auto r = Send(sim, server, "health.node", call);
  if (!sim.RunUntil([&] { return r->answered; }, absl::Seconds(5)) || !r->status.ok()) return "";
  nlohmann::json checks = nlohmann::json::parse(r->reply.body(), nullptr, false);
  if (!checks.is_array()) return "";
  for (const auto& c : checks) {
    if (c.value("CheckID", "") == check_id) return c.value("Status", "");
  }
  return "";
}

// How long until every live server's catalog shows `status` (nullopt: not within `budget`).
std::optional<Duration> TimeUntil(sim::Simulator& sim, const std::vector<NodeId>& servers, const std::string& node,
                                  const std::string& check_id, const std::string& status, Duration budget) {
  const Time start = sim.now();
  const bool held = sim.RunUntil(
      [&] {
        for (NodeId s : servers) {
          if (sim.IsUp(s) && CatalogStatus(sim, s, node, check_id) != status) return false;
        }
        return true;
      },
      budget);
  if (!held) return std::nullopt;
  return sim.now() - start;
}

class LocalSync : public ::testing::TestWithParam<uint64_t> {};

TEST_P(LocalSync, AClientsCheckReachesTheCatalogAndFollowsItThroughALeaderCrash) {
  sim::Simulator sim(GetParam());
  std::vector<NodeId> servers;
  for (int i = 1; i <= 3; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = 3;
    if (i > 1) spec.join = {LanAddress(1)};
    servers.push_back(AddAgent(sim, spec));
  }
  AgentSpec client_spec;
  client_spec.index = 4;
  client_spec.server = false;
  client_spec.join = {LanAddress(1)};
  const NodeId client = AddAgent(sim, client_spec);
  bool healthy = true;
  int probes = 0;
  sim.set_process_runner([&](NodeId, const ProcessStart& start) {
    ++probes;
    ProcessExitedInput end = sim::Simulator::HealthyEnd(start);
    if (start.kind == ProcessStart::Kind::kHttp && !healthy) end.exit_code = 503;
    return end;
  });
  sim.set_process_delay(absl::Milliseconds(20));
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, kElectionBound));
  sim.RunFor(absl::Seconds(5));

  pba::Call reg;
  reg.set_json(R"({"Name": "web", "ID": "web1", "Port": 80, "Check": {"HTTP": "http://web/health", "Interval": "2s"}})");
  auto registered = Send(sim, client, "agent.service.register", reg);
  ASSERT_TRUE(sim.RunUntil([&] { return registered->answered; }, absl::Seconds(5)));
  ASSERT_TRUE(registered->status.ok()) << registered->status;

  const std::string node = NodeName(4);
  std::optional<Duration> passing = TimeUntil(sim, servers, node, "service:web1", "passing", kFollowBound);
  ASSERT_TRUE(passing.has_value()) << "not passing in every server's catalog within " << kFollowBound;
  EXPECT_GT(probes, 0);

  healthy = false;
  std::optional<Duration> critical = TimeUntil(sim, servers, node, "service:web1", "critical", kFollowBound);
  ASSERT_TRUE(critical.has_value());
  EXPECT_LE(*critical, kInterval + absl::Seconds(3));

  // The leader crashes and the probe passes again meanwhile: once a new leader is elected the
  // client's sync (held, retried with back-off) reaches the catalog.
  const NodeId leader = Leaders(sim).at(0);
  sim.Kill(leader);
  healthy = true;
  std::optional<Duration> again = TimeUntil(sim, servers, node, "service:web1", "passing", kElectionBound);
  ASSERT_TRUE(again.has_value()) << "not passing again within " << kElectionBound << " of the leader's crash";
  sim.Restart(leader);

  // A client crashed and restarted keeps what was registered (no new registration).
  sim.Kill(client);
  sim.RunFor(absl::Seconds(1));
  sim.Restart(client);
  sim.RunFor(absl::Seconds(5));
  auto services = Send(sim, client, "agent.services", pba::Call());
  ASSERT_TRUE(sim.RunUntil([&] { return services->answered; }, absl::Seconds(5)));
  EXPECT_NE(services->reply.body().find("\"web1\""), std::string::npos) << services->reply.body();
  EXPECT_TRUE(TimeUntil(sim, servers, node, "service:web1", "passing", kFollowBound).has_value());

  std::printf("seed %llu: catalog bounds: passing after registration %s, critical after the probe failed %s, passing again "
              "after the leader's crash %s\n",
              static_cast<unsigned long long>(GetParam()), absl::FormatDuration(*passing).c_str(), absl::FormatDuration(*critical).c_str(),
              absl::FormatDuration(*again).c_str());
}

INSTANTIATE_TEST_SUITE_P(Seeds, LocalSync, ::testing::Range<uint64_t>(1, 11));

}  // namespace
}  // namespace muster::agent_sim
