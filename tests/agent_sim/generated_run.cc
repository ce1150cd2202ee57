#include "tests/agent_sim/generated_run.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/testing/swarm.h"
#include "tests/agent_sim/agent_run.h"
#include "tests/agent_sim/schedule_runner.h"

namespace muster::agent_sim {
namespace {

// Between two faults of the schedule, and how long a partition, a pause or a node's downtime
// lasts.
constexpr Duration kFaultGapMin = absl::Milliseconds(300);
constexpr Duration kFaultGapMax = absl::Seconds(3);
constexpr Duration kPartitionHoldMin = absl::Milliseconds(500);
constexpr Duration kPartitionHoldMax = absl::Seconds(8);
constexpr Duration kDowntimeMin = absl::Milliseconds(50);
constexpr Duration kDowntimeMax = absl::Seconds(4);
constexpr Duration kPauseMin = absl::Milliseconds(100);
constexpr Duration kPauseMax = absl::Seconds(3);
constexpr Duration kClockStepMax = absl::Seconds(3);
constexpr Duration kInitialSkewMax = absl::Seconds(2);
// Staggered servers start this far apart; clients within this of the start.
constexpr Duration kStaggerMin = absl::Milliseconds(500);
constexpr Duration kStaggerMax = absl::Seconds(4);
constexpr Duration kClientStartMax = absl::Seconds(5);
// The generator's draws come from their own streams (the cluster's, the faults'), apart from
// the workload's (AgentRun::rng), so a scenario file holding what was drawn replays the run
// with the workload drawing exactly as it did.
constexpr uint64_t kSetupRngSalt = 0x5e7a9c1d3b2f4e61ull;
constexpr uint64_t kFaultRngSalt = 0x0fa417d2c6b83e95ull;

// State hashes recorded at most this often per server (every server reaching a recorded index
// compares; Settle compares all at the end), and the logs compared pairwise this often: each
// is a pass over a whole store or log, and at 100 writes/s over a minute, done at every index
// and every 250 ms, they took half the run.
constexpr Duration kHashRecordInterval = absl::Seconds(1);
constexpr Duration kLogMatchingEvery = absl::Seconds(1);

// The watchers list the keys under this prefix (k/1, k/10-k/19, k/100-k/199, ...: about a
// ninth of the workload's keys), not all of k/: an answer is a pass over every key listed, and
// at 100 writes/s over a minute listing all of them took 85% of the run.
constexpr char kWatchPrefix[] = "k/1";

// Durations in the trace, to the millisecond.
std::string Ms(Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1))); }

NodeRef Ref(int index) { return NodeRef{index, false}; }

// One or two agents among `among` other than `index` (may not be up yet: retry-join).
std::vector<int> JoinSome(Rng& rng, int index, const std::vector<int>& among) {
  std::vector<int> others;
  for (int i : among) {
    if (i != index) others.push_back(i);
  }
  const size_t count = std::min<size_t>(rng.Bernoulli(0.5) ? 2 : 1, others.size());
  std::vector<int> out;
  while (out.size() < count) {
    const size_t k = rng.Uniform(others.size());
    out.push_back(others[k]);
    others.erase(others.begin() + k);
  }
  return out;
}

// The generator's faults: every 0.3-3 s one of the enabled kinds, drawn from what the cluster
// is doing (who is up, who leads), handed to the runner, which executes and records it; a
// partition's heal and a killed agent's restart are drawn here too and executed the same way.
class FaultDrawer {
 public:
  FaultDrawer(AgentRun& run, ScheduleRunner& runner, const GeneratedConfig& c)
      : run_(run), runner_(runner), c_(c), rng_(c.seed ^ kFaultRngSalt) {}

  void Start() {
    runner_.set_on_kill([this](int victim) { ScheduleRestart(victim); });
    if (c_.partition || c_.kill != KillMode::kOff || c_.pause || c_.clock_skew) ScheduleTick();
  }

 private:
  void ScheduleTick() {
    run_.sim().After(rng_.UniformDuration(kFaultGapMin, kFaultGapMax), [this] { Tick(); });
  }
  void Tick() {
    if (!runner_.faults_on()) return;
    ScheduleTick();
    std::vector<void (FaultDrawer::*)()> kinds;
    if (c_.partition) kinds.push_back(&FaultDrawer::Partition);
    if (c_.kill != KillMode::kOff) kinds.push_back(&FaultDrawer::Kill);
    if (c_.pause) kinds.push_back(&FaultDrawer::Pause);
    if (c_.clock_skew) kinds.push_back(&FaultDrawer::ClockStep);
    (this->*kinds[rng_.Uniform(kinds.size())])();
  }
  void Partition();
  void Kill();
  void ScheduleRestart(int victim);
  void Pause();
  void ClockStep();
  bool Server(int index) const { return index <= c_.servers; }

