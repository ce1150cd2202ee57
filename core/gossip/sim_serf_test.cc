// Simulation of the Serf requests end to end: queries with node and tag filters, acks,
// responses from handler processes and a timeout; tag updates; the members listing; a
// node restarted under the same name rejoins; the WAN profile; and determinism (a seed
// reproduces the run's fingerprint).
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "core/gossip/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

TEST(SerfSimTest, QueryGathersAcksAndResponsesFromMatchingNodes) {
  for (int i = 0; i < SeedCount(50); ++i) {
    const uint64_t seed = 90'000 + i;
    ClusterOptions o;
    o.nodes = 6;
    o.tweak = [](SerfConfig& c) {
      // Odd nodes are servers.
      int id = std::stoi(c.memberlist.name.substr(1));
      c.tags["role"] = id % 2 ? "server" : "client";
      c.handlers = {{"query:uptime", "uptime.sh"}};
    };
    SimCluster c(seed, o);
    c.sim().set_process_runner([](NodeId node, const ProcessStart& p) {
      ProcessExitedInput r;
      r.process_id = p.id;
      r.output = absl::StrCat("up-", ToString(node));
      return r;
    });
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)));
    std::string body;
    bool done = false;
    c.sim().Request(c.ids()[1], "query", "uptime\ttag=role=server\tack\ttimeout_ms=3000\n", [&](const Response& r) {
      ASSERT_TRUE(r.status.ok());
      body = r.body;
      done = true;
    });
    c.sim().RunFor(absl::Seconds(2.9));
    EXPECT_FALSE(done) << "answers at the timeout";
    c.sim().RunFor(absl::Milliseconds(200));
    ASSERT_TRUE(done) << "seed " << seed;
    EXPECT_EQ(body, "ack\tn1\nack\tn3\nack\tn5\nresponse\tn1\tup-n1\nresponse\tn3\tup-n3\nresponse\tn5\tup-n5\n")
        << "seed " << seed;
    // A node filter.
    done = false;
    c.sim().Request(c.ids()[0], "query", "uptime\tnode=n4\tnode=n6\ttimeout_ms=2000\n", [&](const Response& r) {
      body = r.body;
      done = true;
    });
    c.sim().RunFor(absl::Seconds(2.1));
    ASSERT_TRUE(done);
    EXPECT_EQ(body, "response\tn4\tup-n4\nresponse\tn6\tup-n6\n") << "seed " << seed;
  }
}

TEST(SerfSimTest, TagChangesReachEveryoneAsMemberUpdate) {
  ClusterOptions o;
  o.nodes = 8;
  SimCluster c(91'000, o);
  const auto everyone = c.LiveNames();
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)));
  c.sim().Request(c.ids()[3], "tags", "role=server,dc=dc2,expect=3", [](const Response& r) { EXPECT_TRUE(r.status.ok()); });
  auto took = c.RunUntil(
      [&] {
        for (NodeId id : c.Live()) {
          const Member* m = c.node(id)->serf().member("n4");
          if (m == nullptr || m->tags.count("dc") == 0 || m->tags.at("dc") != "dc2") return false;
        }
        return true;
      },
      absl::Seconds(10), absl::Milliseconds(10));
  ASSERT_TRUE(took.has_value());
  EXPECT_LE(*took, absl::Milliseconds(600)) << "a few gossip intervals";
  for (NodeId id : c.Live()) EXPECT_EQ(c.node(id)->serf().stats().events.at("member-update"), 1u);
  std::string listing;
  c.sim().Request(c.ids()[0], "members", "", [&](const Response& r) { listing = r.body; });
  c.sim().RunFor(absl::Milliseconds(1));
  EXPECT_TRUE(absl::StrContains(listing, "n4\tn4\talive\tdc=dc2,expect=3,role=server\n")) << listing;
  std::vector<std::string> lines = absl::StrSplit(listing, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 8u);
}

TEST(SerfSimTest, ARestartedNodeRejoinsUnderItsNameAfterBeingDeclaredFailed) {
  // The rejoin refutes the old death with a higher incarnation; the refutation spreads by
  // gossip (almost always within a few gossip intervals) and, where the epidemic missed a
  // node, by the next push-pull.
  const int seeds = SeedCount(50);
  int fast = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = 92'000 + i;
    ClusterOptions o;
    o.nodes = 6;
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)));
    NodeId n = c.ids()[4];
    c.sim().Kill(n);
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeStatus("n5", MemberStatus::kFailed); }, absl::Seconds(30)));
    c.sim().Restart(n);  // starts with incarnation 1 and no members; the factory joins n1
    auto took = c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(30));
    ASSERT_TRUE(took.has_value()) << "seed " << seed;
    EXPECT_LE(*took, absl::Seconds(30)) << "seed " << seed << ": more than a push-pull interval";
    fast += *took <= absl::Seconds(3);
  }
  EXPECT_GE(fast * 10, seeds * 9) << "rejoins within 3 s: " << fast << " of " << seeds;
}

TEST(SerfSimTest, WanProfileDetectsFailuresOnItsSlowerClock) {
  ClusterOptions o;
  o.nodes = 5;
  o.link.latency_min = absl::Milliseconds(40);
  o.link.latency_jitter_mean = absl::Milliseconds(20);
  o.tweak = [](SerfConfig& c) { c.memberlist = MemberlistConfig::Wan(c.memberlist.name); };
  SimCluster c(93'000, o);
  const auto everyone = c.LiveNames();
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)));
  c.sim().Kill(c.ids()[2]);
  auto took = c.RunUntil([&] { return c.AllSeeStatus("n3", MemberStatus::kFailed); }, absl::Seconds(200));
  ASSERT_TRUE(took.has_value());
  // Suspicion minimum 6 * 5 s = 30 s; the probe round up to 2 * 4 * 5 s before that.
  EXPECT_GE(*took, absl::Seconds(30));
  EXPECT_LE(*took, absl::Seconds(2 * 4 * 5 + 30 + 5));
  std::printf("WAN profile, N=5: killed node failed everywhere after %.1f s\n", absl::ToDoubleSeconds(*took));
}

uint64_t Fingerprint(uint64_t seed) {
  ClusterOptions o;
  o.nodes = 7;
  o.link.loss = 0.05;
  o.link.duplicate = 0.05;
  SimCluster c(seed, o);
  c.sim().RunFor(absl::Seconds(10));
  c.sim().Kill(c.ids()[3]);
  c.sim().Request(c.ids()[1], "user-event", "e\np", [](const Response&) {});
  c.sim().RunFor(absl::Seconds(20));
  return c.sim().fingerprint();
}

TEST(SerfSimTest, ASeedReproducesTheRunBitForBit) {
  for (uint64_t seed : {1u, 2u, 3u}) EXPECT_EQ(Fingerprint(seed), Fingerprint(seed));
  EXPECT_NE(Fingerprint(1), Fingerprint(2));
}

}  // namespace
}  // namespace muster::gossip::testing
