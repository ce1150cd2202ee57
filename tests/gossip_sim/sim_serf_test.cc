// Simulation of the Serf requests end to end: queries with node and tag filters, acks,
// responses from handler processes and a timeout; tag updates; the members listing; a
// node restarted under the same name rejoins; the WAN profile; and determinism (a seed
// reproduces the run's fingerprint).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/gossip_sim/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

TEST(SerfSimTest, QueryGathersAcksAndResponsesFromMatchingNodes) {
  for (int i = 0; i < SeedCount(50); ++i) {
    const uint64_t seed = FirstSeed(90'000) + i;
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
  std::vector<double> times;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(92'000) + i;
    ClusterOptions o;
    o.nodes = 6;
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)));
    NodeId n = c.ids()[4];
    c.sim().Kill(n);
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeStatus("n5", MemberStatus::kFailed); }, absl::Seconds(30)));
    c.sim().Restart(n);  // starts with incarnation 1 and no members; the factory joins n1
    // The budget (a push-pull interval, the last fallback) is far above the bound below, so
    // the bound is what can fail; it asserted a duration at most its own budget before
    // (issue 10 item 15).
    auto took = c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(30));
    ASSERT_TRUE(took.has_value()) << "seed " << seed;
    // Seeds 92000-92499: max 2.60 s (a node the refutation's epidemic missed, caught by the
    // member-count sync). Bound: 5 s, about twice that.
    EXPECT_LE(*took, absl::Seconds(5)) << "seed " << seed;
    times.push_back(absl::ToDoubleSeconds(*took));
    fast += *took <= absl::Seconds(1);
  }
  std::sort(times.begin(), times.end());
  std::printf("rejoin after restart, N=6, %d seeds: p50=%.2fs p90=%.2fs max=%.2fs, within 1 s: %d\n", seeds,
              times[times.size() / 2], times[times.size() * 9 / 10], times.back(), fast);
  // Measured: seeds 92000-92049 p50 0.15 s, p90 0.20 s, max 1.25 s, 49 of 50 within 1 s;
  // 92000-92499 p50 0.15 s, p90 0.25 s, 494 of 500 (98.8%). Bound: 95% within 1 s (one
  // more slow seed in 50 still passes, two more fail).
  EXPECT_GE(fast * 100, seeds * 95) << "rejoins within 1 s: " << fast << " of " << seeds;
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

// ---------------------------------------------------------------------------------------
// Issue 10 item 14: what one query and one leave cost. Serf spreads both by gossip (the
// query broadcast queue; the leave intent and memberlist's goodbye through their queues),
// so the origin sends each at most RetransmitLimit(retransmit_mult, N) times
// (4 * ceil(log10(N + 1))), riding on packets it sends anyway; a unicast to every member
// made that N - 1 more datagrams from one node.

struct Copies {
  uint64_t copies = 0;  // messages carrying it
  uint64_t bytes = 0;   // their bytes inside the packets (packing overhead included)
};
struct DisseminationCost {
  int n = 0;
  Copies query_origin, query_all, leave_origin, leave_all, responses_all;
  uint64_t origin_datagrams_after_query = 0;  // every datagram of the origin's next second
  uint64_t origin_datagrams_before_query = 0;  // the same, the second before (baseline)
};

