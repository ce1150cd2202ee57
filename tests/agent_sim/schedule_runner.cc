#include "tests/agent_sim/schedule_runner.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/agent/identity.h"
#include "tests/agent_sim/scenario_file.h"

namespace muster::agent_sim {
namespace {

// The last events kept for a failure's report (the trace prints them all as they happen).
constexpr size_t kEventsKeptMax = 40;
// A torn kill waits at most this long for a write in flight to the disk (there is one to tear
// within it on a busy server; otherwise the kill happens anyway).
constexpr Duration kTornWaitMax = absl::Milliseconds(200);
// A wiped server comes back as a new member (a new node ID, as a real agent whose data dir
// is gone); the old one is a dead voter until it is removed. One at a time, while every other
// server is up and the leader's configuration is exactly the servers' current IDs, all voters
// (the last wipe healed), and this long apart, so a quorum of the live configuration always
// holds every committed entry (wiping more is outside the fault model).
constexpr Duration kWipeGapMin = absl::Seconds(20);
// The share of workload ticks that are CAS rounds under `workload cas`, and the other
// workloads' shares (AgentRun::set_workload_shares; the rest: the kv workload's puts of fresh
// keys and reads, which keep the other checkers fed).
constexpr double kCasShare = 0.5;
WorkloadShares SharesOf(WorkloadKind w) {
  switch (w) {
    case WorkloadKind::kKv: return {};
    case WorkloadKind::kCas: return {.cas = kCasShare};
    case WorkloadKind::kRegister: return {.registry = 0.5};
    case WorkloadKind::kLock: return {.lock = 0.5};
    case WorkloadKind::kEvents: return {.events = 0.5};
    case WorkloadKind::kMixed: return {.cas = 0.2, .registry = 0.2, .lock = 0.2, .events = 0.2};
  }
  return {};
}
// How often a pending expectation looks (harness timers: they reach no machine, so they leave
// the fingerprint alone).
constexpr Duration kExpectPoll = absl::Milliseconds(10);

// Durations in the trace, to the millisecond.
std::string Ms(Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1))); }

// The node ID of agent `index`'s `life`-th wiped restart.
std::string WipedNodeId(int index, int life) {
  return agent::FormatNodeId(0x2000000000000000ull + static_cast<uint64_t>(index) * 0x10001,
                             0xbeef000000000000ull + static_cast<uint64_t>(life) * 0x1000 + static_cast<uint64_t>(index));
}

}  // namespace

ScheduleRunner::ScheduleRunner(AgentRun& run, const Schedule& schedule,
                               std::function<void(agent::AgentMachineOptions&)> mutate, std::FILE* trace)
    : run_(run), schedule_(schedule), mutate_(std::move(mutate)), trace_(trace) {}

std::string ScheduleRunner::Name(int index) const { return NodeName(index); }

void ScheduleRunner::Event(const std::string& what) {
  std::string line = absl::StrCat("t=", Ms(run_.sim().now() - SimEpoch()), " ", what);
  if (trace_ != nullptr) std::fprintf(trace_, "  %s\n", line.c_str());
  events_.push_back(std::move(line));
  if (events_.size() > kEventsKeptMax) events_.pop_front();
}

std::string ScheduleRunner::LastEvents() const {
  std::string out;
  for (const std::string& e : events_) absl::StrAppend(&out, "    ", e, "\n");
  return out;
}

Schedule ScheduleRunner::executed() const {
  Schedule s = schedule_;
  s.actions = executed_;
  return s;
}