  AgentRun& run_;
  ScheduleRunner& runner_;
  const GeneratedConfig& c_;
  Rng rng_;
  uint64_t partition_generation_ = 0;
};

void FaultDrawer::Partition() {
  const std::vector<int> all = run_.indexes();
  if (all.size() < 2) return;
  std::vector<int> order = all;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.Uniform(i)]);
  const auto shape = static_cast<sim::testing::PartitionShape>(rng_.Uniform(4));
  const size_t cut = 1 + rng_.Uniform(order.size() - 1);
  const int victim = all[rng_.Uniform(all.size())];
  const Duration hold = rng_.UniformDuration(kPartitionHoldMin, kPartitionHoldMax);
  auto refs = [&order](size_t from, size_t to) {
    std::vector<NodeRef> out;
    for (size_t k = from; k < to; ++k) out.push_back(Ref(order[k]));
    return out;
  };
  Action a;
  switch (shape) {
    case sim::testing::PartitionShape::kSymmetric:
    case sim::testing::PartitionShape::kOneWay:
      a.kind = shape == sim::testing::PartitionShape::kSymmetric ? ActionKind::kPartition : ActionKind::kOneWay;
      a.group_a = refs(0, cut);
      a.group_b = refs(cut, order.size());
      break;
    case sim::testing::PartitionShape::kIsolate:
      a.kind = ActionKind::kIsolate;
      a.node = Ref(victim);
      break;
    case sim::testing::PartitionShape::kBridge: {
      if (order.size() < 3) return;
      // order[0] reaches both halves of the rest, which cannot reach each other.
      const size_t half = (order.size() - 1) / 2;
      a.kind = ActionKind::kBridge;
      a.node = Ref(order[0]);
      a.group_a = refs(1, 1 + half);
      a.group_b = refs(1 + half, order.size());
      break;
    }
  }
  runner_.Execute(a);
  const uint64_t generation = ++partition_generation_;
  run_.sim().After(hold, [this, generation] {
    if (generation != partition_generation_ || !runner_.faults_on()) return;
    Action heal;
    heal.kind = ActionKind::kHeal;
    runner_.Execute(heal);
  });
}

void FaultDrawer::Kill() {
  std::vector<int> up = run_.up_indexes();
  int servers_up = 0;
  for (int i : up) servers_up += Server(i) ? 1 : 0;
  std::vector<int> candidates;
  for (int i : up) {
    if (!Server(i) || servers_up > 1) candidates.push_back(i);  // one server always stays up
  }
  if (candidates.empty()) return;
  // The leader half the time, when there is one.
  std::vector<int> leaders = run_.Leaders();
  const int victim = !leaders.empty() && rng_.Bernoulli(0.5) && servers_up > 1
                         ? leaders[0]
                         : candidates[rng_.Uniform(candidates.size())];
  Action a;
  a.kind = ActionKind::kKill;
  a.node = Ref(victim);
  // Under --kill=wipe a server drawn is wiped half the time (the runner refuses a wipe that
  // could lose a quorum's data: a torn kill then), else torn.
  if (c_.kill == KillMode::kPlain) {
    a.kill = KillMode::kPlain;
  } else if (c_.kill == KillMode::kWipe && Server(victim) && rng_.Bernoulli(0.5)) {
    a.kill = KillMode::kWipe;
  } else {
    a.kill = KillMode::kTorn;
  }
  runner_.Execute(a);
}

// The kill took effect (a torn one may have waited for a write): back after a downtime.
void FaultDrawer::ScheduleRestart(int victim) {
  const Duration downtime = rng_.UniformDuration(kDowntimeMin, kDowntimeMax);
  run_.sim().After(downtime, [this, victim] {
    if (!runner_.faults_on() || (run_.up(victim) && !runner_.wipe_pending(victim))) return;
    Action a;
    a.kind = ActionKind::kRestart;
    a.node = Ref(victim);
    runner_.Execute(a);
  });
}

void FaultDrawer::Pause() {
  std::vector<int> up = run_.up_indexes();
  if (up.empty()) return;
  Action a;
  a.kind = ActionKind::kPause;
  a.node = Ref(up[rng_.Uniform(up.size())]);
  a.length = rng_.UniformDuration(kPauseMin, kPauseMax);
  runner_.Execute(a);
}