DisseminationCost MeasureDissemination(int n, uint64_t seed) {
  DisseminationCost cost;
  cost.n = n;
  std::string origin, leaver;
  Time query_at = absl::InfiniteFuture();
  bool counting = false;
  ClusterOptions o;
  o.nodes = n;
  o.join_spread = absl::Milliseconds(10) * n;
  o.tweak = [](SerfConfig& c) { c.handlers = {{"query:ping", "pong.sh"}}; };
  SimCluster* cluster = nullptr;
  o.on_send = [&](NodeId from, const OutboundMessage& out) {
    if (!counting) return;
    const std::string name = SimCluster::Name(from);
    const Time now = cluster->sim().now();
    if (name == origin && out.channel == Channel::kDatagram) {
      if (now >= query_at - absl::Seconds(1) && now < query_at) cost.origin_datagrams_before_query++;
      if (now >= query_at && now < query_at + absl::Seconds(1)) cost.origin_datagrams_after_query++;
    }
    proto::gossip::Packet p;
    if (!p.ParseFromString(out.payload)) return;
    for (const proto::gossip::Message& m : p.messages()) {
      const uint64_t bytes = PackedSize(m.ByteSizeLong());
      Copies* origin_side = nullptr;
      Copies* all_side = nullptr;
      if (m.has_dead() && m.dead().node() == leaver && m.dead().from() == leaver) {
        origin_side = &cost.leave_origin;
        all_side = &cost.leave_all;
      } else if (m.has_user()) {
        proto::gossip::SerfMessage sm;
        if (!sm.ParseFromString(m.user().payload())) continue;
        if (sm.has_query()) {
          origin_side = &cost.query_origin;
          all_side = &cost.query_all;
        } else if (sm.has_leave() && sm.leave().node() == leaver) {
          origin_side = &cost.leave_origin;
          all_side = &cost.leave_all;
        } else if (sm.has_query_response()) {
          all_side = &cost.responses_all;
        }
      }
      if (all_side == nullptr) continue;
      all_side->copies++;
      all_side->bytes += bytes;
      const std::string& from_name = origin_side == &cost.leave_origin ? leaver : origin;
      if (origin_side != nullptr && name == from_name) {
        origin_side->copies++;
        origin_side->bytes += bytes;
      }
    }
  };
  SimCluster c(seed, o);
  cluster = &c;
  c.sim().set_process_runner([](NodeId, const ProcessStart& p) {
    ProcessExitedInput r;
    r.process_id = p.id;
    r.output = "pong";
    return r;
  });
  const auto everyone = c.LiveNames();
  c.sim().RunUntil(c.last_join());
  EXPECT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60), absl::Milliseconds(250)))
      << "N=" << n << " seed " << seed;
  c.sim().RunFor(absl::Seconds(5));
  // One query, with acks, from a node other than the seed; everyone must ack it.
  const NodeId asker = c.ids()[n / 2];
  origin = SimCluster::Name(asker);
  counting = true;
  query_at = c.sim().now() + absl::Seconds(1);
  c.sim().RunUntil(query_at);
  std::string body;
  c.sim().Request(asker, "query", "ping\tack\ttimeout_ms=3000\n", [&](const Response& r) { body = r.body; });
  c.sim().RunFor(absl::Seconds(3.5));
  std::string want_acks;
  for (const std::string& name : everyone) absl::StrAppend(&want_acks, "ack\t", name, "\n");
  EXPECT_TRUE(absl::StartsWith(body, want_acks)) << "N=" << n << " seed " << seed << ": not every member acked";
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 2 * n) << "N=" << n << " seed " << seed;
  // One leave, from yet another node: left everywhere, failed nowhere.
  const NodeId leaving = c.ids()[n / 2 + 1];
  leaver = SimCluster::Name(leaving);
  c.sim().Request(leaving, "leave", "", [](const Response&) {});
  EXPECT_TRUE(c.RunUntil([&] { return c.AllSeeStatus(leaver, MemberStatus::kLeft); }, absl::Seconds(20)))
      << "N=" << n << " seed " << seed << ": leave not seen everywhere";
  c.sim().RunFor(absl::Seconds(1.1));
  c.sim().Kill(leaving);
  c.sim().RunFor(absl::Seconds(30));  // past any suspicion a missed goodbye would cause
  for (NodeId id : c.Live()) {
    EXPECT_EQ(c.node(id)->serf().stats().failed_seen.count(leaver), 0u)
        << "N=" << n << " seed " << seed << ": " << SimCluster::Name(id) << " saw the leave as a failure";
  }
  return cost;
}

