#include "tests/agent_sim/scenarios.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/agent/identity.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {
namespace {

using Tweak = std::function<void(agent::AgentMachineOptions&)>;

// Raft's election timeout under the simulator (SimAgentOptions): "a few election timeouts"
// for a new leader is this many.
constexpr Duration kElectionTimeout = absl::Milliseconds(500);
constexpr int kElectionTimeoutsForNewLeader = 10;
// How long the end of every scenario may take to settle once healed.
constexpr Duration kSettleBudget = absl::Seconds(60);
constexpr Duration kWorkloadPeriod = absl::Milliseconds(50);

struct Story {
  AgentRun& run;
  const ScenarioConfig& config;

  // The scenario's options for every agent, then the mutation's.
  Tweak TweakWith(Tweak own) const {
    return [own, mutate = config.mutate](agent::AgentMachineOptions& o) {
      if (own) own(o);
      if (mutate) mutate(o);
    };
  }
  NodeId AddServer(int index, int expect, std::vector<std::string> join, Tweak own = {}) {
    AgentSpec spec;
    spec.index = index;
    spec.bootstrap_expect = expect;
    spec.join = std::move(join);
    return run.Add(spec, TweakWith(std::move(own)));
  }
  // A join list for `index`: one or two others among 1..n, drawn from the seed.
  std::vector<std::string> JoinOthers(int index, int n) {
    std::vector<int> others;
    for (int i = 1; i <= n; ++i) {
      if (i != index) others.push_back(i);
    }
    const size_t count = std::min<size_t>(run.rng().Bernoulli(0.5) ? 2 : 1, others.size());
    std::vector<std::string> out;
    while (out.size() < count) {
      const size_t k = run.rng().Uniform(others.size());
      out.push_back(LanAddress(others[k]));
      others.erase(others.begin() + k);
    }
    return out;
  }
  // `n` servers expecting `expect`, started now. Server i > 1 joins one or two of those added
  // before it, so gossip's join graph is connected (a join to an agent not up yet fails, and
  // retry-join stops at the first that answers, as Consul's); s1 joins a later one, which
  // fails at first and is retried.
  void StartServers(int n, int expect, Tweak own = {}) {
    for (int i = 1; i <= n; ++i) {
      std::vector<std::string> join;
      if (i == 1) {
        join.push_back(LanAddress(2 + static_cast<int>(run.rng().Uniform(n - 1))));
      } else {
        join = JoinOthers(i, i - 1);
      }
      AddServer(i, expect, join, own);
    }
  }
  void Fail(const std::string& what) { run.checker().Fail(run.sim().now(), what); }
  bool WaitSteadyLeader(Duration budget, const std::string& what) {
    if (run.RunUntil([&] { return run.SteadyLeader().has_value(); }, budget)) return true;
    if (!run.checker().failed()) Fail(absl::StrCat("no steady leader within ", absl::FormatDuration(budget), " ", what));
    return false;
  }
  // Puts through random servers until one is acknowledged within `budget`.
  bool WriteGoesThrough(Duration budget, const std::string& what) {
    auto acked = std::make_shared<bool>(false);
    const Time deadline = run.sim().now() + budget;
    int attempt = 0;
    while (!*acked && run.sim().now() < deadline && !run.checker().failed()) {
      std::vector<int> up = run.up_indexes();
      const int to = up[run.rng().Uniform(up.size())];
      run.Put(to, absl::StrCat("probe/", ++attempt, "/", absl::ToInt64Milliseconds(run.sim().now() - SimEpoch())), "p", acked);
      run.RunUntil([&] { return *acked; }, absl::Seconds(2));
    }
    if (!*acked && !run.checker().failed()) Fail(absl::StrCat("no write acknowledged within ",
                                                              absl::FormatDuration(budget), " ", what));
    return *acked;
  }
  void RunFor(Duration d) { run.RunFor(d); }
  // Light datagram faults on half the seeds (gossip's; raft and RPC travel on streams).
  void MaybeLossyNetwork() {
    if (!run.rng().Bernoulli(0.5)) return;
    sim::LinkConfig link = run.sim().network().default_link();
    link.loss = 0.02;
    link.duplicate = 0.01;
    run.sim().network().SetDefaultLink(link);
  }
  NodeId RaftIdOfIndex(int index) const { return *agent::RaftIdOf(NodeIdOf(index)); }
};

// Servers start seconds apart in a random order, each joining one or two others (maybe not
// up yet: retry-join finds them). No leader before the third has started; one after.
void StaggeredStarts(Story& s) {
  const int n = 3;
  std::vector<int> order = {1, 2, 3};
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[s.run.rng().Uniform(i + 1)]);
  s.MaybeLossyNetwork();
  Time at = s.run.sim().now();
  for (int index : order) {
    std::vector<std::string> join = s.JoinOthers(index, n);
    s.run.sim().At(at, [&s, index, join] { s.AddServer(index, 3, join); });
    at += absl::Milliseconds(s.run.rng().UniformInRange(1000, 5000));
  }
  s.run.StartWorkload(kWorkloadPeriod);
  s.run.RunUntil([&] { return s.run.indexes().size() == 3; }, absl::Seconds(20));
  const Time last_start = s.run.sim().now();
  if (s.run.checker().first_leader_at().has_value() && *s.run.checker().first_leader_at() < last_start) {
    return s.Fail("a leader before the third server started");
  }
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after the third server started")) return;
  for (int i = 1; i <= n; ++i) {
    if (s.run.CountLog(i, "bootstrap_expect > 0: expecting 3 servers") != 1) {
      return s.Fail(absl::StrCat("s", i, " did not log once that it expects 3 servers"));
    }
  }
  s.RunFor(absl::Seconds(5));
}

