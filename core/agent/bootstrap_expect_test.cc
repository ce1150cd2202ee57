#include "core/agent/bootstrap_expect.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

using Kind = BootstrapDecision::Kind;

ServerCandidate Server(int i, uint32_t expect = 3) {
  ServerCandidate s;
  s.name = absl::StrCat("s", i);
  s.node_id = absl::StrCat("0000000", i, "-0000-4000-8000-000000000000");
  s.raft_id = NodeId{static_cast<uint64_t>(i) << 32};
  s.rpc_address = absl::StrCat("127.0.0.", i, ":8300");
  s.datacenter = "dc1";
  s.expect = expect;
  return s;
}

BootstrapInput Input(std::vector<ServerCandidate> servers) {
  BootstrapInput in;
  in.self = "s1";
  in.expect = 3;
  in.datacenter = "dc1";
  in.alive_servers = std::move(servers);
  return in;
}

TEST(BootstrapExpect, WaitsForTheExpectedNumber) {
  EXPECT_EQ(DecideBootstrap(Input({Server(1)})).kind, Kind::kWait);
  EXPECT_EQ(DecideBootstrap(Input({Server(1), Server(2)})).kind, Kind::kWait);
  BootstrapInput none = Input({Server(1), Server(2), Server(3)});
  none.expect = 0;
  EXPECT_EQ(DecideBootstrap(none).kind, Kind::kNone);
}

TEST(BootstrapExpect, AsksThePeersThenBootstrapsWithTheSameConfigurationEverywhere) {
  BootstrapInput in = Input({Server(3), Server(1), Server(2)});
  BootstrapDecision ask = DecideBootstrap(in);
  ASSERT_EQ(ask.kind, Kind::kAskPeers);
  ASSERT_EQ(ask.servers.size(), 2u);  // not ourselves
  EXPECT_EQ(ask.servers[0].name, "s2");
  EXPECT_EQ(ask.servers[1].name, "s3");
  in.peer_reports["s2"] = false;
  EXPECT_EQ(DecideBootstrap(in).kind, Kind::kAskPeers);
  in.peer_reports["s3"] = false;
  BootstrapDecision go = DecideBootstrap(in);
  ASSERT_EQ(go.kind, Kind::kBootstrap);
  ASSERT_EQ(go.servers.size(), 3u);
  EXPECT_EQ(go.servers[0].name, "s1");
  EXPECT_EQ(go.servers[2].name, "s3");
  EXPECT_EQ(go.log, "Found expected number of peers, attempting bootstrap: 127.0.0.1:8300,127.0.0.2:8300,127.0.0.3:8300");
  // Another server's view, in another order, decides the same set.
  BootstrapInput other = Input({Server(2), Server(3), Server(1)});
  other.self = "s2";
  other.peer_reports = {{"s1", false}, {"s3", false}};
  BootstrapDecision go2 = DecideBootstrap(other);
  ASSERT_EQ(go2.kind, Kind::kBootstrap);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(go2.servers[i].raft_id, go.servers[i].raft_id);
}

TEST(BootstrapExpect, RaftStateHereOrThereDisablesIt) {
  BootstrapInput in = Input({Server(1), Server(2), Server(3)});
  in.has_raft_state = true;
  BootstrapDecision d = DecideBootstrap(in);
  EXPECT_EQ(d.kind, Kind::kDisabled);
  EXPECT_EQ(d.log, "Raft data found, disabling bootstrap mode");
  in.has_raft_state = false;
  in.peer_reports = {{"s2", false}, {"s3", true}};
  d = DecideBootstrap(in);
  EXPECT_EQ(d.kind, Kind::kDisabled);
  EXPECT_EQ(d.log, "Existing Raft peers reported by s3, disabling bootstrap mode");
}

TEST(BootstrapExpect, MismatchedExpectationsAndBootstrapModeMembers) {
  BootstrapDecision d = DecideBootstrap(Input({Server(1), Server(2), Server(3, 5)}));
  EXPECT_EQ(d.kind, Kind::kWait);
  EXPECT_NE(d.log.find("Member s3 has a conflicting expect value (5 vs our 3)"), std::string::npos) << d.log;
  ServerCandidate legacy = Server(4, 0);
  legacy.bootstrap = true;
  d = DecideBootstrap(Input({Server(1), Server(2), Server(3), legacy}));
  EXPECT_EQ(d.kind, Kind::kDisabled);
  EXPECT_EQ(d.log, "Member s4 has bootstrap mode. Expect disabled.");
}

TEST(BootstrapExpect, OnlyOurDatacentersServersCount) {
  ServerCandidate far = Server(3);
  far.datacenter = "dc2";
  EXPECT_EQ(DecideBootstrap(Input({Server(1), Server(2), far})).kind, Kind::kWait);
}

}  // namespace
}  // namespace muster::agent