// A forward step of one node's clock (the fault model has no clock running backwards within
// a life).
void FaultDrawer::ClockStep() {
  std::vector<int> up = run_.up_indexes();
  if (up.empty()) return;
  Action a;
  a.kind = ActionKind::kClockStep;
  a.node = Ref(up[rng_.Uniform(up.size())]);
  a.length = rng_.UniformDuration(absl::Milliseconds(1), kClockStepMax);
  runner_.Execute(a);
}

// What a run needs beside its schedule.
struct RunParts {
  uint64_t seed = 0;
  std::string repro;
  std::string parameters;
  TraceLevel trace = TraceLevel::kOff;
  std::function<void(agent::AgentMachineOptions&)> mutate;
  const GeneratedConfig* generate = nullptr;  // set: faults drawn as the run goes
};

GeneratedResult Run(const Schedule& schedule, const RunParts& parts, std::FILE* trace_out) {
  GeneratedResult r;
  r.parameters = parts.parameters;
  AgentRun run(parts.seed, parts.repro, parts.trace == TraceLevel::kFull);
  run.checker().set_hash_record_interval(kHashRecordInterval);
  run.set_watch_prefix(kWatchPrefix);
  run.set_log_matching_interval(kLogMatchingEvery);
  run.set_through_clients(schedule.clients > 0);
  ScheduleRunner runner(run, schedule, parts.mutate, parts.trace == TraceLevel::kOff ? nullptr : trace_out);
  runner.Start();
  std::optional<FaultDrawer> drawer;
  if (parts.generate != nullptr) {
    drawer.emplace(run, runner, *parts.generate);
    drawer->Start();
  }
  runner.SafetyPhase();
  if (!run.checker().failed()) runner.LivenessPhase();

  const AgentChecker& k = run.checker();
  r.outcome.ok = !k.failed();
  r.outcome.fingerprint = run.sim().fingerprint();
  r.outcome.summary = absl::StrCat("seed=", parts.seed, " ", run.Describe());
  if (!r.outcome.ok) {
    r.failed_at = run.sim().now() - SimEpoch();
    r.outcome.report = absl::StrCat(k.Report(), "\n  parameters: ", r.parameters, "\n  last events:\n", runner.LastEvents());
  }
  r.schedule = runner.executed();
  r.schedule.seed = parts.seed;
  r.expectations = runner.expectations();
  r.expectations_met = runner.expectations_met();
  r.faults = run.faults();
  r.faults.TakeNetworkStats(run.sim());
  r.virtual_time = run.sim().now() - SimEpoch();
  r.events = run.sim().events_processed();
  r.puts_acked = run.puts_acked();
  r.wiped_restarts_empty = runner.wiped_empty();
  r.history_ops = run.history().size();
  r.cas_applied = run.cas_applied();
  r.checked = absl::StrCat(
      "  raft invariants and transitions after every machine step; election safety: ", k.leaders_elected(),
      " leaders, at most one per term (max term ", k.max_term(), ")\n",
      "  one applied history: ", k.applied_max(), " raft entries, each applied the same everywhere; log matching every ",
      absl::FormatDuration(kLogMatchingEvery), "\n",
      "  state hashes agree at equal store indexes (recorded at most every ", absl::FormatDuration(kHashRecordInterval),
      " per server, all compared after settling): ", k.hashes_compared(), " compared\n",
      "  exactly-once answers: ", k.answers(), " answered, ", k.requests_outstanding(), " left unanswered at the end\n",
      "  acknowledged writes on every server: ", k.acknowledged(), " of ", run.puts_sent(),
      " puts acknowledged; reads saw them: ", run.reads_ok(), " of ", run.reads_sent(), " answered\n",
      "  blocking-query indexes never go backwards: ", run.watch_answers(), " answers, ", run.watch_index_moves(),
      " moves\n",
      run.cas_sent() > 0 ? absl::StrCat("  cas rounds: ", run.cas_applied(), " of ", run.cas_sent(), " applied\n") : "",
      "  linearizability of the kv history (Wing & Gong with Lowe's memoization, per key; writes, cas and "
      "consistent reads; unanswered calls maybe-happened): ",
      run.linearizability().ops_checked, " ops over ", run.linearizability().keys_checked, " keys of ",
      run.history().size(), " recorded, ", sim::checkers::LinearizabilityVerdictName(run.linearizability().verdict),
      run.linearizability().keys_undecided > 0 ? absl::StrCat(" (", run.linearizability().keys_undecided, " keys undecided)") : "",
      "\n", run.CheckedLines(),
      runner.expectations() > 0
          ? absl::StrCat("  expectations: ", runner.expectations_met(), " of ", runner.expectations(), " met\n")
          : "",
      "  liveness: ", r.outcome.ok ? absl::StrCat("settled ", Ms(runner.settled_after()), " after healing")
                                  : "not reached (see the failure)",
      " (budget ", absl::FormatDuration(schedule.settle_budget), ")\n");
  return r;
}

}  // namespace

