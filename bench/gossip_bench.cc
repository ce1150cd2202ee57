// Gossip benchmarks in the simulator (virtual time, so figures are protocol behaviour, not
// host speed): convergence and per-node bandwidth for N = 50, 500, 2,000; how fast a join
// and a user event reach everyone; the failure-detection time distribution; and the
// Lifeguard table. Prints tables; sections can be picked by name:
//   gossip_bench [convergence] [join] [detection] [lifeguard] [--seeds=K] [--big-seeds=K]
//                [--lifeguard-seeds=K] [--sizes=50,500,2000] [--settle=S] [--window=S]
// --settle: seconds after convergence before the 30 s bandwidth window (the join's
// broadcasts take a while to drain at large N).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "tests/gossip_sim/lifeguard_scenario.h"
#include "tests/gossip_sim/sim_cluster.h"

namespace muster::gossip::testing {
namespace {

struct Dist {
  std::vector<double> v;
  void Add(double x) { v.push_back(x); }
  double P(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  }
  double Mean() const {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0 : s / v.size();
  }
};

void Convergence(int big_seeds, const std::vector<int>& sizes, int settle_s, int window_s) {
  std::printf("\n## Convergence and bandwidth (LAN profile, joins spread over N x 10 ms through n1)\n");
  std::printf("Bandwidth: payload bytes (no UDP/TCP/IP headers) per node per second over %d s, starting %d s after "
              "convergence; the window spans a push-pull period (30 s, x (ceil(log2 N - 5) + 1) beyond 32 nodes).\n",
              window_s, settle_s);
  std::printf("| N | seeds | converge after last join p50 / max (s) | = probe periods | sent B/s per node: mean (max) | of which datagrams | of which push-pull streams |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int n : sizes) {
    const int seeds = n >= 2000 ? 1 : big_seeds;
    Dist conv, sent, recv, streams;  // recv: datagram bytes (all nodes) / node
    for (int i = 0; i < seeds; ++i) {
      ClusterOptions o;
      o.nodes = n;
      o.join_spread = absl::Milliseconds(10) * n;
      SimCluster c(100'000 + n + i, o);
      const auto all = c.LiveNames();
      c.sim().RunUntil(c.last_join());
      auto took = c.RunUntil([&] { return c.AllSeeAlive(all); }, absl::Seconds(300), absl::Milliseconds(n >= 2000 ? 500 : 100));
      if (!took) {
        std::printf("| %d | seed %d did not converge |\n", n, i);
        continue;
      }
      conv.Add(absl::ToDoubleSeconds(*took));
      c.sim().RunFor(absl::Seconds(settle_s));
      std::vector<uint64_t> s0;
      for (NodeId id : c.ids()) s0.push_back(c.sim().stats(id).bytes_sent);
      uint64_t dgram = 0, stream = 0;
      c.sim().set_step_observer([&](NodeId, const Input&, const Effects& e) {
        for (const OutboundMessage& m : e.messages) (m.channel == Channel::kStream ? stream : dgram) += m.payload.size();
      });
      c.sim().RunFor(absl::Seconds(window_s));
      for (size_t k = 0; k < c.ids().size(); ++k) {
        sent.Add(static_cast<double>(c.sim().stats(c.ids()[k]).bytes_sent - s0[k]) / window_s);
      }
      recv.Add(static_cast<double>(dgram) / window_s / n);
      streams.Add(static_cast<double>(stream) / window_s / n);
    }
    std::printf("| %d | %d | %.2f / %.2f | %.1f | %.0f (%.0f) | %.0f | %.0f |\n", n, seeds, conv.P(0.5), conv.P(1.0),
                conv.P(0.5) / 1.0, sent.Mean(), sent.P(1.0), recv.Mean(), streams.Mean());
    std::fflush(stdout);
  }
}

// A new node joins a converged pool; a user event is fired into it. How long until all see each?
void Join(int seeds) {
  std::printf("\n## Dissemination into a converged pool (LAN; gossip interval 200 ms)\n");
  std::printf("| N | seeds | new member seen by all p50 / p90 / max (s) | user event at all p50 / p90 / max (s) |\n");
  std::printf("|---|---|---|---|\n");
  for (int n : {5, 10, 20, 50}) {
    Dist join, event;
    for (int i = 0; i < seeds; ++i) {
      ClusterOptions o;
      o.nodes = n;
      SimCluster c(200'000 + 1000 * n + i, o);
      auto all = c.LiveNames();
      if (!c.RunUntil([&] { return c.AllSeeAlive(all); }, absl::Seconds(60))) continue;
      c.sim().RunFor(c.sim().rng().UniformDuration(absl::Seconds(1), absl::Seconds(3)));
      NodeId fresh = c.sim().AddNode(SerfMachine::Factory(
          [](const MachineContext& ctx) { return SerfConfig::Lan(ctx.address); }, {"n1"}));
      const std::string name = ToString(fresh);
      auto took = c.RunUntil(
          [&] {
            for (NodeId id : c.ids()) {
              const Member* m = c.node(id)->serf().member(name);
              if (m == nullptr || m->status != MemberStatus::kAlive) return false;
            }
            return true;
          },
          absl::Seconds(60), absl::Milliseconds(10));
      if (took) join.Add(absl::ToDoubleSeconds(*took));
      c.sim().RunFor(absl::Seconds(2));
      NodeId origin = c.ids()[c.sim().rng().Uniform(c.ids().size())];
      c.sim().Request(origin, "user-event", "deploy\nv2", [](const Response&) {});
      took = c.RunUntil(
          [&] {
            for (NodeId id : c.ids()) {
              if (c.node(id)->serf().stats().user_delivered.empty()) return false;
            }
            return true;
          },
          absl::Seconds(60), absl::Milliseconds(10));
      if (took) event.Add(absl::ToDoubleSeconds(*took));
    }
    std::printf("| %d | %d | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f |\n", n, seeds, join.P(0.5), join.P(0.9),
                join.P(1.0), event.P(0.5), event.P(0.9), event.P(1.0));
    std::fflush(stdout);
  }
}

void Detection(int seeds) {
  std::printf("\n## Failure detection of a killed node (LAN: probe 1 s, timeout 500 ms, suspicion mult 4)\n");
  std::printf("| N | seeds | first member-failed p50 / p90 / max (s) | failed at all p50 / p90 / p99 / max (s) | false failures |\n");
  std::printf("|---|---|---|---|---|\n");
  for (int n : {5, 10, 20, 50}) {
    Dist first, all;
    uint64_t false_failures = 0;
    for (int i = 0; i < seeds; ++i) {
      ClusterOptions o;
      o.nodes = n;
      SimCluster c(300'000 + 1000 * n + i, o);
      auto everyone = c.LiveNames();
      if (!c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60))) continue;
      c.sim().RunFor(c.sim().rng().UniformDuration(absl::Seconds(5), absl::Seconds(10)));
      NodeId victim = c.ids()[1 + c.sim().rng().Uniform(c.ids().size() - 1)];
      const std::string name = ToString(victim);
      c.sim().Kill(victim);
      std::optional<Duration> first_at;
      const Time killed = c.sim().now();
      auto took = c.RunUntil(
          [&] {
            bool every = true;
            for (NodeId id : c.Live()) {
              const Member* m = c.node(id)->serf().member(name);
              bool failed = m != nullptr && m->status == MemberStatus::kFailed;
              if (failed && !first_at) first_at = c.sim().now() - killed;
              every &= failed;
            }
            return every;
          },
          absl::Seconds(120), absl::Milliseconds(10));
      if (!took) continue;
      first.Add(absl::ToDoubleSeconds(*first_at));
      all.Add(absl::ToDoubleSeconds(*took));
      for (NodeId id : c.Live()) {
        for (const auto& [m, k] : c.node(id)->serf().stats().failed_seen) false_failures += m != name ? k : 0;
      }
    }
    std::printf("| %d | %d | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f / %.2f | %llu |\n", n, seeds, first.P(0.5),
                first.P(0.9), first.P(1.0), all.P(0.5), all.P(0.9), all.P(0.99), all.P(1.0),
                static_cast<unsigned long long>(false_failures));
    std::fflush(stdout);
  }
}

void Lifeguard(int seeds) {
  std::printf("\n## Lifeguard on vs off (N = 8, LAN; one node, %d seeds per row)\n", seeds);
  std::printf("| anomaly | lifeguard | false suspicions | failed declarations (all) | about healthy members | member-failed events about healthy |\n");
  std::printf("|---|---|---|---|---|---|\n");
  struct Row {
    const char* name;
    PauseScenario sc;
  };
  PauseScenario slow;
  slow.mode = PauseScenario::Mode::kSlowInbox;
  PauseScenario stall;
  PauseScenario stalls;
  stalls.pauses = 10;
  stalls.gap_max = absl::Milliseconds(200);
  for (const Row& row : {Row{"inbox held 2-5 probe timeouts per message, 30 s", slow},
                         Row{"one whole-process stall of 2-5 probe timeouts", stall},
                         Row{"ten stalls of 2-5 probe timeouts, gaps <= 200 ms", stalls}}) {
    for (bool lg : {false, true}) {
      PauseOutcome t;
      for (int i = 0; i < seeds; ++i) {
        PauseOutcome o = RunPauseScenario(400'000 + i, lg, row.sc);
        t.false_suspicions += o.false_suspicions;
        t.false_declarations += o.false_declarations;
        t.healthy_declarations += o.healthy_declarations;
        t.healthy_failed_events += o.healthy_failed_events;
      }
      std::printf("| %s | %s | %llu | %llu | %llu | %llu |\n", row.name, lg ? "on" : "off",
                  (unsigned long long)t.false_suspicions, (unsigned long long)t.false_declarations,
                  (unsigned long long)t.healthy_declarations, (unsigned long long)t.healthy_failed_events);
      std::fflush(stdout);
    }
  }
}

}  // namespace
}  // namespace muster::gossip::testing

int main(int argc, char** argv) {
  using namespace muster::gossip::testing;
  int seeds = 200, big_seeds = 3, lifeguard_seeds = 1000, settle_s = 150, window_s = 240;
  std::vector<int> sizes = {50, 500, 2000};
  std::set<std::string> sections;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--seeds=", 8) == 0) {
      seeds = std::atoi(argv[i] + 8);
    } else if (std::strncmp(argv[i], "--big-seeds=", 12) == 0) {
      big_seeds = std::atoi(argv[i] + 12);
    } else if (std::strncmp(argv[i], "--window=", 9) == 0) {
      window_s = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "--settle=", 9) == 0) {
      settle_s = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "--sizes=", 8) == 0) {
      sizes.clear();
      for (const char* p = argv[i] + 8; *p != 0;) {
        sizes.push_back(std::atoi(p));
        while (*p != 0 && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (std::strncmp(argv[i], "--lifeguard-seeds=", 18) == 0) {
      lifeguard_seeds = std::atoi(argv[i] + 18);
    } else {
      sections.insert(argv[i]);
    }
  }
  auto want = [&](const char* s) { return sections.empty() || sections.count(s) > 0; };
  if (want("join")) Join(seeds);
  if (want("detection")) Detection(seeds);
  if (want("lifeguard")) Lifeguard(lifeguard_seeds);
  if (want("convergence")) Convergence(big_seeds, sizes, settle_s, window_s);
  return 0;
}
