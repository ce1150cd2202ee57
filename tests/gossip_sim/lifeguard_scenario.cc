#include "tests/gossip_sim/lifeguard_scenario.h"

#include "tests/gossip_sim/sim_cluster.h"

namespace muster::gossip::testing {

PauseOutcome RunPauseScenario(uint64_t seed, bool lifeguard, const PauseScenario& scenario) {
  PauseOutcome out;
  ClusterOptions o;
  o.nodes = scenario.nodes;
  o.tweak = [lifeguard](SerfConfig& c) { c.memberlist.lifeguard = lifeguard; };
  SimCluster c(seed, o);
  const auto everyone = c.LiveNames();
  out.converged = c.RunUntil([&] { return c.AllSeeAlive(everyone); }, absl::Seconds(60)).has_value();
  if (!out.converged) return out;
  sim::Simulator& sim = c.sim();
  sim.RunFor(sim.rng().UniformDuration(absl::ZeroDuration(), absl::Seconds(2)));
  const Duration probe_timeout = MemberlistConfig::Lan("x").probe_timeout;
  NodeId slow = c.ids()[sim.rng().Uniform(c.ids().size())];
  if (scenario.mode == PauseScenario::Mode::kSlowInbox) {
    for (NodeId from : c.ids()) {
      if (from == slow) continue;
      double k = scenario.timeouts_min + sim.rng().UniformDouble() * (scenario.timeouts_max - scenario.timeouts_min);
      sim::LinkConfig link;
      link.latency_min = probe_timeout * k;
      link.latency_jitter_mean = absl::Milliseconds(20);
      sim.network().SetLink(from, slow, link);
    }
    sim.RunFor(scenario.slow_inbox_for);
    sim.network().ClearLinkOverrides();
  }
  for (int i = 0; scenario.mode == PauseScenario::Mode::kStall && i < scenario.pauses; ++i) {
    double k = scenario.timeouts_min + sim.rng().UniformDouble() * (scenario.timeouts_max - scenario.timeouts_min);
    Duration stall = probe_timeout * k;
    sim.Pause(slow, stall);
    sim.RunFor(stall + sim.rng().UniformDuration(absl::ZeroDuration(), scenario.gap_max));
  }
  sim.RunFor(absl::Seconds(40));  // let every suspicion run out or be refuted
  const std::string stalled = SimCluster::Name(slow);
  for (NodeId id : c.Live()) {
    const Serf& s = c.node(id)->serf();
    for (const auto& [n, k] : s.memberlist().stats().suspected) out.false_suspicions += k;
    for (const auto& [n, k] : s.memberlist().stats().declared_dead) {
      out.false_declarations += k;
      if (n != stalled) out.healthy_declarations += k;
      if (id == slow) out.declarations_by_stalled += k;
    }
    for (const auto& [n, k] : s.stats().failed_seen) {
      out.false_failed_events += k;
      if (n != stalled) out.healthy_failed_events += k;
    }
  }
  return out;
}

}  // namespace muster::gossip::testing