Schedule InitialSchedule(const GeneratedConfig& c) {
  Rng rng(c.seed ^ kSetupRngSalt);
  Schedule s;
  s.seed = c.seed;
  s.servers = c.servers;
  s.clients = c.clients;
  s.duration = c.duration;
  s.settle_budget = c.settle_budget;
  auto add = [&s](ActionKind kind) -> Action& {
    s.actions.emplace_back();
    s.actions.back().kind = kind;
    return s.actions.back();
  };
  if (c.loss > 0) add(ActionKind::kLoss).probability = c.loss;
  if (c.dup > 0) add(ActionKind::kDup).probability = c.dup;
  if (!c.delay.text.empty()) add(ActionKind::kDelay).delay = c.delay;
  auto start = [&](int index, Duration at, int expect, std::vector<int> join) {
    Action& a = add(ActionKind::kStart);
    a.at = at;
    a.node = Ref(index);
    a.expect = expect;
    a.join = std::move(join);
    if (c.clock_skew) {
      a.clock_given = true;
      a.clock = rng.UniformDuration(absl::ZeroDuration(), kInitialSkewMax);
    }
  };
  std::vector<int> all_servers;
  for (int i = 1; i <= c.servers; ++i) all_servers.push_back(i);
  if (c.bootstrap_expect == 0) {
    // All at once, each joining one or two of the others (s1 one added after it).
    for (int i = 1; i <= c.servers; ++i) {
      std::vector<int> before(all_servers.begin(), all_servers.begin() + (i == 1 ? c.servers : i - 1));
      start(i, absl::ZeroDuration(), c.servers, JoinSome(rng, i, before));
    }
  } else {
    std::vector<int> order = all_servers;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.Uniform(i)]);
    // Each joins one or two started before it (the first one started after it: retried), so
    // gossip's join graph is connected.
    Duration at;
    for (size_t k = 0; k < order.size(); ++k) {
      const int index = order[k];
      const std::vector<int> before(order.begin(), order.begin() + k);
      std::vector<int> join = k == 0 ? (order.size() > 1 ? std::vector<int>{order[1 + rng.Uniform(order.size() - 1)]}
                                                         : std::vector<int>{})
                                     : JoinSome(rng, index, before);
      start(index, at, c.bootstrap_expect, std::move(join));
      at += rng.UniformDuration(kStaggerMin, kStaggerMax);
    }
  }
  for (int i = c.servers + 1; i <= c.servers + c.clients; ++i) {
    const Duration at = rng.UniformDuration(absl::ZeroDuration(), kClientStartMax);
    start(i, at, 0, JoinSome(rng, i, all_servers));
  }
  Action& w = add(ActionKind::kWorkload);
  w.workload = c.workload;
  w.rate = std::max(c.rate, 1);
  return s;
}

GeneratedConfig DrawSwarm(const GeneratedConfig& base, std::string* knobs) {
  GeneratedConfig c = base;
  sim::testing::SwarmDraw d(base.seed);
  c.servers = d.OneOf("servers", "servers in the cluster", {1, 3, 3, 3, 5, 5});
  c.clients = d.OneOf("clients", "client agents beside them", {0, 0, 1, 2, 4});
  c.partition = d.Chance("partition", "random partitions (every shape) on the schedule", 0.5);
  const std::string kill = d.OneOf("kill", "crash and restart: off, plain, torn (unsynced writes torn), wipe (data dir gone)",
                                   {"off", "plain", "torn", "wipe"});
  c.kill = kill == "plain" ? KillMode::kPlain : kill == "torn" ? KillMode::kTorn : kill == "wipe" ? KillMode::kWipe : KillMode::kOff;
  c.pause = d.Chance("pause", "stalled processes", 0.4);
  c.loss = d.OneOf("loss", "datagram loss", {0.0, 0.0, 0.01, 0.05, 0.2});
  c.dup = d.OneOf("dup", "datagram duplication", {0.0, 0.0, 0.01, 0.1});
  const char* delay = d.OneOf("delay", "message delay distribution", {"", "", "exp:1ms+2ms", "uniform:1ms-20ms", "fixed:5ms"});
  std::string ignored;
  if (*delay != '\0') ParseDelay(delay, &c.delay, &ignored);
  c.clock_skew = d.Chance("clock_skew", "clocks offset at start and stepped forward", 0.3);
  const bool staggered = d.Chance("staggered", "servers started apart, each with -bootstrap-expect", 0.3);
  c.bootstrap_expect = staggered ? c.servers : 0;
  const std::string workload =
      d.OneOf("workload", "kv (puts, reads), cas (half CAS rounds), register, lock, events (half theirs), mixed (a fifth each)",
              {"kv", "cas", "cas", "register", "lock", "events", "mixed", "mixed"});
  ParseWorkloadName(workload, &c.workload);
  c.rate = d.OneOf("rate", "workload requests per simulated second", {10, 20, 50});
  *knobs = d.Describe();
  return c;
}

