// Simulation: failure detection within a bound derived from the configuration, and no
// false failures under 10% loss or with one node whose receive path is slow.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "tests/gossip_sim/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Total member-failed events about `name` across live nodes.
uint64_t FailedSeen(SimCluster& c, const std::string& name) {
  uint64_t n = 0;
  for (NodeId id : c.Live()) {
    auto& f = c.node(id)->serf().stats().failed_seen;
    auto it = f.find(name);
    if (it != f.end()) n += it->second;
  }
  return n;
}

// Detection bound for a killed member, from the LAN configuration (I = probe interval,
// Lifeguard on, no loss): every live node probes every member at least once per two of its
// rounds, so by (2N - 2) * I after the kill every live node has suspected it (or heard of
// it), which brings each suspicion's timeout to its minimum (suspicion_mult * I for N <= 10);
// a last second covers the dead message's gossip. B = (2N - 2) * I + min + 1 s.
Duration DetectionBound(int n, const MemberlistConfig& c) {
  return (2 * n - 2) * c.probe_interval + SuspicionTimeoutMin(c.suspicion_mult, n, c.probe_interval) +
         absl::Seconds(1);
}

TEST(DetectionTest, KilledNodeIsDeclaredFailedByEveryoneWithinTheBound) {
  const int seeds = SeedCount(200);
  std::vector<double> first, all;
  int false_failures = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(10'000) + i;
    ClusterOptions o;
    o.nodes = 5 + i % 6;  // 5..10
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) << "seed " << seed;
    c.sim().RunFor(c.sim().rng().UniformDuration(absl::ZeroDuration(), absl::Seconds(2)));
    NodeId victim = c.ids()[1 + c.sim().rng().Uniform(c.ids().size() - 1)];
    const std::string name = SimCluster::Name(victim);
    c.sim().Kill(victim);
    const Time killed = c.sim().now();
    std::optional<Duration> first_at;
    const Duration bound = DetectionBound(o.nodes, MemberlistConfig::Lan("x"));
    auto took = c.RunUntil(
        [&] {
          if (!first_at && FailedSeen(c, name) > 0) first_at = c.sim().now() - killed;
          return c.AllSeeStatus(name, MemberStatus::kFailed);
        },
        bound + absl::Seconds(30), absl::Milliseconds(10));
    ASSERT_TRUE(took.has_value()) << "seed " << seed << ": " << name << " never failed everywhere";
    EXPECT_LE(*took, bound) << "seed " << seed << " N=" << o.nodes;
    first.push_back(absl::ToDoubleSeconds(first_at.value_or(*took)));
    all.push_back(absl::ToDoubleSeconds(*took));
    for (const auto& n : c.LiveNames()) false_failures += FailedSeen(c, n);
  }
  EXPECT_EQ(false_failures, 0);
  std::printf("detection (N=5..10, %d seeds): first declared p50=%.2fs p90=%.2fs max=%.2fs; "
              "all declared p50=%.2fs p90=%.2fs p99=%.2fs max=%.2fs; false failures=%d\n",
              seeds, Percentile(first, 0.5), Percentile(first, 0.9), Percentile(first, 1.0), Percentile(all, 0.5),
              Percentile(all, 0.9), Percentile(all, 0.99), Percentile(all, 1.0), false_failures);
}

void TenPercentLoss(bool stream_fallback, uint64_t first_seed) {
  const int seeds = SeedCount(200);
  uint64_t suspicions = 0, failures = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(first_seed) + i;
    ClusterOptions o;
    o.nodes = 5 + i % 6;
    o.link.loss = 0.10;
    o.tweak = [stream_fallback](SerfConfig& c) { c.memberlist.stream_fallback_ping = stream_fallback; };
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) << "seed " << seed;
    c.sim().RunFor(absl::Seconds(60));
    for (NodeId id : c.Live()) {
      const auto& st = c.node(id)->serf().memberlist().stats();
      for (const auto& [n, k] : st.suspected) suspicions += k;
      for (const auto& [n, k] : st.declared_dead) failures += k;
    }
    uint64_t seen = 0;
    for (const auto& n : everyone) seen += FailedSeen(c, n);
    EXPECT_EQ(seen, 0u) << "seed " << seed << ": a healthy node was marked failed";
  }
  std::printf("10%% loss, stream fallback %s, %d seeds x 60 s: false suspicions=%llu false failures=%llu\n",
              stream_fallback ? "on" : "off", seeds, static_cast<unsigned long long>(suspicions),
              static_cast<unsigned long long>(failures));
  EXPECT_EQ(failures, 0u);
}

TEST(NoFalseFailuresTest, TenPercentLossEverywhere) { TenPercentLoss(true, 20'000); }

// Harsher: datagrams only (no TCP fallback ping), so lost probes do raise suspicions; the
// suspicions are refuted before they expire.
TEST(NoFalseFailuresTest, TenPercentLossEverywhereWithoutStreamFallback) { TenPercentLoss(false, 25'000); }

TEST(NoFalseFailuresTest, SlowReceivePathAccusesNoHealthyPeer) {
  const int seeds = SeedCount(200);
  uint64_t slow_suspicions = 0, slow_failures = 0, others_failed_slow = 0, others_suspected_slow = 0;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = FirstSeed(30'000) + i;
    ClusterOptions o;
    o.nodes = 5 + i % 6;
    SimCluster c(seed, o);
    const auto everyone = c.LiveNames();
    ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) << "seed " << seed;
    // Every message into the slow node takes 0.2 .. 2 s.
    NodeId slow = c.ids()[c.sim().rng().Uniform(c.ids().size())];
    sim::LinkConfig link;
    link.latency_min = c.sim().rng().UniformDuration(absl::Milliseconds(200), absl::Milliseconds(1800));
    link.latency_jitter_mean = absl::Milliseconds(50);
    for (NodeId from : c.ids()) {
      if (from != slow) c.sim().network().SetLink(from, slow, link);
    }
    c.sim().RunFor(absl::Seconds(60));
    const auto& st = c.node(slow)->serf().memberlist().stats();
    for (const auto& [n, k] : st.suspected) slow_suspicions += k;
    for (const auto& [n, k] : st.declared_dead) slow_failures += k;
    for (NodeId id : c.Live()) {
      if (id == slow) continue;
      const auto& other = c.node(id)->serf().memberlist().stats();
      auto it = other.declared_dead.find(SimCluster::Name(slow));
      if (it != other.declared_dead.end()) others_failed_slow += it->second;
      auto sit = other.suspected.find(SimCluster::Name(slow));
      if (sit != other.suspected.end()) others_suspected_slow += sit->second;
    }
    EXPECT_EQ(st.declared_dead.size(), 0u) << "seed " << seed << ": the slow node declared a healthy peer dead";
  }
  std::printf("slow receive path (0.2-2 s), %d seeds x 60 s: by the slow node: false suspicions=%llu "
              "false failures=%llu; of the slow node by others: suspicions=%llu failures=%llu\n",
              seeds, static_cast<unsigned long long>(slow_suspicions), static_cast<unsigned long long>(slow_failures),
              static_cast<unsigned long long>(others_suspected_slow),
              static_cast<unsigned long long>(others_failed_slow));
  EXPECT_EQ(slow_failures, 0u);
}

}  // namespace
}  // namespace muster::gossip::testing
