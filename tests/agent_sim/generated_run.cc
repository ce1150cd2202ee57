#include "tests/agent_sim/generated_run.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/agent/identity.h"
#include "sim/testing/swarm.h"
#include "tests/agent_sim/agent_run.h"

namespace muster::agent_sim {
namespace {

// The last events kept for a failure's report (the trace prints them all as they happen).
constexpr size_t kEventsKeptMax = 40;
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
constexpr Duration kTornWaitMax = absl::Milliseconds(200);
constexpr Duration kClockStepMax = absl::Seconds(3);
constexpr Duration kInitialSkewMax = absl::Seconds(2);
// A wiped server comes back as a new member (a new node ID, as a real agent whose data dir
// is gone); the old one is a dead voter until it is removed. One at a time, while every other
// server is up and the leader's configuration is exactly the servers' current IDs, all voters
// (the last wipe healed), and this long apart, so a quorum of the live configuration always
// holds every committed entry (wiping more is outside the fault model).
constexpr Duration kWipeGapMin = absl::Seconds(20);

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

// The share of workload ticks that are CAS rounds under --workload cas (the rest: the kv
// workload's puts of fresh keys and reads).
constexpr double kCasShare = 0.5;

// Durations in the trace, to the millisecond.
std::string Ms(Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1))); }

bool ParseDurationText(const std::string& text, Duration* out) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) return false;
  *out = d;
  return true;
}

// The node ID of agent `index`'s `life`-th wiped restart.
std::string WipedNodeId(int index, int life) {
  return agent::FormatNodeId(0x2000000000000000ull + static_cast<uint64_t>(index) * 0x10001,
                             0xbeef000000000000ull + static_cast<uint64_t>(life) * 0x1000 + static_cast<uint64_t>(index));
}

// The run: the cluster, the fault schedule and the event log over one AgentRun.
class Generated {
 public:
  Generated(AgentRun& run, const GeneratedConfig& c, std::FILE* trace) : run_(run), c_(c), trace_(trace) {}

  void Start();
  void SafetyPhase() { run_.RunFor(c_.duration); }
  void LivenessPhase();
  std::string LastEvents() const {
    std::string out;
    for (const std::string& e : events_) absl::StrAppend(&out, "    ", e, "\n");
    return out;
  }
  Duration settled_after() const { return settled_after_; }
  int wipes() const { return wipes_; }
  int wiped_empty() const { return wiped_empty_; }

 private:
  void Event(const std::string& what) {
    std::string line = absl::StrCat("t=", Ms(run_.sim().now() - SimEpoch()), " ", what);
    if (trace_ != nullptr && c_.trace != TraceLevel::kOff) std::fprintf(trace_, "  %s\n", line.c_str());
    events_.push_back(std::move(line));
    if (events_.size() > kEventsKeptMax) events_.pop_front();
  }
  std::string Name(int index) const { return NodeName(index); }
  std::string Names(const std::vector<NodeId>& ids) const {
    std::vector<std::string> out;
    for (NodeId id : ids) out.push_back(absl::StrCat("s", index_of_.at(id.value)));
    return absl::StrCat("{", absl::StrJoin(out, ","), "}");
  }
  void AddAgent(int index, bool server, int expect, std::vector<std::string> join);
  std::vector<std::string> JoinSome(int index, const std::vector<int>& among);
  void ScheduleFault() {
    run_.sim().After(run_.rng().UniformDuration(kFaultGapMin, kFaultGapMax), [this] { FaultTick(); });
  }
  void FaultTick();
  void Partition();
  void Kill();
  void WipeRestart(int index);
  bool ConfigurationWhole();
  void KillNow(int victim, bool torn, bool wipe);
  void FireArmedKill(NodeId id, const Effects& effects);
  void Pause();
  void ClockStep();
  bool Server(int index) const { return index <= c_.servers; }

  AgentRun& run_;
  const GeneratedConfig& c_;
  std::FILE* trace_;
  std::deque<std::string> events_;
  std::map<uint64_t, int> index_of_;  // NodeId value -> agent index
  bool faults_on_ = true;
  uint64_t partition_generation_ = 0;
  std::map<int, bool> wipe_pending_;  // killed, to come back wiped
  std::map<int, int> lives_;          // wiped restarts per agent
  std::optional<Time> last_wipe_at_;
  int wipes_ = 0;
  int wiped_empty_ = 0;
  std::optional<int> armed_victim_;  // a torn kill waiting for an unsynced write
  uint64_t arm_generation_ = 0;
  uint64_t leader_term_seen_ = 0;
  Duration settled_after_;
};