void ScheduleRunner::Start() {
  run_.AddObserver([this](NodeId id, const Input&, const Effects& effects) {
    FireArmedKill(id, effects);
    auto* m = static_cast<agent::AgentMachine*>(run_.sim().machine(id));
    if (m == nullptr || m->raft() == nullptr || m->raft()->role() != raft::Role::kLeader) return;
    if (m->raft()->term() <= leader_term_seen_) return;
    leader_term_seen_ = m->raft()->term();
    Event(absl::StrCat(Name(index_of_.at(id.value)), " leads term ", leader_term_seen_));
  });
  for (const Action& a : SortedActions(schedule_)) {
    if (a.at <= absl::ZeroDuration()) {
      Execute(a);
    } else {
      run_.sim().After(a.at, [this, a] { Execute(a); });
    }
  }
}

void ScheduleRunner::SafetyPhase() {
  run_.RunFor(schedule_.duration);
  if (run_.checker().failed()) return;
  // Parsing keeps every window inside the safety phase; a generated schedule has none.
  if (expectations_met_ < expectations_) {
    run_.checker().Fail(run_.sim().now(), absl::StrCat(expectations_ - expectations_met_,
                                                       " expectation(s) still open at the end of the safety phase"));
  }
}

std::optional<int> ScheduleRunner::Resolve(const NodeRef& ref, const Action& action) {
  if (ref.leader) {
    std::vector<int> leaders = run_.Leaders();
    if (leaders.empty()) {
      Event(absl::StrCat("skipped (no leader): ", FormatAction(action)));
      skipped_++;
      return std::nullopt;
    }
    // The one of the latest term (an old leader cut off may not know it was replaced).
    int best = leaders[0];
    for (int i : leaders) {
      if (run_.agent(i)->raft()->term() > run_.agent(best)->raft()->term()) best = i;
    }
    return best;
  }
  if (ref.killed) {
    // The one killed last of those still down.
    for (auto it = killed_.rbegin(); it != killed_.rend(); ++it) {
      if (!run_.up(*it)) return *it;
    }
    Event(absl::StrCat("skipped (no agent killed is down): ", FormatAction(action)));
    skipped_++;
    return std::nullopt;
  }
  if (!run_.added(ref.index)) {
    Event(absl::StrCat("skipped (", Name(ref.index), " not started): ", FormatAction(action)));
    skipped_++;
    return std::nullopt;
  }
  return ref.index;
}

bool ScheduleRunner::ResolveGroup(const std::vector<NodeRef>& refs, const Action& action, std::vector<NodeId>* out) {
  for (const NodeRef& ref : refs) {
    std::optional<int> i = Resolve(ref, action);
    if (!i.has_value()) return false;
    const NodeId id = run_.node(*i);
    if (std::find(out->begin(), out->end(), id) == out->end()) out->push_back(id);
  }
  return true;
}

void ScheduleRunner::Execute(const Action& action) {
  if (!faults_on_) return;
  Action a = action;
  a.at = run_.sim().now() - SimEpoch();
  executed_.push_back(a);
  switch (a.kind) {
    case ActionKind::kStart: return StartAgent(a);
    case ActionKind::kPartition:
    case ActionKind::kOneWay:
    case ActionKind::kBridge:
    case ActionKind::kIsolate: return Partition(a);
    case ActionKind::kHeal:
      run_.sim().network().Heal();
      Event("heal");
      return;
    case ActionKind::kKill: {
      std::optional<int> victim = Resolve(a.node, a);
      if (victim.has_value()) Kill(*victim, a.kill);
      return;
    }
    case ActionKind::kRestart: {
      std::optional<int> index = Resolve(a.node, a);
      if (index.has_value()) Restart(*index);
      return;
    }
    case ActionKind::kPause: {
      std::optional<int> victim = Resolve(a.node, a);
      if (!victim.has_value()) return;
      run_.Pause(*victim, a.length);
      Event(absl::StrCat("pause ", Name(*victim), " for ", Ms(a.length)));
      return;
    }
    case ActionKind::kClockStep: {
      std::optional<int> victim = Resolve(a.node, a);
      if (victim.has_value()) ClockStep(*victim, a.length);
      return;
    }
    case ActionKind::kLoss:
    case ActionKind::kDup:
    case ActionKind::kDelay: return SetLink(a);
    case ActionKind::kWorkload: return Workload(a);
    case ActionKind::kPut: {
      std::optional<int> via;
      if (!(a.node.fixed() && a.node.index == 0)) {
        via = Resolve(a.node, a);
      } else {
        via = run_.SteadyLeader();
        for (int i : run_.up_indexes()) {
          if (!via.has_value() && schedule_.is_server(i)) via = i;
        }
      }
      if (!via.has_value() || !run_.up(*via)) {
        Event(absl::StrCat("skipped (nobody up to take it): ", FormatAction(a)));
        skipped_++;
        return;
      }
      run_.Put(*via, a.key, a.value);
      Event(absl::StrCat("put ", a.key, " through ", Name(*via)));
      return;
    }
    case ActionKind::kExpectLeader:
    case ActionKind::kExpectNewLeader:
    case ActionKind::kExpectNoLeader:
    case ActionKind::kExpectConverged:
    case ActionKind::kExpectValue: return Expect(a);
  }
}