// A partition while gossip settles: some servers cannot reach others (every shape of the
// fault model), then the network heals and the cluster forms.
void PartitionDuringDiscovery(Story& s) {
  const int n = s.run.rng().Bernoulli(0.25) ? 5 : 3;
  s.StartServers(n, n);
  std::vector<NodeId> nodes;
  for (int i = 1; i <= n; ++i) nodes.push_back(s.run.node(i));
  const NodeId victim = nodes[s.run.rng().Uniform(nodes.size())];
  sim::testing::InjectPartition(s.run.sim(), s.run.rng(), nodes, victim, &s.run.faults());
  s.run.StartWorkload(kWorkloadPeriod);
  s.RunFor(absl::Milliseconds(s.run.rng().UniformInRange(2000, 15000)));
  s.run.sim().network().Heal();
  if (!s.WaitSteadyLeader(absl::Seconds(40), "after the partition healed")) return;
  s.RunFor(absl::Seconds(3));
}

// A server killed after bootstrap restarts from its disk: it must not bootstrap again and
// must catch up (from the log, or on half the seeds from a snapshot: threshold 64).
void RestartAfterBootstrap(Story& s) {
  const bool snapshots = s.run.rng().Bernoulli(0.5);
  s.StartServers(3, 3, [snapshots](agent::AgentMachineOptions& o) {
    if (snapshots) o.config.raft_snapshot_threshold = 64;
  });
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(kWorkloadPeriod);
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(3, 8)));
  const int victim = 1 + static_cast<int>(s.run.rng().Uniform(3));
  const int bootstraps_before = s.run.CountLog(victim, "Found expected number of peers");
  s.run.Kill(victim, s.run.rng().Bernoulli(0.5));
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(2, 10)));
  s.run.Restart(victim);
  s.RunFor(absl::Seconds(3));
  if (s.run.CountLog(victim, "Raft data found, disabling bootstrap mode") < 1) {
    return s.Fail(absl::StrCat("restarted s", victim, " did not find its raft data"));
  }
  if (s.run.CountLog(victim, "Found expected number of peers") != bootstraps_before) {
    return s.Fail(absl::StrCat("restarted s", victim, " attempted bootstrap again"));
  }
}