void Generated::AddAgent(int index, bool server, int expect, std::vector<std::string> join) {
  AgentSpec spec;
  spec.index = index;
  spec.server = server;
  spec.bootstrap_expect = server ? expect : 0;
  spec.join = std::move(join);
  const NodeId id = run_.Add(spec, c_.mutate);
  index_of_[id.value] = index;
  if (c_.clock_skew) {
    const Duration skew = run_.rng().UniformDuration(absl::ZeroDuration(), kInitialSkewMax);
    run_.sim().SetClockOffset(id, skew);
  }
  Event(absl::StrCat("start ", Name(index), server ? " server" : " client",
                     server ? absl::StrCat(" expect=", expect) : "", " join=", absl::StrJoin(spec.join, ","),
                     c_.clock_skew ? absl::StrCat(" clock+", Ms(run_.sim().ClockOffset(id))) : ""));
}

// One or two LAN addresses among `among` other than `index` (may not be up yet: retry-join).
std::vector<std::string> Generated::JoinSome(int index, const std::vector<int>& among) {
  std::vector<int> others;
  for (int i : among) {
    if (i != index) others.push_back(i);
  }
  const size_t count = std::min<size_t>(run_.rng().Bernoulli(0.5) ? 2 : 1, others.size());
  std::vector<std::string> out;
  while (out.size() < count) {
    const size_t k = run_.rng().Uniform(others.size());
    out.push_back(LanAddress(others[k]));
    others.erase(others.begin() + k);
  }
  return out;
}

void Generated::Start() {
  sim::LinkConfig link = run_.sim().network().default_link();
  link.loss = c_.loss;
  link.duplicate = c_.dup;
  if (!c_.delay.text.empty()) {
    link.latency_min = c_.delay.latency_min;
    link.latency_jitter_mean = c_.delay.jitter_mean;
  }
  run_.sim().network().SetDefaultLink(link);
  run_.AddObserver([this](NodeId id, const Input&, const Effects& effects) {
    FireArmedKill(id, effects);
    auto* m = static_cast<agent::AgentMachine*>(run_.sim().machine(id));
    if (m == nullptr || m->raft() == nullptr || m->raft()->role() != raft::Role::kLeader) return;
    if (m->raft()->term() <= leader_term_seen_) return;
    leader_term_seen_ = m->raft()->term();
    Event(absl::StrCat(Name(index_of_.at(id.value)), " leads term ", leader_term_seen_));
  });

  std::vector<int> all_servers;
  for (int i = 1; i <= c_.servers; ++i) all_servers.push_back(i);
  if (c_.bootstrap_expect == 0) {
    // All at once, each joining one or two of the others (s1 one added after it).
    for (int i = 1; i <= c_.servers; ++i) {
      std::vector<int> before(all_servers.begin(), all_servers.begin() + (i == 1 ? c_.servers : i - 1));
      AddAgent(i, true, c_.servers, JoinSome(i, before));
    }
  } else {
    std::vector<int> order = all_servers;
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[run_.rng().Uniform(i)]);
    // Each joins one or two started before it (the first one started after it: retried), so
    // gossip's join graph is connected.
    Duration at;
    for (size_t k = 0; k < order.size(); ++k) {
      const int index = order[k];
      const std::vector<int> before(order.begin(), order.begin() + k);
      std::vector<std::string> join =
          k == 0 ? (order.size() > 1 ? std::vector<std::string>{LanAddress(order[1 + run_.rng().Uniform(order.size() - 1)])}
                                     : std::vector<std::string>{})
                 : JoinSome(index, before);
      run_.sim().After(at, [this, index, join] { AddAgent(index, true, c_.bootstrap_expect, join); });
      at += run_.rng().UniformDuration(absl::Milliseconds(500), absl::Seconds(4));
    }
  }
  for (int i = c_.servers + 1; i <= c_.servers + c_.clients; ++i) {
    const Duration at = run_.rng().UniformDuration(absl::ZeroDuration(), absl::Seconds(5));
    std::vector<std::string> join = JoinSome(i, all_servers);
    run_.sim().After(at, [this, i, join] { AddAgent(i, false, 0, join); });
  }
  if (c_.workload == WorkloadKind::kCas) run_.set_cas_share(kCasShare);
  run_.StartWorkload(absl::Seconds(1) / std::max(c_.rate, 1));
  if (c_.partition || c_.kill != KillMode::kOff || c_.pause || c_.clock_skew) ScheduleFault();
}

