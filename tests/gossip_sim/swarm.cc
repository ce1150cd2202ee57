#include "tests/gossip_sim/swarm.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "absl/container/btree_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/gossip/suspicion.h"
#include "sim/testing/checker.h"
#include "sim/testing/faults.h"
#include "sim/testing/phases.h"
#include "sim/testing/swarm.h"
#include "tests/gossip_sim/sim_cluster.h"

namespace muster::gossip::testing {

const std::vector<UnsafeSwitch>& UnsafeSwitches() {
  static const std::vector<UnsafeSwitch> switches = {
      {"refutation", "a node refutes a suspicion or death of itself with a higher incarnation",
       [](SerfConfig& c) { c.memberlist.unsafe_no_refutation = true; }},
      {"incarnation-order", "an alive or suspect older than the incarnation held is stale",
       [](SerfConfig& c) { c.memberlist.unsafe_accept_older_incarnation = true; }},
      {"confirmations", "Lifeguard: independent confirmations shorten the suspicion timeout",
       [](SerfConfig& c) { c.memberlist.unsafe_suspicion_ignores_confirmations = true; }},
      {"dead-final", "dead is final for an incarnation: only a higher one revives a member",
       [](SerfConfig& c) { c.memberlist.unsafe_revive_dead_same_incarnation = true; }},
      {"intent-order", "Serf: only a newer (Lamport) join or leave intent changes a member's status",
       [](SerfConfig& c) { c.unsafe_intents_ignore_ltime = true; }},
      {"event-dedup", "Serf: a user event is delivered once per node (de-duplicated by Lamport time)",
       [](SerfConfig& c) { c.unsafe_user_events_no_dedup = true; }},
  };
  return switches;
}

const UnsafeSwitch* FindUnsafeSwitch(std::string_view name) {
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

std::string ReproCommand(uint64_t seed, std::string_view unsafe) {
  std::string cmd = absl::StrCat("bazel run //tests/gossip_sim:gossip_sim -- --seed ", seed);
  if (!unsafe.empty()) absl::StrAppend(&cmd, " --unsafe ", std::string(unsafe));
  return cmd;
}

namespace {

// Everything a seed draws, each knob through sim/testing's SwarmDraw (named, documented, and
// listed in the run's summary). The fault schedule is drawn afterwards from the same generator.
struct SwarmOptions {
  int nodes = 5;
  bool lifeguard = true;
  double loss = 0;
  double duplicate = 0;
  Duration jitter_mean = absl::Microseconds(500);
  Duration safety = absl::Seconds(30);
  int partitions = 0;
  int kills = 0;
  int pauses = 0;
  int leaves = 0;
  int user_events = 0;
  bool final_kill = false;
};

SwarmOptions Draw(sim::testing::SwarmDraw& d) {
  SwarmOptions o;
  o.nodes = d.OneOf("nodes",
                    "pool size: mostly small pools (one lost copy matters most there), some large ones (where "
                    "timeouts and retransmissions scale with log N)",
                    {3, 4, 5, 5, 6, 7, 8, 8, 10, 12, 16, 20, 25, 32, 40});
  o.lifeguard = d.Chance("lifeguard", "Lifeguard on, else classic SWIM", 0.75);
  o.loss = d.OneOf("loss", "datagram loss in the safety phase (streams stay reliable, as TCP)",
                   {0.0, 0.0, 0.01, 0.03, 0.05, 0.1, 0.15});
  o.duplicate = d.OneOf("dup", "datagram duplication in the safety phase", {0.0, 0.0, 0.02, 0.05, 0.1});
  o.jitter_mean = d.OneOf("jitter", "exponential jitter on 0.5 ms of latency: large values reorder",
                          {absl::Microseconds(500), absl::Microseconds(500), absl::Milliseconds(2),
                           absl::Milliseconds(10), absl::Milliseconds(40)});
  o.safety = d.UniformDuration("safety", "how long faults run after the joins", absl::Seconds(20), absl::Seconds(40));
  o.partitions = d.OneOf("partitions",
                         "cuts one after another (sim/testing's shapes: halves, one way, one isolated, a bridge), "
                         "1-15 s each: long enough for suspicions to expire into deaths",
                         {0, 1, 2, 3});
  o.kills = std::min(o.nodes / 3, d.OneOf("kills", "crashes, each restarted after 2-20 s with probability 0.6",
                                           {0, 1, 2, 3}));
  o.pauses = d.OneOf("pauses", "whole-process stalls of 0.5-5 s (Simulator::Pause): a slow node", {0, 1, 2, 3});
  o.leaves = o.nodes < 4 ? 0
                         : d.OneOf("leaves", "graceful leaves; the node comes back after 5-15 s with probability 0.5",
                                   {0, 1});
  o.user_events = d.OneOf("user_events", "user events from random live nodes during the safety phase", {0, 2, 4, 8});
  o.final_kill = d.Chance("final_kill",
                          "one more crash once the healed pool settled, its detection timed (with Lifeguard, "
                          "confirmations bring the suspicion to its minimum)",
                          0.7);
  return o;
}

constexpr Duration kJoinSpread = absl::Seconds(1);      // nodes join n1 within this
constexpr Duration kWarmup = absl::Seconds(3);          // faults start after the joins
constexpr Duration kSettle = absl::Seconds(10);         // after healing, before the final kill
constexpr Duration kCheckEvery = absl::Milliseconds(250);

// The detection bound after the final kill: 2.5 suspicion minimums (memberlist's formula, for
// the pool's size, which bounds the live count) plus 6 s for the first failed probe and the spread of the death. Lifeguard
// starts a suspicion at 6 minimums and needs independent confirmations to come down to one;
// SWIM's fixed timeout is one minimum.
Duration DetectionBound(int live) {
  return 2.5 * SuspicionTimeoutMin(4, live, absl::Seconds(1)) + absl::Seconds(6);
}

class Swarm {
 public:
  explicit Swarm(const SwarmConfig& config)
      : config_(config), draw_(config.seed), checker_(config.seed, ReproCommand(config.seed, config.unsafe)) {
    options_ = Draw(draw_);
    const UnsafeSwitch* unsafe = config.unsafe.empty() ? nullptr : FindUnsafeSwitch(config.unsafe);
    ClusterOptions co;
    co.nodes = options_.nodes;
    co.link.latency_jitter_mean = options_.jitter_mean;
    co.link.loss = options_.loss;
    co.link.duplicate = options_.duplicate;
    co.join_spread = kJoinSpread;
    const bool lifeguard = options_.lifeguard;
    co.tweak = [lifeguard, unsafe](SerfConfig& c) {
      c.memberlist.lifeguard = lifeguard;
      if (unsafe != nullptr) unsafe->set(c);
    };
    co.on_violation = [this](const std::string& what) { Fail("per-step invariant", what); };
    co.on_step = [this](NodeId id, const Input&, const Effects& e) { OnStep(id, e); };
    cluster_ = std::make_unique<SimCluster>(config.seed, co);
    for (NodeId id : cluster_->ids()) whole_time_[id.value] = true;
  }

  // Safety then liveness (sim/testing's RunPhases): faults during the joins' warm-up and the
  // safety phase; then heal, let the pool settle, crash one more node, and within the
  // detection bound every live node must see exactly the live nodes alive and agree on how
  // the others went; then every event must have been delivered exactly once where it had to be.
  SwarmResult Run() {
    Schedule();
    sim::Simulator& sim = cluster_->sim();
    sim::testing::Phases phases;
    phases.safety = kJoinSpread + kWarmup + options_.safety;
    phases.liveness_budget = kSettle + DetectionBound(options_.nodes);
    phases.poll = kCheckEvery;
    Time settled = absl::InfiniteFuture();
    phases.heal = [&] {
      Heal();
      settled = sim.now() + kSettle;
    };
    phases.drive = [&] {
      if (sim.now() < settled || final_kill_done_) return;
      final_kill_done_ = true;
      if (options_.final_kill) FinalKill();
    };
    phases.reached = [&] { return final_kill_done_ && Disagreement().empty(); };
    phases.diagnose = [&] {
      return absl::StrCat("the live nodes do not agree on who is alive and how the others went ",
                          absl::FormatDuration(kSettle),
                          " after healing plus the detection bound (", absl::FormatDuration(DetectionBound(options_.nodes)),
                          "): ", Disagreement());
    };
    if (sim::testing::RunPhases(sim, checker_, phases) == sim::testing::PhaseReached::kDone) {
      // Push-pulls carry recent user events; give the last exchanges a moment, then count.
      RunChecked(sim.now() + absl::Seconds(2));
      if (!checker_.failed()) CheckEventsDelivered();
    }
    return Result();
  }

 private:
  struct MemberMark {
    uint64_t incarnation = 0;
    std::optional<uint64_t> dead_incarnation;  // the highest incarnation we saw it dead or left in
    uint64_t status_ltime = 0;                 // Serf's Lamport time of its latest intent
  };
  struct View {
    uint64_t life = UINT64_MAX;
    absl::btree_map<std::string, MemberMark> members;
    absl::btree_map<std::string, int> user_deliveries;  // event name -> deliveries in this life
  };
  // How a node that is gone went: its first departure since it last started (a node that
  // left and then crashed has left).
  enum class Departure { kCrash, kLeave };
  struct SentEvent {
    std::string name;
    NodeId origin;
    bool accepted = false;
  };

  void Fail(const std::string& checker, const std::string& what) {
    const Time now = cluster_ == nullptr ? SimEpoch() : cluster_->sim().now();
    checker_.Fail(now, absl::StrCat(checker, ": ", what));
  }

  SwarmResult Result() {
    SwarmResult r;
    r.ok = !checker_.failed();
    r.failure = checker_.failure();
    r.report = checker_.Report();
    r.summary = absl::StrCat("seed=", config_.seed, config_.unsafe.empty() ? "" : " unsafe=", config_.unsafe, " ",
                             draw_.Describe());
    r.fingerprint = cluster_->sim().fingerprint();
    r.exercised = exercised_;
    if (!options_.lifeguard) r.exercised["lifeguard off"]++;
    if (options_.nodes > 20) r.exercised["pool over 20"]++;
    if (options_.loss > 0) r.exercised["loss"]++;
    if (options_.duplicate > 0) r.exercised["duplication"]++;
    return r;
  }

  void Log(const std::string& what) {
    if (config_.verbose) {
      std::printf("  %8.3f s  %s\n", absl::ToDoubleSeconds(cluster_->sim().now() - SimEpoch()), what.c_str());
    }
  }

  // Runs to `until` in small slices, stopping at the first failure.
  void RunChecked(Time until) {
    sim::Simulator& sim = cluster_->sim();
    while (!checker_.failed() && sim.now() < until) sim.RunUntil(std::min(until, sim.now() + kCheckEvery));
  }

  // ---- fault schedule ------------------------------------------------------------------

  Time RandomSafetyTime(Duration margin_end = absl::ZeroDuration()) {
    const Time start = cluster_->sim().now() + kJoinSpread + kWarmup;
    return start + draw_.rng().UniformDuration(absl::ZeroDuration(), options_.safety - margin_end);
  }

  NodeId RandomNode() { return cluster_->ids()[draw_.rng().Uniform(cluster_->ids().size())]; }

  std::string AllAddresses(NodeId except) const {
    std::vector<std::string> addrs;
    for (NodeId id : cluster_->ids()) {
      if (id != except) addrs.push_back(SimCluster::Name(id));
    }
    return absl::StrJoin(addrs, ",");
  }

  // Nodes up and not gone by their own leave.
  std::vector<NodeId> LiveSerfs() {
    std::vector<NodeId> live;
    for (NodeId id : cluster_->Live()) {
      if (!cluster_->node(id)->serf().shut_down()) live.push_back(id);
    }
    return live;
  }

  void Schedule() {
    sim::Simulator& sim = cluster_->sim();
    if (config_.verbose) std::printf("%s\n", draw_.Describe().c_str());
    // Partitions, one after another in the safety phase.
    Time t = sim.now() + kJoinSpread + kWarmup;
    const Time safety_end = t + options_.safety;
    for (int i = 0; i < options_.partitions; ++i) {
      const Time start = t + draw_.rng().UniformDuration(absl::ZeroDuration(), (safety_end - t) / 2);
      const Time end = std::min(safety_end, start + draw_.rng().UniformDuration(absl::Seconds(1), absl::Seconds(15)));
      if (start >= end) break;
      t = end;
      const NodeId victim = RandomNode();
      sim.At(start, [this, victim] {
        sim::testing::FaultCounts counts;
        const sim::testing::PartitionShape shape =
            sim::testing::InjectPartition(cluster_->sim(), draw_.rng(), cluster_->ids(), victim, &counts);
        const char* kinds[] = {"partition", "one-way partition", "isolation", "bridge"};
        Log(kinds[static_cast<int>(shape)]);
        exercised_[kinds[static_cast<int>(shape)]]++;
      });
      sim.At(end, [this] {
        Log("partition healed");
        cluster_->sim().network().Heal();
      });
    }
    for (int i = 0; i < options_.kills; ++i) ScheduleDeparture(/*crash=*/true, 0.6, absl::Seconds(2), absl::Seconds(20));
    for (int i = 0; i < options_.pauses; ++i) {
      const NodeId id = RandomNode();
      const Time at = RandomSafetyTime();
      const Duration how_long = draw_.rng().UniformDuration(absl::Milliseconds(500), absl::Seconds(5));
      sim.At(at, [this, id, how_long] {
        Log(absl::StrCat("pause ", SimCluster::Name(id), " for ", absl::FormatDuration(how_long)));
        exercised_["pause"]++;
        cluster_->sim().Pause(id, how_long);
      });
    }
    for (int i = 0; i < options_.leaves; ++i) ScheduleDeparture(/*crash=*/false, 0.5, absl::Seconds(5), absl::Seconds(15));
    for (int i = 0; i < options_.user_events; ++i) {
      const NodeId id = RandomNode();
      const Time at = RandomSafetyTime(absl::Seconds(1));
      const size_t index = events_.size();
      events_.push_back(SentEvent{absl::StrCat("ev", i), id, false});
      sim.At(at, [this, id, index] {
        if (!cluster_->sim().IsUp(id)) return;
        Log(absl::StrCat("user event ", events_[index].name, " from ", SimCluster::Name(id)));
        exercised_["user event"]++;
        cluster_->sim().Request(id, "user-event", absl::StrCat(events_[index].name, "\npayload-", index),
                                [this, index](const Response& r) { events_[index].accepted = r.status.ok(); });
      });
    }
  }

  // A node goes away at a random time of the safety phase, by a crash or by its own leave,
  // and with probability `p_back` comes back (restarts and joins) `back_min`-`back_max` later,
  // but at the latest 1 s before healing: the liveness phase has no faults but its final crash,
  // so its bound holds for what the safety phase left (a node restarted late, whose return a
  // peer's epidemic missed, waits for a periodic push-pull: seeds 4904, 6562, 6909).
  // Never below two live nodes.
  void ScheduleDeparture(bool crash, double p_back, Duration back_min, Duration back_max) {
    const NodeId id = RandomNode();
    const Time at = RandomSafetyTime(absl::Seconds(2));
    const bool back = draw_.rng().Bernoulli(p_back);
    const Time safety_end = cluster_->sim().now() + kJoinSpread + kWarmup + options_.safety;
    const Duration gone = std::min(draw_.rng().UniformDuration(back_min, back_max), safety_end - absl::Seconds(1) - at);
    cluster_->sim().At(at, [this, id, crash, back, gone] {
      if (!cluster_->sim().IsUp(id) || LiveSerfs().size() <= 2) return;
      const char* what = crash ? "kill" : "leave";
      Log(absl::StrCat(what, " ", SimCluster::Name(id), back ? " (back later)" : ""));
      exercised_[what]++;
      whole_time_[id.value] = false;
      if (!departures_.contains(id.value)) departures_[id.value] = crash ? Departure::kCrash : Departure::kLeave;
      if (!crash) ever_left_.insert(id.value);
      if (crash) {
        cluster_->sim().Kill(id);
      } else {
        cluster_->sim().Request(id, "leave", "", [](const Response&) {});
      }
      if (back) cluster_->sim().After(gone, [this, id] { RestartAndJoin(id); });
    });
  }

  void RestartAndJoin(NodeId id) {
    sim::Simulator& sim = cluster_->sim();
    Log(absl::StrCat("restart ", SimCluster::Name(id)));
    exercised_["restart"]++;
    if (sim.IsUp(id)) sim.Kill(id);
    sim.Restart(id);
    departures_.erase(id.value);
    sim.Request(id, "join", AllAddresses(id), [](const Response&) {});
  }

  // The liveness phase begins: links clean, partitions gone, and every live node retries its
  // join through every address (as agents configured with retry_join do).
  void Heal() {
    sim::Simulator& sim = cluster_->sim();
    Log("heal: links clean, partitions gone, retry-join everywhere");
    sim.network().Heal();
    sim.network().ClearLinkOverrides();
    sim.network().SetDefaultLink(sim::LinkConfig{});
    for (NodeId id : LiveSerfs()) sim.Request(id, "join", AllAddresses(id), [](const Response&) {});
  }

  void FinalKill() {
    std::vector<NodeId> live = LiveSerfs();
    if (live.size() < 5) return;
    const NodeId victim = live[draw_.rng().Uniform(live.size())];
    Log(absl::StrCat("final kill ", SimCluster::Name(victim)));
    exercised_["final kill"]++;
    whole_time_[victim.value] = false;
    departures_[victim.value] = Departure::kCrash;
    cluster_->sim().Kill(victim);
  }

  // ---- checkers ------------------------------------------------------------------------

  // After every step of every node: each node's view of each member moves only forward
  // (incarnations, Serf's intent times), and a member seen dead or left at an incarnation is
  // never alive again at that incarnation or an older one; a user event is delivered at most
  // once per life of a node.
  void OnStep(NodeId id, const Effects& effects) {
    if (cluster_ == nullptr) return;  // the first steps run inside SimCluster's constructor
    SerfMachine* machine = cluster_->node(id);
    if (machine == nullptr || checker_.failed()) return;
    const Serf& serf = machine->serf();
    View& view = views_[id.value];
    if (view.life != machine->host_incarnation()) view = View{machine->host_incarnation()};
    const std::string at = SimCluster::Name(id);
    for (const Event& e : effects.events) {
      if (!absl::StartsWith(e.kind, "user:")) continue;
      const std::string name = e.kind.substr(5);
      if (++view.user_deliveries[name] > 1) {
        Fail("exactly-once", absl::StrCat("user event ", name, " delivered ", view.user_deliveries[name], " times at ", at));
        return;
      }
    }
    if (!config_.view_checkers) return;
    absl::btree_map<std::string, MemberMark> next;
    for (const NodeState* n : serf.memberlist().Nodes()) {
      MemberMark mark;
      mark.incarnation = n->incarnation;
      const bool gone = n->state == MemberState::kDead || n->state == MemberState::kLeft;
      auto old = view.members.find(n->name);
      if (old != view.members.end()) {
        const MemberMark& was = old->second;
        if (n->incarnation < was.incarnation) {
          Fail("incarnation order", absl::StrCat(at, "'s view of ", n->name, "'s incarnation went back from ",
                                                 was.incarnation, " to ", n->incarnation));
          return;
        }
        if (!gone && was.dead_incarnation.has_value() && n->incarnation <= *was.dead_incarnation) {
          Fail("dead is final", absl::StrCat(at, " has ", n->name, " ", Absl(MemberStateName(n->state)),
                                             " at incarnation ", n->incarnation, ", after it was dead at ",
                                             *was.dead_incarnation));
          return;
        }
        mark.dead_incarnation = was.dead_incarnation;
        mark.status_ltime = was.status_ltime;
      }
      if (gone) mark.dead_incarnation = std::max(mark.dead_incarnation.value_or(0), n->incarnation);
      next.emplace(n->name, mark);
    }
    for (const auto& [name, member] : serf.members()) {
      auto it = next.find(name);
      if (it == next.end()) continue;  // Serf keeps members memberlist forgot; their marks restart
      if (member.status_ltime < it->second.status_ltime) {
        Fail("intent order", absl::StrCat(at, "'s Lamport time of ", name, "'s latest intent went back from ",
                                          it->second.status_ltime, " to ", member.status_ltime));
        return;
      }
      it->second.status_ltime = member.status_ltime;
    }
    view.members = std::move(next);
  }

  // Empty when every live node sees exactly the live nodes alive; else the first node that
  // does not, and how its view differs.
  std::string Disagreement() {
    std::set<std::string> want;
    std::vector<NodeId> live = LiveSerfs();
    for (NodeId id : live) want.insert(SimCluster::Name(id));
    for (NodeId id : live) {
      const Serf& s = cluster_->node(id)->serf();
      std::set<std::string> have;
      for (const auto& [name, m] : s.members()) {
        if (m.status == MemberStatus::kAlive) have.insert(name);
      }
      if (have == want) continue;
      std::vector<std::string> missing, extra;
      std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(missing));
      std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(extra));
      std::vector<std::string> missing_status;
      for (const std::string& n : missing) {
        const Member* m = s.member(n);
        // Its status here with the Lamport time of the intent behind it, and that time at home.
        const Member* home = cluster_->node(cluster_->sim().NodeAt(n))->serf().member(n);
        missing_status.push_back(absl::StrCat(
            n, "=", m == nullptr ? "unknown" : absl::StrCat(Absl(MemberStatusName(m->status)), "@", m->status_ltime),
            " (", home == nullptr ? 0 : home->status_ltime, " at home)"));
      }
      return absl::StrCat(SimCluster::Name(id), " sees ", have.size(), " alive of ", want.size(), " live; not alive: [",
                          absl::StrJoin(missing_status, " "), "], alive but not live: [", absl::StrJoin(extra, " "), "]");
    }
    return WrongDeparture();
  }

  // Empty when the live nodes agree on how each node that is gone went: one that crashed
  // (without leaving first) is failed wherever it is known, never left; one that left is left
  // everywhere it is known, or failed everywhere (when no live node heard its goodbye). Once
  // one live node has the goodbye, push-pull spreads it to all (Serf's left_members).
  std::string WrongDeparture() {
    const std::vector<NodeId> live = LiveSerfs();
    for (const auto& [id_value, how] : departures_) {
      // A node that left, came back and crashed while part of the pool missed its return keeps
      // "left" there, as in Serf: a newer join intent does not undo a left status, nor does a
      // death notice (memberlist ignores news of the dead or left). Seed 2692 of 4,000.
      if (how == Departure::kCrash && ever_left_.contains(id_value)) continue;
      const std::string gone = SimCluster::Name(NodeId{id_value});
      std::optional<MemberStatus> first;
      for (NodeId observer : live) {
        const Member* m = cluster_->node(observer)->serf().member(gone);
        if (m == nullptr) continue;
        const bool bad = how == Departure::kCrash ? m->status != MemberStatus::kFailed
                                                  : (m->status != MemberStatus::kLeft && m->status != MemberStatus::kFailed) ||
                                                        (first.has_value() && *first != m->status);
        if (bad) {
          return absl::StrCat(SimCluster::Name(observer), " has ", gone, " ", Absl(MemberStatusName(m->status)),
                              ", which ", how == Departure::kCrash ? "crashed" : "left",
                              first.has_value() ? absl::StrCat(" (another live node has it ", Absl(MemberStatusName(*first)), ")") : "");
        }
        if (!first.has_value()) first = m->status;
      }
    }
    return "";
  }

  // Every user event accepted by a node up the whole run reached every other such node exactly
  // once (a node that joined after the event ignores it, as Serf's eventJoinIgnore).
  void CheckEventsDelivered() {
    for (const SentEvent& ev : events_) {
      if (!ev.accepted || !whole_time_[ev.origin.value]) continue;
      // Its Lamport time, from the origin's record of its own delivery ("name@ltime").
      std::optional<uint64_t> ltime;
      for (const auto& [key, count] : cluster_->node(ev.origin)->serf().stats().user_delivered) {
        if (absl::StartsWith(key, ev.name + "@")) ltime = std::stoull(key.substr(ev.name.size() + 1));
      }
      if (!ltime.has_value()) {
        Fail("exactly-once", absl::StrCat("user event ", ev.name, " accepted by ", SimCluster::Name(ev.origin),
                                          " was not delivered there"));
        return;
      }
      for (NodeId id : cluster_->ids()) {
        if (!whole_time_[id.value]) continue;
        const Serf& s = cluster_->node(id)->serf();
        if (s.event_min_time() > *ltime) continue;
        const int n = views_[id.value].user_deliveries[ev.name];
        if (n != 1) {
          Fail("exactly-once", absl::StrCat("user event ", ev.name, " (Lamport time ", *ltime, ", from ",
                                            SimCluster::Name(ev.origin), ") delivered ", n, " times at ",
                                            SimCluster::Name(id), ", up the whole run"));
          return;
        }
      }
    }
  }

  SwarmConfig config_;
  sim::testing::SwarmDraw draw_;
  sim::testing::CheckerBase checker_;
  SwarmOptions options_;
  std::unique_ptr<SimCluster> cluster_;
  bool final_kill_done_ = false;  // the liveness phase's crash (or its turn, if not drawn)
  std::map<uint64_t, View> views_;          // by node id
  std::map<uint64_t, bool> whole_time_;     // up the whole run: never killed, never left
  std::map<uint64_t, Departure> departures_;  // nodes gone now, by id
  std::set<uint64_t> ever_left_;              // nodes that left at least once
  std::vector<SentEvent> events_;
  absl::btree_map<std::string, int> exercised_;  // fault kind -> times it happened
};

}  // namespace

SwarmResult RunSwarm(const SwarmConfig& config) {
  if (!config.unsafe.empty() && FindUnsafeSwitch(config.unsafe) == nullptr) {
    SwarmResult r;
    r.ok = false;
    r.failure = absl::StrCat("unknown unsafe switch ", config.unsafe);
    return r;
  }
  Swarm swarm(config);
  return swarm.Run();
}

}  // namespace muster::gossip::testing
