#include "core/agent/autopilot.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

const Time kT0 = absl::FromUnixSeconds(1'000'000);

ServerFacts Server(uint64_t id, bool voter, ServerFacts::Gossip gossip, Duration contact = absl::Milliseconds(10),
                   uint64_t index = 100) {
  ServerFacts f;
  f.raft_id = NodeId{id};
  f.name = absl::StrCat("s", id);
  f.node_id = absl::StrCat("id-", id);
  f.address = absl::StrCat("10.0.0.", id, ":8300");
  f.voter = voter;
  f.leader = id == 1;
  f.gossip = gossip;
  f.last_contact = f.leader ? absl::ZeroDuration() : contact;
  f.last_index = index;
  return f;
}

using G = ServerFacts::Gossip;

TEST(AutopilotTest, ANonVoterIsPromotedOnlyAfterTheStabilizationTime) {
  AutopilotConfig c;
  Autopilot a;
  std::vector<ServerFacts> servers = {Server(1, true, G::kAlive), Server(2, true, G::kAlive),
                                      Server(3, true, G::kAlive), Server(4, false, G::kAlive)};
  a.Update(kT0, c, 100, servers);
  EXPECT_TRUE(a.ToPromote(kT0, c).empty());
  a.Update(kT0 + absl::Seconds(9), c, 100, servers);
  EXPECT_TRUE(a.ToPromote(kT0 + absl::Seconds(9), c).empty());
  a.Update(kT0 + absl::Seconds(10), c, 100, servers);
  EXPECT_EQ(a.ToPromote(kT0 + absl::Seconds(10), c), std::vector<NodeId>{NodeId{4}});
}

TEST(AutopilotTest, TurningUnhealthyRestartsTheStabilizationClock) {
  AutopilotConfig c;
  Autopilot a;
  auto at = [&](int s, Duration contact, uint64_t index) {
    a.Update(kT0 + absl::Seconds(s), c, 1000,
             {Server(1, true, G::kAlive, absl::ZeroDuration(), 1000), Server(4, false, G::kAlive, contact, index)});
  };
  at(0, absl::Milliseconds(10), 1000);
  at(5, absl::Seconds(1), 1000);  // last contact past the threshold: unhealthy
  EXPECT_FALSE(a.servers().at(NodeId{4}).healthy);
  at(6, absl::Milliseconds(10), 500);  // trailing by 500 > 250 logs: still unhealthy
  EXPECT_FALSE(a.servers().at(NodeId{4}).healthy);
  at(7, absl::Milliseconds(10), 900);
  EXPECT_TRUE(a.servers().at(NodeId{4}).healthy);
  EXPECT_TRUE(a.ToPromote(kT0 + absl::Seconds(16), c).empty());
  EXPECT_EQ(a.ToPromote(kT0 + absl::Seconds(17), c), std::vector<NodeId>{NodeId{4}});
}

TEST(AutopilotTest, DeadServersAreRemovedOnlyWhileAHealthyQuorumRemains) {
  AutopilotConfig c;
  Autopilot a;
  // Five voters, one failed: removing it leaves four with four healthy.
  a.Update(kT0, c, 100,
           {Server(1, true, G::kAlive), Server(2, true, G::kAlive), Server(3, true, G::kAlive),
            Server(4, true, G::kAlive), Server(5, true, G::kFailed)});
  EXPECT_EQ(a.ToRemove(c), std::vector<NodeId>{NodeId{5}});
  EXPECT_EQ(a.failure_tolerance(), 1);
  EXPECT_FALSE(a.healthy());
  // Three voters, two failed: no healthy quorum would remain; nothing is removed.
  a.Update(kT0, c, 100, {Server(1, true, G::kAlive), Server(2, true, G::kFailed), Server(3, true, G::kFailed)});
  EXPECT_TRUE(a.ToRemove(c).empty());
  // Off: never.
  c.cleanup_dead_servers = false;
  a.Update(kT0, c, 100,
           {Server(1, true, G::kAlive), Server(2, true, G::kAlive), Server(3, true, G::kAlive),
            Server(4, true, G::kAlive), Server(5, true, G::kLeft)});
  EXPECT_TRUE(a.ToRemove(c).empty());
  // MinQuorum 5 keeps the fifth.
  c.cleanup_dead_servers = true;
  c.min_quorum = 5;
  EXPECT_TRUE(a.ToRemove(c).empty());
}