void Generated::FaultTick() {
  if (!faults_on_) return;
  ScheduleFault();
  std::vector<void (Generated::*)()> kinds;
  if (c_.partition) kinds.push_back(&Generated::Partition);
  if (c_.kill != KillMode::kOff) kinds.push_back(&Generated::Kill);
  if (c_.pause) kinds.push_back(&Generated::Pause);
  if (c_.clock_skew) kinds.push_back(&Generated::ClockStep);
  (this->*kinds[run_.rng().Uniform(kinds.size())])();
}

void Generated::Partition() {
  std::vector<NodeId> all;
  for (int i : run_.indexes()) all.push_back(run_.node(i));
  if (all.size() < 2) return;
  std::vector<NodeId> order = all;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[run_.rng().Uniform(i)]);
  const auto shape = static_cast<sim::testing::PartitionShape>(run_.rng().Uniform(4));
  const size_t cut = 1 + run_.rng().Uniform(order.size() - 1);
  const NodeId victim = all[run_.rng().Uniform(all.size())];
  run_.sim().network().Heal();
  sim::testing::ApplyPartition(run_.sim(), shape, order, cut, victim, all, &run_.faults());
  const std::vector<NodeId> a(order.begin(), order.begin() + cut), b(order.begin() + cut, order.end());
  const Duration hold = run_.rng().UniformDuration(kPartitionHoldMin, kPartitionHoldMax);
  std::string what;
  switch (shape) {
    case sim::testing::PartitionShape::kSymmetric: what = absl::StrCat("partition ", Names(a), " | ", Names(b)); break;
    case sim::testing::PartitionShape::kOneWay: what = absl::StrCat("partition one way ", Names(a), " -/-> ", Names(b)); break;
    case sim::testing::PartitionShape::kIsolate: what = absl::StrCat("isolate s", index_of_.at(victim.value)); break;
    case sim::testing::PartitionShape::kBridge: {
      if (order.size() < 3) return;
      const size_t half = (order.size() - 1) / 2;
      what = absl::StrCat("bridge ", Names(std::vector<NodeId>(order.begin() + 1, order.begin() + 1 + half)), " <- s",
                          index_of_.at(order[0].value), " -> ", Names(std::vector<NodeId>(order.begin() + 1 + half, order.end())));
      break;
    }
  }
  Event(absl::StrCat(what, " for ", Ms(hold)));
  const uint64_t generation = ++partition_generation_;
  run_.sim().After(hold, [this, generation] {
    if (generation != partition_generation_ || !faults_on_) return;
    run_.sim().network().Heal();
    Event("heal");
  });
}