// One server expects 2, the others 3: no bootstrap while they disagree (no leader), then the
// odd one restarted agreeing (or replaced by a fourth that agrees): a leader.
void MismatchedExpect(Story& s) {
  const int odd = 1 + static_cast<int>(s.run.rng().Uniform(3));
  for (int i = 1; i <= 3; ++i) s.AddServer(i, i == odd ? 2 : 3, s.JoinOthers(i, 3));
  s.run.StartWorkload(kWorkloadPeriod);
  s.RunFor(absl::Seconds(15));
  if (s.run.checker().first_leader_at().has_value()) return s.Fail("a leader while the expectations disagree");
  if (s.run.CountLog(0, "has a conflicting expect value") == 0) return s.Fail("the mismatch was never logged");
  s.run.Kill(odd);
  if (s.run.rng().Bernoulli(0.5)) {
    s.run.options(odd).config.bootstrap_expect = 3;
    s.RunFor(absl::Seconds(1));
    s.run.Restart(odd);
  } else {
    std::vector<std::string> join;
    for (int i = 1; i <= 3; ++i) {
      if (i != odd) join.push_back(LanAddress(i));
    }
    s.AddServer(4, 3, join);
  }
  s.WaitSteadyLeader(absl::Seconds(40), "once the expectations agree");
}

// SIGKILL of the leader: a new leader within a few election timeouts; writes go on.
void LeaderKill(Story& s) {
  const int n = s.run.rng().Bernoulli(0.33) ? 5 : 3;
  s.MaybeLossyNetwork();
  s.StartServers(n, n);
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(kWorkloadPeriod);
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(2, 6)));
  const std::optional<int> leader = s.run.SteadyLeader();
  if (!leader.has_value()) {
    s.WaitSteadyLeader(absl::Seconds(10), "before the kill");
    return;
  }
  s.run.Kill(*leader, s.run.rng().Bernoulli(0.5));
  const Time killed_at = s.run.sim().now();
  const Duration budget = kElectionTimeout * kElectionTimeoutsForNewLeader;
  if (!s.WaitSteadyLeader(budget, absl::StrCat("after s", *leader, " (the leader) was killed"))) return;
  s.run.Note("new_leader_after", s.run.sim().now() - killed_at);
  if (!s.WriteGoesThrough(absl::Seconds(10), "after the new leader")) return;
  s.RunFor(absl::Seconds(2));
  if (s.run.rng().Bernoulli(0.5)) s.run.Restart(*leader);
}

