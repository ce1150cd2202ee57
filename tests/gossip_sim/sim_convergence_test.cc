// Simulation: N nodes joining through one seed converge to the same alive set, and
// dissemination is fast (protocol periods grow like log N). Seeds: GOSSIP_SEEDS or the
// defaults below (200 for N = 5 and 50; N = 500 runs fewer, see the test).
#include <algorithm>
#include <cmath>
#include <vector>
#include <cstdio>

#include "tests/gossip_sim/sim_cluster.h"
#include "gtest/gtest.h"

namespace muster::gossip::testing {
namespace {

struct Summary {
  double mean_s = 0, max_s = 0, p50_s = 0, p90_s = 0, p99_s = 0;
  int runs = 0;
};

// Nodes start one by one over n * 20 ms and join through n1; convergence is timed from the
// last join request until every node sees every other alive.
Summary Converge(int n, int seeds, uint64_t first_seed, Duration budget) {
  Summary s;
  double total = 0;
  std::vector<double> times;
  for (int i = 0; i < seeds; ++i) {
    const uint64_t seed = first_seed + i;
    ClusterOptions o;
    o.nodes = n;
    o.join_spread = absl::Milliseconds(20) * n;
    SimCluster c(seed, o);
    const std::set<std::string> all = c.LiveNames();
    c.sim().RunUntil(c.last_join());
    auto took = c.RunUntil([&] { return c.AllSeeAlive(all); }, budget, absl::Milliseconds(n >= 500 ? 250 : 50));
    EXPECT_TRUE(took.has_value()) << "N=" << n << " seed " << seed << " did not converge in " << budget;
    if (!took) continue;
    double secs = absl::ToDoubleSeconds(*took);
    if (secs > 2.5) std::printf("  N=%d seed %llu: %.2fs (a member the epidemic missed)\n", n, (unsigned long long)seed, secs);
    total += secs;
    times.push_back(secs);
    s.max_s = std::max(s.max_s, secs);
    s.runs++;
    // Stays converged: no one is suspected for nothing afterwards.
    c.sim().RunFor(absl::Seconds(5));
    EXPECT_TRUE(c.AllSeeAlive(all)) << "N=" << n << " seed " << seed << " lost convergence";
  }
  s.mean_s = s.runs ? total / s.runs : 0;
  std::sort(times.begin(), times.end());
  auto pct = [&](double p) { return times.empty() ? 0 : times[std::min(times.size() - 1, size_t(p * times.size()))]; };
  s.p50_s = pct(0.5);
  s.p90_s = pct(0.9);
  s.p99_s = pct(0.99);
  // Protocol periods: probe intervals (1 s) and gossip intervals (200 ms).
  std::printf("convergence N=%d seeds=%d: mean=%.2fs p50=%.2fs (%.1f gossip intervals) p90=%.2fs p99=%.2fs max=%.2fs\n",
              n, s.runs, s.mean_s, s.p50_s, s.p50_s / 0.2, s.p90_s, s.p99_s, s.max_s);
  return s;
}

// Bounds sit near the README's figures for the default seeds (issue 10 item 15: they were
// 4-5x above them): the percentiles one to three check steps (50 ms) above what was
// measured, the maximum about 1.5x. More seeds (GOSSIP_SEEDS) may find a longer tail.
TEST(ConvergenceTest, FiveNodes) {
  Summary s = Converge(5, SeedCount(200), FirstSeed(1000), absl::Seconds(30));
  // Seeds 1000-1199: p50 0.10 s, p90 0.20 s, p99 0.35 s, max 0.95 s.
  EXPECT_LE(s.p50_s, 0.15) << "within one gossip interval";
  EXPECT_LE(s.p90_s, 0.30);
  EXPECT_LE(s.p99_s, 0.50);
  EXPECT_LE(s.max_s, 1.50);
}

TEST(ConvergenceTest, FiftyNodes) {
  Summary s = Converge(50, SeedCount(200), FirstSeed(2000), absl::Seconds(60));
  // Seeds 2000-2199: p50 0.45 s, p90 0.65 s, p99 2.60 s, max 2.75 s.
  EXPECT_LE(s.p50_s, 0.55);
  EXPECT_LE(s.p90_s, 0.80);
  // Each update is sent ~retransmit_mult * ceil(log10(N + 1)) times (memberlist's rule), so
  // now and then one node misses one newcomer. It learns it from a peer that says it knows
  // more members (pings and acks carry the count), once its own view has been quiet for two
  // probe intervals: seconds, where the periodic push-pull would take up to a minute
  // (before that rule: p99 8.7 s, max 9.6 s over these seeds).
  EXPECT_LE(s.p99_s, 3.00);
  EXPECT_LE(s.max_s, 4.00);
}

}  // namespace
}  // namespace muster::gossip::testing

namespace muster::gossip::testing {
namespace {

// N = 500 is ~100x the work of N = 50 per seed; it runs 3 seeds by default (GOSSIP_SEEDS
// raises it; each seed costs about 12 s of CPU). 200 seeds (3000-3199, run as two processes
// with GOSSIP_SEEDS=100 and GOSSIP_SEED=3000 / 3100): p50 1.0 s, p90 1.25 s, p99 2.25 s,
// max 2.75 s (before the member-count sync: p99 15 s, max 20.5 s).
TEST(ConvergenceTest, FiveHundredNodes) {
  Summary s = Converge(500, std::min(SeedCount(3), 200), FirstSeed(3000), absl::Seconds(120));
  // Seeds 3000-3002: p50 1.00 s, max 1.25 s (checked every 250 ms). Bounds: p50 two checks
  // above; max 4 s, about 1.5x the 2.75 s of 200 seeds, so it holds for GOSSIP_SEEDS=200 too.
  EXPECT_LE(s.p50_s, 1.50);
  EXPECT_LE(s.max_s, 4.00);
}

}  // namespace
}  // namespace muster::gossip::testing