std::string DescribeConfig(const GeneratedConfig& c) {
  return absl::StrCat("seed=", c.seed, c.swarm ? " swarm" : "", " servers=", c.servers, " clients=", c.clients,
                      " duration=", absl::FormatDuration(c.duration), " partition=", c.partition ? "on" : "off",
                      " kill=", KillModeName(c.kill), " pause=", c.pause ? "on" : "off", " loss=", c.loss,
                      " dup=", c.dup, " delay=", c.delay.text.empty() ? "default" : c.delay.text,
                      " clock_skew=", c.clock_skew ? "on" : "off",
                      " bootstrap_expect=", c.bootstrap_expect == 0 ? absl::StrCat(c.servers, " (all at once)")
                                                                    : absl::StrCat(c.bootstrap_expect, " (staggered)"),
                      " workload=", WorkloadName(c.workload), " rate=", c.rate, "/s",
                      c.unsafe_name.empty() ? "" : " unsafe=" + c.unsafe_name);
}

std::string ReproCommand(const GeneratedConfig& c) {
  std::string out = absl::StrCat("bazel run //cmd:sim -- --seed ", c.seed);
  if (c.swarm) {
    absl::StrAppend(&out, " --swarm");
  } else {
    absl::StrAppend(&out, " --servers ", c.servers, " --clients ", c.clients);
    if (c.partition) absl::StrAppend(&out, " --partition");
    if (c.kill != KillMode::kOff) absl::StrAppend(&out, " --kill=", KillModeName(c.kill));
    if (c.pause) absl::StrAppend(&out, " --pause");
    if (c.loss > 0) absl::StrAppend(&out, " --loss ", c.loss);
    if (c.dup > 0) absl::StrAppend(&out, " --dup ", c.dup);
    if (!c.delay.text.empty()) absl::StrAppend(&out, " --delay ", c.delay.text);
    if (c.clock_skew) absl::StrAppend(&out, " --clock-skew");
    if (c.bootstrap_expect > 0) absl::StrAppend(&out, " --bootstrap-expect ", c.bootstrap_expect);
    absl::StrAppend(&out, " --workload ", WorkloadName(c.workload), " --rate ", c.rate);
  }
  absl::StrAppend(&out, " --duration ", absl::FormatDuration(c.duration));
  if (c.settle_budget != GeneratedConfig().settle_budget) {
    absl::StrAppend(&out, " --settle-budget ", absl::FormatDuration(c.settle_budget));
  }
  if (!c.unsafe_name.empty()) absl::StrAppend(&out, " --unsafe ", c.unsafe_name);
  absl::StrAppend(&out, " --trace short");
  return out;
}


GeneratedResult RunGenerated(const GeneratedConfig& base, std::FILE* trace_out) {
  std::string knobs;
  const GeneratedConfig c = base.swarm ? DrawSwarm(base, &knobs) : base;
  RunParts parts;
  parts.seed = c.seed;
  parts.repro = ReproCommand(c);
  parts.parameters = DescribeConfig(c);
  if (!knobs.empty()) parts.parameters = absl::StrCat(parts.parameters, "\n  swarm drew: ", knobs);
  parts.trace = c.trace;
  parts.mutate = c.mutate;
  parts.generate = &c;
  return Run(InitialSchedule(c), parts, trace_out);
}

GeneratedResult RunSchedule(const Schedule& schedule, const ScheduleRunOptions& options, std::FILE* trace_out) {
  RunParts parts;
  parts.seed = options.seed != 0 ? options.seed : schedule.seed;
  parts.repro = options.repro;
  parts.parameters = absl::StrCat("seed=", parts.seed, " servers=", schedule.servers, " clients=", schedule.clients,
                                  " duration=", absl::FormatDuration(schedule.duration),
                                  " actions=", schedule.actions.size(),
                                  options.unsafe_name.empty() ? "" : " unsafe=" + options.unsafe_name);
  parts.trace = options.trace;
  parts.mutate = options.mutate;
  return Run(schedule, parts, trace_out);
}

}  // namespace muster::agent_sim