// A 4th and 5th server join a bootstrapped 3: they enter raft as non-voters, and autopilot
// promotes each once it has been stable for ServerStabilizationTime (10 s), never before.
void LateServersPromoted(Story& s) {
  s.StartServers(3, 3);
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(kWorkloadPeriod);
  const Duration stabilization = agent::AutopilotConfig().server_stabilization_time;
  struct Joined {
    std::optional<Time> in_config;
    std::optional<Time> voter;
  };
  auto joined = std::make_shared<std::map<int, Joined>>();
  s.run.AddObserver([&s, joined, stabilization](NodeId id, const Input&, const Effects&) {
    auto* m = static_cast<agent::AgentMachine*>(s.run.sim().machine(id));
    if (m == nullptr || m->raft() == nullptr || m->raft()->role() != raft::Role::kLeader) return;
    for (int late : {4, 5}) {
      const uint64_t raft_id = s.RaftIdOfIndex(late).value;
      for (const raft::pb::Server& srv : m->raft()->configuration().servers()) {
        if (srv.id() != raft_id) continue;
        Joined& j = (*joined)[late];
        const Time now = s.run.sim().now();
        if (!j.in_config.has_value()) {
          j.in_config = now;
          if (srv.voter()) s.Fail(absl::StrCat("s", late, " entered raft as a voter"));
        }
        if (srv.voter() && !j.voter.has_value()) {
          j.voter = now;
          s.run.Note(absl::StrCat("s", late, "_promoted_after"), now - *j.in_config);
          if (now - *j.in_config < stabilization) {
            s.Fail(absl::StrCat("s", late, " promoted ", absl::FormatDuration(now - *j.in_config),
                                " after it joined, before the stabilization time ",
                                absl::FormatDuration(stabilization)));
          }
        }
      }
    }
  });
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(1, 4)));
  s.AddServer(4, 3, {LanAddress(1 + static_cast<int>(s.run.rng().Uniform(3)))});
  s.RunFor(absl::Milliseconds(s.run.rng().UniformInRange(0, 3000)));
  s.AddServer(5, 3, {LanAddress(1 + static_cast<int>(s.run.rng().Uniform(4)))});
  const bool promoted = s.run.RunUntil(
      [&] { return (*joined)[4].voter.has_value() && (*joined)[5].voter.has_value(); }, absl::Seconds(45));
  if (!promoted && !s.run.checker().failed()) s.Fail("s4 and s5 not both promoted to voters within 45s");
  if (s.run.CountLog(0, "Promoting Server") < 2) s.Fail("autopilot's promotions were not logged");
}

// One of five killed: autopilot removes it from the raft configuration (CleanupDeadServers)
// once gossip has it failed, while a quorum remains; the four go on taking writes.
void DeadServerCleanup(Story& s) {
  s.StartServers(5, 5);
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(kWorkloadPeriod);
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(1, 4)));
  const int victim = 1 + static_cast<int>(s.run.rng().Uniform(5));
  s.run.Kill(victim, s.run.rng().Bernoulli(0.5));
  const uint64_t victim_id = s.RaftIdOfIndex(victim).value;
  auto removed = [&] {
    std::optional<int> l = s.run.SteadyLeader();
    if (!l.has_value()) return false;
    const raft::pb::Configuration& c = s.run.agent(*l)->raft()->configuration();
    if (c.servers_size() != 4) return false;
    for (const raft::pb::Server& srv : c.servers()) {
      if (srv.id() == victim_id || !srv.voter()) return false;
    }
    return true;
  };
  const Time killed_at = s.run.sim().now();
  if (!s.run.RunUntil(removed, absl::Seconds(60)) && !s.run.checker().failed()) {
    return s.Fail(absl::StrCat("autopilot did not remove dead s", victim, " within 60s"));
  }
  s.run.Note("removed_after", s.run.sim().now() - killed_at);
  s.WriteGoesThrough(absl::Seconds(10), "after the dead server was removed");
}