void ScheduleRunner::StartAgent(const Action& a) {
  const int index = a.node.index;
  if (run_.added(index)) {
    Event(absl::StrCat("skipped (already started): ", FormatAction(a)));
    skipped_++;
    return;
  }
  AgentSpec spec;
  spec.index = index;
  spec.server = schedule_.is_server(index);
  spec.bootstrap_expect = spec.server ? (a.expect > 0 ? a.expect : schedule_.servers) : 0;
  for (int j : a.join) spec.join.push_back(LanAddress(j));
  const NodeId id = run_.Add(spec, mutate_);
  index_of_[id.value] = index;
  if (a.clock_given) run_.sim().SetClockOffset(id, a.clock);
  Event(absl::StrCat(FormatAction(a), spec.server ? absl::StrCat(" (server, expect ", spec.bootstrap_expect, ")") : " (client)"));
}

void ScheduleRunner::Partition(const Action& a) {
  sim::Network& net = run_.sim().network();
  std::vector<NodeId> all;
  for (int i : run_.indexes()) all.push_back(run_.node(i));
  if (a.kind == ActionKind::kIsolate) {
    std::optional<int> victim = Resolve(a.node, a);
    if (!victim.has_value()) return;
    net.Heal();
    net.Isolate(run_.node(*victim), all);
    run_.faults().isolations++;
    Event(absl::StrCat("isolate ", Name(*victim)));
    return;
  }
  std::vector<NodeId> side_a, side_b;
  if (!ResolveGroup(a.group_a, a, &side_a)) return;
  if (a.group_b_rest) {
    for (NodeId id : all) {
      if (std::find(side_a.begin(), side_a.end(), id) == side_a.end()) side_b.push_back(id);
    }
  } else if (!ResolveGroup(a.group_b, a, &side_b)) {
    return;
  }
  std::optional<int> bridge;
  if (a.kind == ActionKind::kBridge) {
    bridge = Resolve(a.node, a);
    if (!bridge.has_value()) return;
    // "leader" may have resolved to an agent on a side: it bridges, it leaves the side.
    const NodeId b = run_.node(*bridge);
    side_a.erase(std::remove(side_a.begin(), side_a.end(), b), side_a.end());
    side_b.erase(std::remove(side_b.begin(), side_b.end(), b), side_b.end());
  }
  // "leader" on one side and the same agent named on the other: it stays on the first.
  for (NodeId id : side_a) side_b.erase(std::remove(side_b.begin(), side_b.end(), id), side_b.end());
  auto names = [this](const std::vector<NodeId>& ids) {
    std::vector<std::string> out;
    for (NodeId id : ids) out.push_back(Name(index_of_.at(id.value)));
    return absl::StrJoin(out, ",");
  };
  net.Heal();
  switch (a.kind) {
    case ActionKind::kPartition:
      net.Partition(side_a, side_b);
      run_.faults().partitions_symmetric++;
      Event(absl::StrCat("partition ", names(side_a), " | ", names(side_b)));
      break;
    case ActionKind::kOneWay:
      net.PartitionOneWay(side_a, side_b);
      run_.faults().partitions_one_way++;
      Event(absl::StrCat("one-way ", names(side_a), " -> ", names(side_b), " (dropped that way)"));
      break;
    default:
      net.Bridge(side_a, run_.node(*bridge), side_b);
      run_.faults().bridges++;
      Event(absl::StrCat("bridge ", names(side_a), " | ", names(side_b), " via ", Name(*bridge)));
      break;
  }
}