TEST(DisseminationTest, AQueryAndALeaveCostTheOriginAFanOutNotAUnicastToEveryMember) {
  // N = 50 here (~2 s a seed); GOSSIP_DISSEMINATION_BIG=1 adds N = 500 (the README figures).
  std::vector<int> sizes = {50};
  if (std::getenv("GOSSIP_DISSEMINATION_BIG") != nullptr) sizes.push_back(500);
  for (int n : sizes) {
    const int seeds = n >= 500 ? 1 : SeedCount(5);
    for (int i = 0; i < seeds; ++i) {
      const uint64_t seed = FirstSeed(94'000) + i;
      DisseminationCost k = MeasureDissemination(n, seed);
      std::printf("N=%d seed %llu: query: origin %llu copies / %llu B, all nodes %llu / %llu B "
                  "(responses and acks %llu / %llu B); origin datagrams in the second after %llu, before %llu; "
                  "leave: origin %llu / %llu B, all nodes %llu / %llu B\n",
                  n, (unsigned long long)seed, (unsigned long long)k.query_origin.copies,
                  (unsigned long long)k.query_origin.bytes, (unsigned long long)k.query_all.copies,
                  (unsigned long long)k.query_all.bytes, (unsigned long long)k.responses_all.copies,
                  (unsigned long long)k.responses_all.bytes, (unsigned long long)k.origin_datagrams_after_query,
                  (unsigned long long)k.origin_datagrams_before_query, (unsigned long long)k.leave_origin.copies,
                  (unsigned long long)k.leave_origin.bytes, (unsigned long long)k.leave_all.copies,
                  (unsigned long long)k.leave_all.bytes);
      // The limit is the broadcast queue's, exactly: each Take of a queued message counts one
      // transmission, and the origin does not requeue its own message when it comes back.
      // Queries and leave intents have a floor (SerfConfig::query_leave_transmits_min).
      const SerfConfig config = SerfConfig::Lan("x");
      const uint64_t limit = RetransmitLimit(config.memberlist.retransmit_mult, n);
      const uint64_t serf_limit = std::max<uint64_t>(limit, config.query_leave_transmits_min);
      EXPECT_LE(k.query_origin.copies, serf_limit) << "N=" << n << " seed " << seed;
      // The leave is two messages: Serf's intent and memberlist's goodbye (memberlist's limit).
      EXPECT_LE(k.leave_origin.copies, serf_limit + limit) << "N=" << n << " seed " << seed;
      // Not a datagram of its own to every member: the origin's next second is what a second
      // of gossip with news to send costs, 5 ticks x 3 targets plus probes and acks (measured
      // 12 at N = 50 and 500; the unicast to everyone made it 50 and 501). Bound: 20.
      EXPECT_LE(k.origin_datagrams_after_query, 20u) << "N=" << n << " seed " << seed;
    }
  }
}

// Acks to a query under 20% datagram loss: each direct ack is lost one time in five; with
// relay=2 it also takes two two-hop roads (each lost ~36% of the time), so an ack is lost
// only when all three are (~2.6%).
double AckedFraction(int relay, int seeds) {
  uint64_t acked = 0, expected = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(95'000) + i;
    ClusterOptions o;
    o.nodes = 8;
    o.link.loss = 0.20;
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    EXPECT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(90))) << "seed " << seed;
    std::string body;
    c.sim().Request(c.ids()[2], "query", absl::StrCat("q\tack\ttimeout_ms=3000\trelay=", relay, "\n"),
                    [&](const Response& r) { body = r.body; });
    c.sim().RunFor(absl::Seconds(3.1));
    acked += std::count(body.begin(), body.end(), '\n');
    expected += everyone.size();
  }
  return static_cast<double>(acked) / static_cast<double>(expected);
}

TEST(DisseminationTest, RelayedAnswersSurviveDatagramLoss) {
  const int seeds = SeedCount(50);
  const double direct = AckedFraction(0, seeds);
  const double relayed = AckedFraction(2, seeds);
  std::printf("acks received under 20%% loss, N=8, %d seeds: relay=0 %.3f, relay=2 %.3f\n", seeds, direct, relayed);
  // The asker's own ack is local, so the expected fractions are 1/8 + 7/8 * 0.8 = 0.825 and
  // 1/8 + 7/8 * 0.974 = 0.977. Measured: seeds 95000-95049 0.812 and 0.973; 95000-95299
  // 0.827 and 0.975. Bounds about two standard errors of 50 seeds away: 0.87 and 0.95.
  EXPECT_LE(direct, 0.87);
  EXPECT_GE(relayed, 0.95);
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