TEST(AutopilotTest, AtMostHalfTheVotersLessOneAreRemovedInARound) {
  AutopilotConfig c;
  Autopilot a;
  // Two voters, one failed (a leader's stale view just after a heal): the leader never makes
  // itself the only voter, though it alone would be "a healthy quorum" of one.
  a.Update(kT0, c, 100, {Server(1, true, G::kAlive), Server(2, true, G::kFailed)});
  EXPECT_TRUE(a.ToRemove(c).empty());
  // Three voters, one failed: one removal.
  a.Update(kT0, c, 100, {Server(1, true, G::kAlive), Server(2, true, G::kAlive), Server(3, true, G::kFailed)});
  EXPECT_EQ(a.ToRemove(c), std::vector<NodeId>{NodeId{3}});
  // Five voters, two failed: both (two of five).
  a.Update(kT0, c, 100,
           {Server(1, true, G::kAlive), Server(2, true, G::kAlive), Server(3, true, G::kAlive),
            Server(4, true, G::kFailed), Server(5, true, G::kFailed)});
  EXPECT_EQ(a.ToRemove(c), (std::vector<NodeId>{NodeId{4}, NodeId{5}}));
  // Dead non-voters are not counted against the cap.
  a.Update(kT0, c, 100,
           {Server(1, true, G::kAlive), Server(2, true, G::kFailed), Server(3, false, G::kFailed),
            Server(4, false, G::kLeft)});
  EXPECT_EQ(a.ToRemove(c), (std::vector<NodeId>{NodeId{3}, NodeId{4}}));
}

TEST(AutopilotTest, ConfigurationJsonRoundTripsInConsulsShape) {
  AutopilotConfig c;
  nlohmann::json j = nlohmann::json::parse(AutopilotConfigJson(c));
  EXPECT_EQ(j["CleanupDeadServers"], true);
  EXPECT_EQ(j["LastContactThreshold"], "200ms");
  EXPECT_EQ(j["MaxTrailingLogs"], 250);
  EXPECT_EQ(j["MinQuorum"], 0);
  EXPECT_EQ(j["ServerStabilizationTime"], "10s");
  absl::StatusOr<AutopilotConfig> back =
      ParseAutopilotConfigJson(R"({"ServerStabilizationTime":"1m30s","LastContactThreshold":"1.5s","MinQuorum":3})", c);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->server_stabilization_time, absl::Seconds(90));
  EXPECT_EQ(back->last_contact_threshold, absl::Milliseconds(1500));
  EXPECT_EQ(back->min_quorum, 3u);
  EXPECT_TRUE(back->cleanup_dead_servers);  // absent fields keep the base's
  EXPECT_EQ(nlohmann::json::parse(AutopilotConfigJson(*back))["ServerStabilizationTime"], "1m30s");
}

TEST(AutopilotTest, BadConfigurationJsonIsRefusedNamingTheField) {
  const AutopilotConfig base;
  for (const char* bad : {"[]", "{", R"({"MinQuorum":-1})", R"({"CleanupDeadServers":"yes"})",
                          R"({"LastContactThreshold":"10 parsecs"})", R"({"LastContactThreshold":"-1s"})",
                          R"({"Bogus":1})", R"({"ServerStabilizationTime":true})"}) {
    absl::StatusOr<AutopilotConfig> c = ParseAutopilotConfigJson(bad, base);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseAutopilotConfigJson(R"({"MinQuorum":-1})", base).status().message().find("MinQuorum"),
            std::string::npos);
}

}  // namespace
}  // namespace muster::agent