// Servers killed (torn writes on half the kills) and restarted over and over under the
// workload, on a slower disk so more acknowledgements wait on syncs. Kills may overlap (a
// second server dies while the first is still down), so a majority is sometimes lost and a
// restarted server may be needed to elect the next leader.
void CrashLoop(Story& s) {
  sim::DiskConfig disk;
  disk.sync_latency_min = absl::Milliseconds(1);
  disk.sync_latency_max = absl::Milliseconds(20);
  s.run.sim().set_disk_config(disk);
  // Snapshots every 64 entries on half the seeds: restarts recover from them and lagging
  // servers are sent them.
  const bool snapshots = s.run.rng().Bernoulli(0.5);
  s.StartServers(3, 3, [snapshots](agent::AgentMachineOptions& o) {
    if (snapshots) o.config.raft_snapshot_threshold = 64;
  });
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(absl::Milliseconds(20));
  const Time end = s.run.sim().now() + absl::Seconds(20);
  while (s.run.sim().now() < end && !s.run.checker().failed()) {
    s.RunFor(absl::Milliseconds(s.run.rng().UniformInRange(100, 2000)));
    std::vector<int> up = s.run.up_indexes();
    if (up.size() < 2) continue;
    // The leader half the time (acknowledged entries at risk), else anyone up.
    std::vector<int> leaders = s.run.Leaders();
    const int victim = !leaders.empty() && s.run.rng().Bernoulli(0.5) ? leaders[0] : up[s.run.rng().Uniform(up.size())];
    // Half the kills wait (a little) for a write in flight to the disk, and tear it.
    const bool torn = s.run.rng().Bernoulli(0.5);
    if (torn) {
      const NodeId id = s.run.node(victim);
      s.run.RunUntil([&] { return !s.run.sim().IsUp(id) || s.run.sim().disk(id).unsynced_writes() > 0; },
                     absl::Milliseconds(200));
    }
    s.run.Kill(victim, torn);
    AgentRun* run = &s.run;
    s.run.sim().After(absl::Milliseconds(s.run.rng().UniformInRange(50, 2500)), [run, victim] { run->Restart(victim); });
    // Now and then another server stalls for a moment, so the next election may be won
    // without it (by a restarted server and whoever else is up).
    std::vector<int> others = s.run.up_indexes();
    if (!others.empty() && s.run.rng().Bernoulli(0.3)) {
      const int stalled = others[s.run.rng().Uniform(others.size())];
      s.run.Pause(stalled, absl::Milliseconds(s.run.rng().UniformInRange(200, 1500)));
    }
  }
  s.RunFor(absl::Seconds(3));  // the last restarts happen before the settling
}

// A partition around the leader after bootstrap (isolated, one way, halves, a bridge: the
// fault model's shapes, the leader as the victim), under a workload that keeps reading through
// every server, the cut-off leader included: a default (lease) or consistent read must never
// miss a put the majority side acknowledged before the read was sent.
void LeaderPartitioned(Story& s) {
  const int n = s.run.rng().Bernoulli(0.33) ? 5 : 3;
  s.StartServers(n, n);
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  s.run.StartWorkload(absl::Milliseconds(20));
  s.RunFor(absl::Seconds(s.run.rng().UniformInRange(1, 4)));
  std::optional<int> leader = s.run.SteadyLeader();
  if (!leader.has_value()) return;
  std::vector<NodeId> nodes;
  for (int i = 1; i <= n; ++i) nodes.push_back(s.run.node(i));
  sim::testing::InjectPartition(s.run.sim(), s.run.rng(), nodes, s.run.node(*leader), &s.run.faults());
  s.RunFor(absl::Milliseconds(s.run.rng().UniformInRange(1000, 8000)));
  s.run.sim().network().Heal();
  s.RunFor(absl::Seconds(2));
}

// A forward's answer reaching the forwarder's next life: a follower forwards a put, dies
// before it has synced the entry (a slow disk; the third server is down, so the leader needs
// the follower to commit), restarts at once and forwards another put; the leader answers the
// first when it commits. That answer belongs to the dead life and must not answer the second.
void ForwardAcrossRestart(Story& s) {
  sim::DiskConfig disk;
  disk.sync_latency_min = absl::Milliseconds(100);
  disk.sync_latency_max = absl::Milliseconds(100);
  s.run.sim().set_disk_config(disk);
  s.StartServers(3, 3);
  if (!s.WaitSteadyLeader(absl::Seconds(30), "after bootstrap")) return;
  const int leader = *s.run.SteadyLeader();
  const int follower = leader == 1 ? 2 : 1;
  const int third = 6 - leader - follower;
  s.RunFor(absl::Seconds(3));
  s.run.Kill(third);
  // A life with raft state (no bootstrap peer queries) whose first forward is the put (its own
  // node sync goes out a second after the start).
  s.run.Kill(follower);
  s.run.Restart(follower);
  s.RunFor(absl::Milliseconds(300));
  s.run.Put(follower, "first", "one");
  s.RunFor(absl::Milliseconds(5));
  s.run.Kill(follower);
  s.RunFor(absl::Milliseconds(5));
  s.run.Restart(follower);
  s.run.Put(follower, "second", "two");
  s.RunFor(absl::Seconds(3));
  s.run.Restart(third);
}

}  // namespace

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> all = {
      Scenario::kStaggeredStarts, Scenario::kPartitionDuringDiscovery, Scenario::kRestartAfterBootstrap,
      Scenario::kMismatchedExpect, Scenario::kLeaderKill, Scenario::kLateServersPromoted,
      Scenario::kDeadServerCleanup, Scenario::kCrashLoop, Scenario::kForwardAcrossRestart,
      Scenario::kLeaderPartitioned};
  return all;
}

