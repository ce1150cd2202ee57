// Servers whose data dir is wiped come back as new members (a new node ID at the old address).
// The leader must drop the old ID from the raft configuration before adding the new one, as
// Consul's joinConsulServer does: otherwise the old ID stays a voter that no one answers for,
// and two such wipes of three servers leave four voters with two alive — no quorum, ever.
// Here s3 and then s2 are wiped one after the other (each once the previous one is a voter
// again); after each the configuration must be exactly the live IDs, all voters, and the run
// must settle. Seeds 1-20; WIPED_SERVERS_SEEDS=N runs 1..N.
#include <cstdlib>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/agent/identity.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {
namespace {

constexpr int kServers = 3;
// From a wiped restart to a configuration of exactly the live IDs, all voters: gossip's join,
// the removal of the old ID, the new one added as a non-voter and promoted by autopilot after
// its 10 s of stability.
constexpr Duration kReplacedBound = absl::Seconds(40);

std::string NewNodeId(int index) {
  return agent::FormatNodeId(0x3000000000000000ull + static_cast<uint64_t>(index),
                             0xfeed000000000000ull + static_cast<uint64_t>(index));
}

// The raft IDs of the agents' current node IDs, as the leader's configuration must hold them.
std::set<uint64_t> CurrentIds(AgentRun& run) {
  std::set<uint64_t> ids;
  for (int i = 1; i <= kServers; ++i) ids.insert(agent::RaftIdOf(run.options(i).config.node_id)->value);
  return ids;
}

bool ConfigurationIsCurrent(AgentRun& run) {
  std::optional<int> leader = run.SteadyLeader();
  if (!leader.has_value()) return false;
  std::set<uint64_t> voters;
  for (const raft::pb::Server& s : run.agent(*leader)->raft()->configuration().servers()) {
    if (!s.voter()) return false;
    voters.insert(s.id());
  }
  return voters == CurrentIds(run);
}

void RunSeed(uint64_t seed) {
  AgentRun run(seed, absl::StrCat("bazel test //tests/agent_sim:wiped_servers_test (seed ", seed, ")"), false);
  for (int i = 1; i <= kServers; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = kServers;
    for (int j = 1; j <= kServers; ++j) {
      if (j != i) spec.join.push_back(LanAddress(j));
    }
    run.Add(spec);
  }
  ASSERT_TRUE(run.RunUntil([&] { return ConfigurationIsCurrent(run); }, absl::Seconds(30))) << "seed " << seed;
  run.StartWorkload(absl::Milliseconds(100));
  for (int victim : {3, 2}) {
    run.RunFor(absl::Seconds(2));
    run.options(victim).config.node_id = NewNodeId(victim);
    run.RestartWiped(victim);
    const Time wiped_at = run.sim().now();
    ASSERT_TRUE(run.RunUntil([&] { return ConfigurationIsCurrent(run); }, kReplacedBound))
        << "seed " << seed << ": s" << victim << " wiped at " << wiped_at
        << ", the configuration never became the live IDs, all voters";
    EXPECT_GE(run.CountLog(0, "removing server with the address of a new one"), 1) << "seed " << seed;
  }
  ASSERT_TRUE(run.Settle(absl::Seconds(60))) << "seed " << seed << ": " << run.checker().failure();
  EXPECT_FALSE(run.checker().failed()) << run.checker().failure();
  EXPECT_GT(run.puts_acked(), 0u);
}

TEST(WipedServers, TwoWipesOneAfterTheOtherKeepAQuorum) {
  const char* env = std::getenv("WIPED_SERVERS_SEEDS");
  const uint64_t seeds = env != nullptr ? std::strtoull(env, nullptr, 10) : 20;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    RunSeed(seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace muster::agent_sim