void ScheduleRunner::Kill(int victim, KillMode mode) {
  if (!run_.up(victim)) {
    Event(absl::StrCat("skipped (", Name(victim), " is down): kill"));
    skipped_++;
    return;
  }
  bool wipe = false;
  if (mode == KillMode::kWipe) {
    int servers_up = 0;
    for (int i : run_.up_indexes()) servers_up += schedule_.is_server(i) ? 1 : 0;
    const bool all_up = servers_up == schedule_.servers;
    const bool spaced = !last_wipe_at_.has_value() || run_.sim().now() - *last_wipe_at_ >= kWipeGapMin;
    wipe = schedule_.is_server(victim) && all_up && spaced && ConfigurationWhole();
    if (!wipe) Event(absl::StrCat("wipe of ", Name(victim), " refused (it could lose a quorum's data): torn kill instead"));
  }
  const bool torn = mode == KillMode::kTorn || (mode == KillMode::kWipe && !wipe);
  if (!torn) return KillNow(victim, false, wipe);
  // A torn kill waits (a little) for a write in flight to the disk, so there is one to tear.
  const uint64_t generation = ++arm_generation_;
  armed_victim_ = victim;
  run_.sim().After(kTornWaitMax, [this, victim, generation] {
    if (armed_victim_ != victim || arm_generation_ != generation) return;
    armed_victim_.reset();
    KillNow(victim, true, false);
  });
}

// After every step: an armed torn kill fires as soon as its victim has an unsynced write (at
// once, before the sync can finish: syncs take at least DiskConfig::sync_latency_min).
void ScheduleRunner::FireArmedKill(NodeId id, const Effects& effects) {
  if (!armed_victim_.has_value() || run_.node(*armed_victim_) != id) return;
  // The observer runs before the step's effects: its writes reach the disk just after.
  if (!run_.sim().IsUp(id) || (effects.writes.empty() && run_.sim().disk(id).unsynced_writes() == 0)) return;
  const int victim = *armed_victim_;
  armed_victim_.reset();
  run_.sim().After(absl::ZeroDuration(), [this, victim] { KillNow(victim, true, false); });
}

void ScheduleRunner::KillNow(int victim, bool torn, bool wipe) {
  if (!faults_on_ || !run_.up(victim)) return;
  run_.Kill(victim, torn);
  // Each agent once, at its latest kill: at most one entry per agent.
  killed_.erase(std::remove(killed_.begin(), killed_.end(), victim), killed_.end());
  killed_.push_back(victim);
  Event(absl::StrCat(wipe ? "kill (to be wiped) " : torn ? "kill (torn) " : "kill ", Name(victim)));
  if (wipe) {
    wipe_pending_[victim] = true;
    last_wipe_at_ = run_.sim().now();
  }
  if (on_kill_) on_kill_(victim);
}

// A steady leader whose configuration is exactly the servers' current IDs, all voters: the
// last wiped server's new member promoted and its old ID gone.
bool ScheduleRunner::ConfigurationWhole() {
  std::optional<int> leader = run_.SteadyLeader();
  if (!leader.has_value()) return false;
  std::set<uint64_t> current;
  for (int i = 1; i <= schedule_.servers; ++i) {
    if (run_.added(i)) current.insert(agent::RaftIdOf(run_.options(i).config.node_id)->value);
  }
  const raft::pb::Configuration& conf = run_.agent(*leader)->raft()->configuration();
  if (static_cast<size_t>(conf.servers_size()) != current.size()) return false;
  for (const raft::pb::Server& s : conf.servers()) {
    if (!s.voter() || !current.contains(s.id())) return false;
  }
  return true;
}