void Generated::Kill() {
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
  const int victim = !leaders.empty() && run_.rng().Bernoulli(0.5) && servers_up > 1
                         ? leaders[0]
                         : candidates[run_.rng().Uniform(candidates.size())];
  bool wipe = false;
  if (c_.kill == KillMode::kWipe && Server(victim) && run_.rng().Bernoulli(0.5)) {
    const bool all_up = servers_up == c_.servers;
    const bool spaced = !last_wipe_at_.has_value() || run_.sim().now() - *last_wipe_at_ >= kWipeGapMin;
    wipe = all_up && spaced && ConfigurationWhole();
  }
  const bool torn = c_.kill == KillMode::kTorn || (c_.kill == KillMode::kWipe && !wipe);
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
void Generated::FireArmedKill(NodeId id, const Effects& effects) {
  if (!armed_victim_.has_value() || run_.node(*armed_victim_) != id) return;
  // The observer runs before the step's effects: its writes reach the disk just after.
  if (!run_.sim().IsUp(id) || (effects.writes.empty() && run_.sim().disk(id).unsynced_writes() == 0)) return;
  const int victim = *armed_victim_;
  armed_victim_.reset();
  run_.sim().After(absl::ZeroDuration(), [this, victim] { KillNow(victim, true, false); });
}

void Generated::KillNow(int victim, bool torn, bool wipe) {
  if (!faults_on_ || !run_.up(victim)) return;
  const Duration downtime = run_.rng().UniformDuration(kDowntimeMin, kDowntimeMax);
  run_.Kill(victim, torn);
  Event(absl::StrCat(wipe ? "kill (to be wiped) " : torn ? "kill (torn) " : "kill ", Name(victim), " for ",
                     Ms(downtime)));
  if (wipe) {
    wipe_pending_[victim] = true;
    last_wipe_at_ = run_.sim().now();
    run_.sim().After(downtime, [this, victim] { WipeRestart(victim); });
  } else {
    run_.sim().After(downtime, [this, victim] {
      if (run_.up(victim) || wipe_pending_[victim]) return;
      run_.Restart(victim);
      Event(absl::StrCat("restart ", Name(victim)));
    });
  }
}

// A steady leader whose configuration is exactly the servers' current IDs, all voters: the
// last wiped server's new member promoted and its old ID gone.
bool Generated::ConfigurationWhole() {
  std::optional<int> leader = run_.SteadyLeader();
  if (!leader.has_value()) return false;
  std::set<uint64_t> current;
  for (int i = 1; i <= c_.servers; ++i) current.insert(agent::RaftIdOf(run_.options(i).config.node_id)->value);
  const raft::pb::Configuration& conf = run_.agent(*leader)->raft()->configuration();
  if (static_cast<size_t>(conf.servers_size()) != current.size()) return false;
  for (const raft::pb::Server& s : conf.servers()) {
    if (!s.voter() || !current.contains(s.id())) return false;
  }
  return true;
}

void Generated::WipeRestart(int index) {
  if (!wipe_pending_[index]) return;
  wipe_pending_[index] = false;
  const int life = ++lives_[index];
  run_.options(index).config.node_id = WipedNodeId(index, life);
  run_.RestartWiped(index);
  wipes_++;
  const agent::AgentMachine* m = run_.agent(index);
  if (m != nullptr && m->fsm().store().last_index() == 0 && m->raft() != nullptr && m->raft()->log().last_index() == 0) {
    wiped_empty_++;
  }
  Event(absl::StrCat("restart ", Name(index), " wiped, node ID ", run_.options(index).config.node_id));
}

void Generated::Pause() {
  std::vector<int> up = run_.up_indexes();
  if (up.empty()) return;
  const int victim = up[run_.rng().Uniform(up.size())];
  const Duration how_long = run_.rng().UniformDuration(kPauseMin, kPauseMax);
  run_.Pause(victim, how_long);
  Event(absl::StrCat("pause ", Name(victim), " for ", Ms(how_long)));
}

// A forward step of one node's clock (the fault model has no clock running backwards within
// a life).
void Generated::ClockStep() {
  std::vector<int> up = run_.up_indexes();
  if (up.empty()) return;
  const int victim = up[run_.rng().Uniform(up.size())];
  const Duration step = run_.rng().UniformDuration(absl::Milliseconds(1), kClockStepMax);
  const NodeId id = run_.node(victim);
  run_.sim().SetClockOffset(id, run_.sim().ClockOffset(id) + step);
  run_.faults().clock_steps++;
  Event(absl::StrCat("clock of ", Name(victim), " steps +", Ms(step)));
}

void Generated::LivenessPhase() {
  faults_on_ = false;
  const Time healed_at = run_.sim().now();
  run_.sim().network().Heal();
  std::vector<std::string> restarted;
  for (int i : run_.indexes()) {
    if (wipe_pending_[i]) {
      WipeRestart(i);
    } else if (!run_.up(i)) {
      run_.Restart(i);
      restarted.push_back(Name(i));
    }
  }
  Event(absl::StrCat("liveness: faults off, network healed",
                     restarted.empty() ? "" : absl::StrCat(", restarted ", absl::StrJoin(restarted, ","))));
  if (run_.Settle(c_.settle_budget)) {
    settled_after_ = run_.sim().now() - healed_at;
    Event(absl::StrCat("settled: one leader, everyone caught up, final checks held (",
                       Ms(settled_after_), " after healing)"));
  }
}

}  // namespace