std::string_view ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kStaggeredStarts: return "staggered_starts";
    case Scenario::kPartitionDuringDiscovery: return "partition_during_discovery";
    case Scenario::kRestartAfterBootstrap: return "restart_after_bootstrap";
    case Scenario::kMismatchedExpect: return "mismatched_expect";
    case Scenario::kLeaderKill: return "leader_kill";
    case Scenario::kLateServersPromoted: return "late_servers_promoted";
    case Scenario::kDeadServerCleanup: return "dead_server_cleanup";
    case Scenario::kCrashLoop: return "crash_loop";
    case Scenario::kForwardAcrossRestart: return "forward_across_restart";
    case Scenario::kLeaderPartitioned: return "leader_partitioned";
  }
  return "?";
}

bool ScenarioByName(std::string_view name, Scenario* out) {
  for (Scenario s : AllScenarios()) {
    if (ScenarioName(s) == name) {
      *out = s;
      return true;
    }
  }
  return false;
}

std::string ReproCommand(const ScenarioConfig& config) {
  return absl::StrCat("bazel run //tests/agent_sim:agent_sim -- --scenario ", std::string(ScenarioName(config.scenario)),
                      " --seed ", config.seed, config.unsafe_name.empty() ? "" : " --unsafe " + config.unsafe_name,
                      " --verbose");
}

ScenarioResult RunScenario(const ScenarioConfig& config) {
  AgentRun run(config.seed, ReproCommand(config), config.verbose);
  Story story{run, config};
  switch (config.scenario) {
    case Scenario::kStaggeredStarts: StaggeredStarts(story); break;
    case Scenario::kPartitionDuringDiscovery: PartitionDuringDiscovery(story); break;
    case Scenario::kRestartAfterBootstrap: RestartAfterBootstrap(story); break;
    case Scenario::kMismatchedExpect: MismatchedExpect(story); break;
    case Scenario::kLeaderKill: LeaderKill(story); break;
    case Scenario::kLateServersPromoted: LateServersPromoted(story); break;
    case Scenario::kDeadServerCleanup: DeadServerCleanup(story); break;
    case Scenario::kCrashLoop: CrashLoop(story); break;
    case Scenario::kForwardAcrossRestart: ForwardAcrossRestart(story); break;
    case Scenario::kLeaderPartitioned: LeaderPartitioned(story); break;
  }
  if (!run.checker().failed()) run.Settle(kSettleBudget);

  ScenarioResult r;
  r.outcome.ok = !run.checker().failed();
  r.outcome.summary = absl::StrCat(std::string(ScenarioName(config.scenario)), " seed=", config.seed, " ", run.Describe());
  r.outcome.report = run.checker().Report();
  r.outcome.fingerprint = run.sim().fingerprint();
  for (int i : run.up_indexes()) {
    if (run.agent(i)->raft() != nullptr) r.final_hashes.push_back(run.agent(i)->fsm().ContentHash());
  }
  r.faults = run.faults();
  r.faults.TakeNetworkStats(run.sim());
  r.puts_acked = run.puts_acked();
  r.snapshot_installs = run.checker().snapshot_installs();
  r.virtual_time = run.sim().now() - SimEpoch();
  return r;
}

}  // namespace muster::agent_sim