void ScheduleRunner::Restart(int index) {
  if (wipe_pending(index)) return WipeRestart(index);
  if (run_.up(index)) {
    Event(absl::StrCat("skipped (", Name(index), " is up): restart"));
    skipped_++;
    return;
  }
  run_.Restart(index);
  Event(absl::StrCat("restart ", Name(index)));
}

void ScheduleRunner::WipeRestart(int index) {
  if (!wipe_pending(index)) return;
  wipe_pending_[index] = false;
  const int life = ++lives_[index];
  run_.options(index).config.node_id = WipedNodeId(index, life);
  run_.RestartWiped(index);
  const agent::AgentMachine* m = run_.agent(index);
  if (m != nullptr && m->fsm().store().last_index() == 0 && m->raft() != nullptr && m->raft()->log().last_index() == 0) {
    wiped_empty_++;
  }
  Event(absl::StrCat("restart ", Name(index), " wiped, node ID ", run_.options(index).config.node_id));
}

// A step of one node's clock: forward at once; backward (a smaller offset) from its next
// restart (the fault model has no clock running backwards within a life).
void ScheduleRunner::ClockStep(int index, Duration step) {
  const NodeId id = run_.node(index);
  run_.sim().SetClockOffset(id, run_.sim().ClockOffset(id) + step);
  run_.faults().clock_steps++;
  Event(absl::StrCat("clock of ", Name(index), " steps ", step >= absl::ZeroDuration() ? "+" : "", Ms(step)));
}

void ScheduleRunner::SetLink(const Action& a) {
  sim::LinkConfig link = run_.sim().network().default_link();
  if (a.kind == ActionKind::kLoss) link.loss = a.probability;
  if (a.kind == ActionKind::kDup) link.duplicate = a.probability;
  if (a.kind == ActionKind::kDelay) {
    const sim::LinkConfig defaults;
    link.latency_min = a.delay.text.empty() ? defaults.latency_min : a.delay.latency_min;
    link.latency_jitter_mean = a.delay.text.empty() ? defaults.latency_jitter_mean : a.delay.jitter_mean;
  }
  run_.sim().network().SetDefaultLink(link);
  Event(FormatAction(a));
}

void ScheduleRunner::Workload(const Action& a) {
  if (a.rate == 0) {
    run_.StopWorkload();
    Event("workload off");
    return;
  }
  run_.set_workload_shares(SharesOf(a.workload));
  run_.set_read_mode(a.read_mode == "any" ? std::nullopt
                                          : std::optional<std::string>(a.read_mode == "default" ? "" : a.read_mode));
  run_.StartWorkload(absl::Seconds(1) / a.rate, a.via);
  Event(FormatAction(a));
}

uint64_t ScheduleRunner::LeaderTerm() {
  uint64_t term = 0;
  for (int i : run_.Leaders()) term = std::max(term, run_.agent(i)->raft()->term());
  return term;
}

void ScheduleRunner::Expect(const Action& a) {
  expectations_++;
  Event(absl::StrCat("from now: ", FormatAction(a)));
  PollExpectation(a, run_.sim().now(), LeaderTerm());
}