const char* KillModeName(KillMode m) {
  switch (m) {
    case KillMode::kOff: return "off";
    case KillMode::kPlain: return "plain";
    case KillMode::kTorn: return "torn";
    case KillMode::kWipe: return "wipe";
  }
  return "?";
}

const char* WorkloadName(WorkloadKind w) {
  switch (w) {
    case WorkloadKind::kKv: return "kv";
    case WorkloadKind::kCas: return "cas";
  }
  return "?";
}

bool ParseDelay(const std::string& text, DelaySpec* out, std::string* error) {
  DelaySpec d;
  d.text = text;
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  bool ok = false;
  if (kind == "fixed") {
    ok = ParseDurationText(rest, &d.latency_min);
    d.jitter_mean = absl::ZeroDuration();
  } else if (kind == "exp") {
    const size_t plus = rest.find('+');
    ok = plus != std::string::npos && ParseDurationText(rest.substr(0, plus), &d.latency_min) &&
         ParseDurationText(rest.substr(plus + 1), &d.jitter_mean);
  } else if (kind == "uniform") {
    const size_t dash = rest.find('-');
    Duration lo, hi;
    ok = dash != std::string::npos && ParseDurationText(rest.substr(0, dash), &lo) &&
         ParseDurationText(rest.substr(dash + 1), &hi) && lo <= hi;
    d.latency_min = lo;
    d.jitter_mean = (hi - lo) / 2;
  }
  if (!ok) {
    *error = absl::StrCat("--delay ", text, ": expected fixed:D, exp:FLOOR+MEAN or uniform:LO-HI (e.g. uniform:1ms-20ms)");
    return false;
  }
  *out = d;
  return true;
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
  c.workload = d.Chance("cas", "half the workload is CAS rounds on four contended keys", 0.5) ? WorkloadKind::kCas
                                                                                             : WorkloadKind::kKv;
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
  GeneratedResult r;
  r.parameters = DescribeConfig(c);
  AgentRun run(c.seed, ReproCommand(c), c.trace == TraceLevel::kFull);
  run.checker().set_hash_record_interval(kHashRecordInterval);
  run.set_watch_prefix(kWatchPrefix);
  run.set_log_matching_interval(kLogMatchingEvery);
  run.set_through_clients(c.clients > 0);
  Generated g(run, c, trace_out);
  g.Start();
  g.SafetyPhase();
  if (!run.checker().failed()) g.LivenessPhase();

  const AgentChecker& k = run.checker();
  r.outcome.ok = !k.failed();
  r.outcome.fingerprint = run.sim().fingerprint();
  r.outcome.summary = absl::StrCat("seed=", c.seed, " ", run.Describe());
  if (!r.outcome.ok) {
    r.outcome.report = absl::StrCat(k.Report(), "\n  parameters: ", r.parameters, "\n  last events:\n", g.LastEvents());
  }
  r.faults = run.faults();
  r.faults.TakeNetworkStats(run.sim());
  r.virtual_time = run.sim().now() - SimEpoch();
  r.events = run.sim().events_processed();
  r.puts_acked = run.puts_acked();
  r.wiped_restarts_empty = g.wiped_empty();
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
      c.workload == WorkloadKind::kCas ? absl::StrCat("  cas rounds: ", run.cas_applied(), " of ", run.cas_sent(), " applied\n") : "",
      "  linearizability of the kv history (Wing & Gong with Lowe's memoization, per key; writes, cas and "
      "consistent reads; unanswered calls maybe-happened): ",
      run.linearizability().ops_checked, " ops over ", run.linearizability().keys_checked, " keys of ",
      run.history().size(), " recorded, ", sim::checkers::LinearizabilityVerdictName(run.linearizability().verdict),
      run.linearizability().keys_undecided > 0 ? absl::StrCat(" (", run.linearizability().keys_undecided, " keys undecided)") : "",
      "\n",
      "  liveness: ", r.outcome.ok ? absl::StrCat("settled ", Ms(g.settled_after()), " after healing")
                                  : "not reached (see the failure)",
      " (budget ", absl::FormatDuration(c.settle_budget), ")\n");
  if (!knobs.empty()) r.parameters = absl::StrCat(r.parameters, "\n  swarm drew: ", knobs);
  return r;
}

}  // namespace muster::agent_sim