void ScheduleRunner::PollExpectation(Action a, Time since, uint64_t term_then) {
  if (run_.checker().failed()) return;
  std::string why;
  const bool holds = Holds(a, term_then, &why);
  const bool throughout = a.kind == ActionKind::kExpectNoLeader;
  const bool window_over = run_.sim().now() - since >= a.length;
  if (throughout ? !holds : (!holds && window_over)) {
    run_.checker().Fail(run_.sim().now(), absl::StrCat("expectation failed (line ", a.line, "): ", FormatAction(a),
                                                       " from t=", Ms(since - SimEpoch()), ": ", why));
    return;
  }
  if (throughout ? window_over : holds) {
    expectations_met_++;
    Event(absl::StrCat("met: ", FormatAction(a), throughout ? "" : absl::StrCat(" (after ", Ms(run_.sim().now() - since), ")")));
    return;
  }
  const Duration left = a.length - (run_.sim().now() - since);
  run_.sim().After(std::min(kExpectPoll, left), [this, a, since, term_then] { PollExpectation(a, since, term_then); });
}

bool ScheduleRunner::Holds(const Action& a, uint64_t term_then, std::string* why) {
  if (a.kind == ActionKind::kExpectNoLeader) {
    std::vector<int> leaders = run_.Leaders();
    if (leaders.empty()) return true;
    *why = absl::StrCat(Name(leaders[0]), " leads term ", run_.agent(leaders[0])->raft()->term());
    return false;
  }
  std::optional<int> leader = run_.SteadyLeader();
  if (!leader.has_value()) {
    *why = absl::StrCat("no steady leader (leaders up: ", run_.Leaders().size(), ")");
    return false;
  }
  const agent::AgentMachine& l = *run_.agent(*leader);
  switch (a.kind) {
    case ActionKind::kExpectNewLeader:
      if (l.raft()->term() > term_then) return true;
      *why = absl::StrCat("still ", Name(*leader), " of term ", l.raft()->term(), " (the leader's term then)");
      return false;
    case ActionKind::kExpectConverged: {
      const uint64_t leader_index = l.fsm().store().last_index();
      const uint64_t leader_hash = l.fsm().ContentHash();
      for (int i : run_.up_indexes()) {
        const agent::AgentMachine& m = *run_.agent(i);
        if (m.raft() == nullptr) continue;
        bool member = false;
        for (const raft::pb::Server& s : l.raft()->configuration().servers()) member |= s.id() == m.raft()->id().value;
        if (!member) {
          *why = absl::StrCat(Name(i), " is not in ", Name(*leader), "'s configuration");
          return false;
        }
        if (m.fsm().store().last_index() != leader_index || m.fsm().ContentHash() != leader_hash) {
          *why = absl::StrCat(Name(i), " at store index ", m.fsm().store().last_index(), ", the leader ", Name(*leader),
                              " at ", leader_index);
          return false;
        }
      }
      return true;
    }
    case ActionKind::kExpectValue: {
      const auto got = l.fsm().store().KVGet(a.key).value;
      if (got.has_value() && got->value == a.value) return true;
      *why = got.has_value() ? absl::StrCat(a.key, " is ", got->value, " on the leader ", Name(*leader))
                             : absl::StrCat(a.key, " is absent on the leader ", Name(*leader));
      return false;
    }
    default: return true;  // kExpectLeader
  }
}

void ScheduleRunner::LivenessPhase() {
  faults_on_ = false;
  const Time healed_at = run_.sim().now();
  run_.sim().network().Heal();
  std::vector<std::string> restarted;
  for (int i : run_.indexes()) {
    if (wipe_pending(i)) {
      WipeRestart(i);
    } else if (!run_.up(i)) {
      run_.Restart(i);
      restarted.push_back(Name(i));
    }
  }
  Event(absl::StrCat("liveness: faults off, network healed",
                     restarted.empty() ? "" : absl::StrCat(", restarted ", absl::StrJoin(restarted, ","))));
  if (run_.Settle(schedule_.settle_budget)) {
    settled_after_ = run_.sim().now() - healed_at;
    Event(absl::StrCat("settled: one leader, everyone caught up, final checks held (", Ms(settled_after_),
                       " after healing)"));
  }
}

}  // namespace muster::agent_sim
