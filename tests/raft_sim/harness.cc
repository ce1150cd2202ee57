#include "tests/raft_sim/harness.h"

#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/check.h"
#include "sim/simulator.h"
#include "sim/testing/faults.h"
#include "sim/testing/phases.h"
#include "sim/testing/step_observers.h"
#include "sim/testing/swarm.h"

namespace muster::raft_sim {
namespace {

class StderrSink final : public LogSink {
 public:
  void Write(Time now, LogLevel level, std::string_view component, std::string_view message) override {
    std::fprintf(stderr, "%12s [%s] %.*s: %.*s\n", absl::FormatDuration(now - SimEpoch()).c_str(),
                 std::string(LogLevelName(level)).c_str(), static_cast<int>(component.size()), component.data(),
                 static_cast<int>(message.size()), message.data());
  }
};

std::string ConfigString(const raft::pb::Configuration& c) {
  std::vector<std::string> parts;
  for (const auto& s : c.servers()) parts.push_back(absl::StrCat("n", s.id(), s.voter() ? "" : "(nonvoter)"));
  return absl::StrJoin(parts, " ");
}

struct Swarm {
  int servers;
  double loss, duplicate;
  bool datagram;
  Duration jitter;
  double crash_weight, partition_weight, pause_weight;
  bool torn;
  bool pre_vote, check_quorum;
  uint64_t snapshot_every;
  Duration fault_interval;
  Duration sync_latency_max;
  double target_leader;
  bool membership;
  double crash_after_vote;  // probability a voter is killed right after granting a vote
  int nonvoters;            // bootstrap servers that start as non-voters (the highest ids)
  // Raft's own limits, small in most seeds so that their edge cases happen (Choose says why).
  uint64_t msg_bytes_max;
  size_t inflight_msgs_max;
  uint64_t inflight_bytes_max;
  uint64_t snapshot_chunk_bytes;
  uint64_t buggify_seed;  // 0: BUGGIFY off
};

// Every knob through sim/testing's SwarmDraw, named and documented (the run's summary lists
// what the seed chose). `draw` is the run's generator (the faults and the client draw from it
// afterwards); `limits` is a second one, so knobs added later leave each seed's faults alone.
Swarm Choose(sim::testing::SwarmDraw& draw, sim::testing::SwarmDraw& limits, const RunConfig& c) {
  Swarm s;
  s.servers = c.servers > 0 ? draw.Fixed("servers", "cluster size (--servers)", c.servers)
                            : draw.OneOf("servers", "cluster size", {3, 5, 7});
  auto fault = [&](const char* name, const char* doc, std::initializer_list<double> choices) {
    return c.faults ? draw.OneOf(name, doc, choices) : draw.Fixed(name, doc, 0.0);
  };
  s.loss = fault("loss", "probability a message is lost (streams too)", {0, 0.01, 0.05, 0.15});
  s.duplicate = fault("dup", "probability a message arrives twice", {0, 0.01, 0.05, 0.15});
  s.datagram = draw.Chance("datagram", "raft over datagrams (cut to the datagram limit) instead of streams", 0.5);
  // A coin, as the swarm drew it before SwarmDraw (OneOf draws differently): same seeds, same runs.
  s.jitter = draw.Fixed("jitter", "mean exponential link jitter (reorders datagrams): 500us or 5ms",
                        draw.rng().Bernoulli(0.5) ? absl::Microseconds(500) : absl::Milliseconds(5));
  auto weight = [&](const char* name, const char* doc, double hi) {
    return c.faults ? draw.Uniform(name, doc, 0, hi) : draw.Fixed(name, doc, 0.0);
  };
  s.crash_weight = weight("crash", "weight of a crash (restart after 20 ms-1.5 s) among the faults", 1);
  s.partition_weight = weight("partition", "weight of a partition (halves, one way, isolate, bridge)", 1);
  s.pause_weight = weight("pause", "weight of a pause (50 ms-1.5 s) of one node", 0.5);
  s.torn = draw.Chance("torn", "crashes may tear the oldest unsynced write (half of them)", 0.5);
  s.pre_vote = draw.Chance("prevote", "raft's pre-vote", 0.8);
  s.check_quorum = draw.Chance("checkquorum", "a leader steps down without a quorum's contact", 0.8);
  s.snapshot_every = draw.OneOf("snapshot_every", "entries applied between compactions (0: never)",
                                {uint64_t{0}, uint64_t{10}, uint64_t{50}});
  s.fault_interval = draw.UniformDuration("fault_every", "time between two faults", absl::Milliseconds(100),
                                          absl::Milliseconds(800));
  s.sync_latency_max = draw.OneOf("sync_max", "slowest fsync (uniform from 100 us)",
                                  {absl::Milliseconds(2), absl::Milliseconds(10), absl::Milliseconds(40)});
  s.target_leader = draw.Uniform("target_leader", "probability a fault's victim is the leader", 0, 1);
  s.membership = s.servers >= 3 ? draw.Chance("membership", "membership churn through the leader", 0.35)
                                : draw.Fixed("membership", "membership churn through the leader", false);
  s.crash_after_vote =
      c.faults && draw.Chance("crash_after_vote", "kill a voter (or candidate) right after its vote, at 0.3", 0.5)
          ? 0.3
          : 0;

  // Non-voters from the start (5 and 7 servers, a third of the seeds): their votes and acks
  // must never count. Without membership churn they stay non-voters all run (churn promotes
  // one per change, so changes of one non-voter only last a few hundred milliseconds).
  s.nonvoters = s.servers >= 5 && limits.Chance("nonvoters", "bootstrap 1-2 of the servers as non-voters", 0.35)
                    ? 1 + static_cast<int>(limits.rng().Uniform(2))
                    : 0;
  // Bytes of entry data per append (at least one entry goes): 1 and 64 cut every catch-up
  // into partial batches, so a follower often holds entries past an append's last one.
  s.msg_bytes_max = limits.OneOf("msg_bytes_max", "entry bytes per append (partial batches when small)",
                                 {uint64_t{1} << 20, uint64_t{512}, uint64_t{64}, uint64_t{1}});
  // Appends in flight per follower in Replicate state: 1 is stop-and-wait.
  s.inflight_msgs_max = limits.OneOf("inflight_msgs_max", "appends in flight per follower (1: stop-and-wait)",
                                     {size_t{256}, size_t{8}, size_t{2}, size_t{1}});
  // Entry bytes in flight per follower (flow control): 16 pauses after about one entry.
  s.inflight_bytes_max = limits.OneOf("inflight_bytes_max", "entry bytes in flight per follower (flow control)",
                                      {uint64_t{32} << 20, uint64_t{1024}, uint64_t{128}, uint64_t{16}});
  // Snapshot chunk size: 16 streams a 3.6 KB snapshot in some 230 chunks, resumed by offset
  // after each loss.
  s.snapshot_chunk_bytes = limits.OneOf("chunk_bytes", "snapshot chunk size",
                                        {uint64_t{64} << 10, uint64_t{1024}, uint64_t{64}, uint64_t{16}});
  // BUGGIFY in half the seeds: raft's marked sites take their worst legal choice.
  s.buggify_seed = limits.Chance("buggify", "raft's BUGGIFY sites on (worst legal choices)", 0.5)
                       ? limits.rng().Next() | 1
                       : 0;
  return s;
}

class Run {
 public:
  static constexpr uint64_t kStepsMax = 400'000;
  explicit Run(const RunConfig& config)
      : config_(config),
        sim_(config.seed),
        draw_(Rng(config.seed ^ 0x5eed)),
        limits_(Rng(config.seed ^ 0x1141'75ed)),
        rng_(draw_.rng()),
        checker_(config.seed, ReproCommand(config.seed, UnsafeName(config.unsafe))),
        observers_(sim_, checker_, kStepsMax) {}

  RunResult Go() {
    swarm_ = Choose(draw_, limits_, config_);
    if (config_.verbose) sim_.set_log_sink(&sink_);
    sim::LinkConfig link;
    link.latency_jitter_mean = swarm_.jitter;
    link.loss = swarm_.loss;
    link.duplicate = swarm_.duplicate;
    link.faults_affect_streams = true;
    sim_.network().SetDefaultLink(link);
    sim::DiskConfig disk;
    disk.sync_latency_max = swarm_.sync_latency_max;
    sim_.set_disk_config(disk);

    raft::KvMachineOptions opts;
    opts.raft.pre_vote = swarm_.pre_vote;
    opts.raft.check_quorum = swarm_.check_quorum;
    opts.raft.channel = swarm_.datagram ? Channel::kDatagram : Channel::kStream;
    opts.raft.msg_bytes_max = swarm_.msg_bytes_max;
    opts.raft.inflight_msgs_max = swarm_.inflight_msgs_max;
    opts.raft.inflight_bytes_max = swarm_.inflight_bytes_max;
    opts.raft.snapshot_chunk_bytes = swarm_.snapshot_chunk_bytes;
    opts.raft.buggify.seed = swarm_.buggify_seed;
    for (const UnsafeSwitch& u : UnsafeSwitches()) opts.raft.*u.field = config_.unsafe.*u.field;
    opts.snapshot_every = swarm_.snapshot_every;
    for (int i = 1; i <= swarm_.servers; ++i) {
      raft::pb::Server* s = opts.bootstrap.add_servers();
      s->set_id(i);
      s->set_address(absl::StrCat("n", i));
      s->set_voter(i <= swarm_.servers - swarm_.nonvoters);
    }
    observers_.Add([this](NodeId id, const Input& in, const Effects& fx) {
      checker_.OnStep(id, in, fx, Machine(id), sim_.now());
      if ((observers_.steps() + 1) % 512 == 0) CheckLogs();
      if (in_safety_ && swarm_.crash_after_vote > 0) MaybeCrashAfterVote(id, fx);
      if (in_safety_ && swarm_.membership) MaybeChangeOnNewLeader(id);
    });
    for (int i = 1; i <= swarm_.servers; ++i) ids_.push_back(sim_.AddNode(raft::KvMachineFactory(opts)));

    ScheduleClient();
    if (config_.faults) ScheduleFault();
    if (swarm_.membership) ScheduleMembership();
    // Safety with faults, then liveness (sim/testing's phases): heal a majority core, and a
    // new write must commit within the budget, checked after every event.
    sim::testing::Phases phases;
    phases.safety = config_.safety;
    phases.liveness_budget = config_.liveness_budget;
    phases.poll = absl::ZeroDuration();
    phases.heal = [this] {
      CheckLogs();
      in_safety_ = false;
      if (!checker_.failed()) HealCore();
    };
    phases.drive = [this] { DriveLiveness(); };
    phases.reached = [this] { return liveness_committed_; };
    phases.diagnose = [this] { return DiagnoseLiveness(); };
    if (sim::testing::RunPhases(sim_, checker_, phases) == sim::testing::PhaseReached::kSafetyFailed) {
      CheckLogs();
      in_safety_ = false;
    }
    if (!checker_.failed()) SettleRequests();
    CheckLogs();
    for (NodeId n : ids_) CollectBuggify(n);

    RunResult result;
    result.ok = !checker_.failed();
    result.failure = checker_.failure();
    result.report = checker_.Report();
    result.events = sim_.events_processed();
    result.fingerprint = sim_.fingerprint();
    result.acked = acked_;
    result.servers = swarm_.servers;
    faults_.TakeNetworkStats(sim_);
    result.faults = faults_;
    result.membership_changes = membership_accepted_;
    result.snapshots_installed = checker_.snapshots_installed();
    result.buggify_fired = buggify_fired_;
    result.summary = absl::StrCat("seed=", config_.seed, " ", draw_.Describe(), " ", limits_.Describe(), " events=", result.events,
                                  " acked=", acked_, " reads=", reads_, " conf_changes=", membership_changes_, " applied=", checker_.applied_max(),
                                  " leaders=", checker_.leaders_elected(), " max_term=", checker_.max_term());
    return result;
  }

 private:
  raft::KvMachine* Machine(NodeId id) { return dynamic_cast<raft::KvMachine*>(sim_.machine(id)); }

  // Adds a node's BUGGIFY record to the run's (before the node dies with it).
  void CollectBuggify(NodeId id) {
    if (raft::KvMachine* m = Machine(id)) {
      for (const auto& [site, n] : m->raft().buggify().fired()) buggify_fired_[site] += n;
    }
  }

  void CheckLogs() {
    std::vector<std::pair<NodeId, const raft::KvMachine*>> ms;
    for (NodeId id : ids_) {
      if (raft::KvMachine* m = Machine(id)) ms.push_back({id, m});
    }
    checker_.CheckLogMatching(ms, sim_.now());
    checker_.CheckAcknowledgedHeld(ms, sim_.now());
  }

  // The client: puts with unique values, following leader hints.
  void ScheduleClient() {
    sim_.After(rng_.UniformDuration(absl::Milliseconds(5), absl::Milliseconds(60)), [this] {
      if (!in_safety_) return;
      if (rng_.Bernoulli(0.25)) {
        SendGet(absl::StrCat("k", rng_.Uniform(8)), rng_.Bernoulli(0.5) ? "get" : "lease-get");
      } else {
        SendPut(absl::StrCat("k", rng_.Uniform(8), "=v", next_value_++), nullptr);
      }
      ScheduleClient();
    });
  }

  // Linearizable reads (ReadIndex or lease): the value returned must be at least as new as
  // every put of that key acknowledged before the read was issued.
  void SendGet(const std::string& key, const std::string& method) {
    NodeId target = target_.valid() ? target_ : ids_[rng_.Uniform(ids_.size())];
    if (!sim_.IsUp(target)) return;
    const uint64_t floor = acked_index_[key];
    sim_.Request(target, method, key, [this, key, floor, method](const Response& r) {
      if (!r.status.ok()) return;
      ++reads_;
      const uint64_t got = r.body.empty() ? 0 : checker_.IndexOf(absl::StrCat(key, "=", r.body));
      if (!r.body.empty() && got == 0) {
        checker_.Fail(sim_.now(), absl::StrCat(method, " of ", key, " returned '", r.body, "', never applied"));
      } else if (got < floor) {
        checker_.Fail(sim_.now(), absl::StrCat("stale ", method, " of ", key, ": value from index ", got,
                                               " but a put at index ", floor, " was acknowledged before the read"));
      }
    });
  }

  void SendPut(std::string body, std::function<void()> on_ack) {
    NodeId target = target_.valid() && rng_.Bernoulli(0.9) ? target_ : ids_[rng_.Uniform(ids_.size())];
    if (!sim_.IsUp(target)) return;
    sim_.Request(target, "put", body, [this, body, on_ack](const Response& r) {
      if (r.status.ok()) {
        ++acked_;
        const uint64_t index = std::stoull(r.body);
        checker_.OnAck(index, body, sim_.now());
        uint64_t& floor = acked_index_[body.substr(0, body.find('='))];
        floor = std::max(floor, index);
        if (on_ack) on_ack();
      } else if (r.body.rfind("leader=", 0) == 0) {
        target_ = sim_.NodeAt(r.body.substr(7));
      } else {
        target_ = NodeId{};
      }
    });
  }

  // The worst moment to crash a voter: its grant (or, a candidate, its vote for itself) is
  // or should be waiting for the sync.
  void MaybeCrashAfterVote(NodeId id, const Effects& fx) {
    for (const OutboundMessage& m : fx.messages) {
      if (m.payload.size() > 256) continue;
      raft::pb::Message pm;
      if (!pm.ParseFromString(m.payload)) continue;
      const bool grant = pm.type() == raft::pb::MSG_VOTE_RESP && !pm.reject();
      if (!grant && pm.type() != raft::pb::MSG_VOTE) continue;
      if (!rng_.Bernoulli(swarm_.crash_after_vote)) return;
      sim_.After(rng_.UniformDuration(absl::ZeroDuration(), absl::Milliseconds(2)), [this, id] {
        if (!sim_.IsUp(id) || !in_safety_) return;
        CrashAndRestartAfter(id, absl::Milliseconds(5), absl::Milliseconds(300));
      });
      return;
    }
  }

  // Half the new leaders get a membership change at once, before their no-op can have
  // committed (Raft must refuse it until then: the 2015 single-server bug).
  void MaybeChangeOnNewLeader(NodeId id) {
    raft::KvMachine* m = Machine(id);
    if (m == nullptr || m->raft().role() != raft::Role::kLeader) return;
    uint64_t& led = led_term_[id.value];
    if (led == m->raft().term()) return;
    led = m->raft().term();
    if (!rng_.Bernoulli(0.5)) return;
    sim_.After(rng_.UniformDuration(absl::ZeroDuration(), absl::Milliseconds(2)), [this] {
      if (in_safety_) ChangeMembership();
    });
  }

  // Membership churn, one server at a time, through whoever leads: remove a server (maybe
  // the leader itself), add it back as voter or non-voter, promote non-voters. A third of the
  // changes get a second one a few milliseconds later, while the first is still uncommitted
  // (Raft must refuse it: one change at a time).
  void ScheduleMembership() {
    sim_.After(rng_.UniformDuration(absl::Milliseconds(200), absl::Milliseconds(1200)), [this] {
      if (!in_safety_) return;
      ChangeMembership();
      if (rng_.Bernoulli(0.33)) {
        sim_.After(rng_.UniformDuration(absl::Milliseconds(1), absl::Milliseconds(10)), [this] {
          if (in_safety_) ChangeMembership();
        });
      }
      ScheduleMembership();
    });
  }

  void ChangeMembership() {
    NodeId leader;
    for (NodeId n : ids_) {
      raft::KvMachine* m = Machine(n);
      if (m != nullptr && m->raft().role() == raft::Role::kLeader) leader = n;
    }
    if (!leader.valid()) return;
    const raft::pb::Configuration& config = Machine(leader)->raft().configuration();
    std::set<uint64_t> voters, nonvoters;
    for (const auto& s : config.servers()) (s.voter() ? voters : nonvoters).insert(s.id());
    std::string method, body;
    if (!nonvoters.empty()) {
      method = "promote";
      body = absl::StrCat(*nonvoters.begin());
    } else if (voters.size() < ids_.size()) {
      for (NodeId n : ids_) {
        if (voters.count(n.value) == 0) {
          method = rng_.Bernoulli(0.5) ? "add-voter" : "add-nonvoter";
          body = absl::StrCat(n.value, " ", sim_.AddressOf(n));
          break;
        }
      }
    } else {
      NodeId victim = ids_[rng_.Uniform(ids_.size())];
      method = "remove";
      body = absl::StrCat(victim.value);
    }
    sim_.Request(leader, method, body, [this](const Response& r) {
      if (r.status.ok()) membership_accepted_++;
    });
    membership_changes_++;
  }

  void ScheduleFault() {
    sim_.After(swarm_.fault_interval, [this] {
      if (!in_safety_) return;
      InjectFault();
      ScheduleFault();
    });
  }

  std::vector<NodeId> Shuffled() {
    std::vector<NodeId> v = ids_;
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng_.Uniform(i)]);
    return v;
  }

  // Kills `id` (a torn last write half the time, when the swarm allows it) and restarts it
  // after a uniform delay in [restart_min, restart_max], telling the checker both.
  void CrashAndRestartAfter(NodeId id, Duration restart_min, Duration restart_max) {
    checker_.OnCrash(id);
    const bool torn = swarm_.torn && rng_.Bernoulli(0.5);
    faults_.crashes++;
    if (torn && sim_.disk(id).unsynced_writes() > 0) faults_.torn_crashes++;
    CollectBuggify(id);
    sim_.Kill(id, torn);
    sim_.After(rng_.UniformDuration(restart_min, restart_max), [this, id] {
      if (sim_.IsUp(id)) return;
      sim_.Restart(id);
      if (raft::KvMachine* m = Machine(id)) checker_.OnRestart(id, m, sim_.now());
    });
  }

  // A fault's victim: often the current leader, where faults hurt most.
  NodeId Victim() {
    if (rng_.Bernoulli(swarm_.target_leader)) {
      for (NodeId n : ids_) {
        raft::KvMachine* m = Machine(n);
        if (m != nullptr && m->raft().role() == raft::Role::kLeader) return n;
      }
    }
    return ids_[rng_.Uniform(ids_.size())];
  }

  void InjectFault() {
    const double total = swarm_.crash_weight + swarm_.partition_weight + swarm_.pause_weight + 0.3;
    double x = rng_.UniformDouble() * total;
    if ((x -= swarm_.crash_weight) < 0) {
      NodeId n = Victim();
      if (!sim_.IsUp(n)) return;
      CrashAndRestartAfter(n, absl::Milliseconds(20), absl::Milliseconds(1500));
      return;
    }
    if ((x -= swarm_.partition_weight) < 0) {
      sim_.network().Heal();
      if (ids_.size() < 2) return;
      // Raft's draw order (order, cut, shape, then the victim of an isolation), so each seed's
      // faults stayed what they were before sim/testing's ApplyPartition did the cutting.
      std::vector<NodeId> v = Shuffled();
      const size_t cut = 1 + rng_.Uniform(v.size() - 1);
      const auto shape = static_cast<sim::testing::PartitionShape>(rng_.Uniform(4));
      const NodeId victim = shape == sim::testing::PartitionShape::kIsolate ? Victim() : NodeId{};
      sim::testing::ApplyPartition(sim_, shape, v, cut, victim, ids_, &faults_);
      return;
    }
    if ((x -= swarm_.pause_weight) < 0) {
      NodeId n = Victim();
      if (sim_.IsUp(n)) {
        sim_.Pause(n, rng_.UniformDuration(absl::Milliseconds(50), absl::Milliseconds(1500)));
        faults_.pauses++;
      }
      return;
    }
    sim_.network().Heal();
  }

  // Every request to a core server is answered (seam rule 5) once the core has a leader
  // that commits: puts when their entry is applied (or known overwritten), reads after one
  // heartbeat round or when leadership is lost. A pause from the fault phase may still hold
  // a server for up to 1.5 s, so: run kSettle more, then nothing older may be unanswered.
  static constexpr Duration kSettle = absl::Seconds(2);
  void SettleRequests() {
    sim_.RunFor(kSettle);
    std::vector<NodeId> up;
    for (NodeId n : core_) {
      if (sim_.IsUp(n)) up.push_back(n);
    }
    checker_.CheckRequestsAnswered(up, kSettle, sim_.now());
  }

  // Liveness, first: heal a majority core; everyone else stays cut off (or down).
  void HealCore() {
    std::vector<NodeId> v = Shuffled();
    const size_t majority = ids_.size() / 2 + 1;
    // With membership churn the latest configuration may differ from node to node, so
    // the whole cluster is healed instead of a majority of the bootstrap servers.
    // So is it with non-voters: a majority of all the servers may lack one of the voters.
    const size_t core_size = swarm_.membership || swarm_.nonvoters > 0 ? ids_.size() : majority;
    std::vector<NodeId> core(v.begin(), v.begin() + core_size), rest(v.begin() + core_size, v.end());
    std::sort(core.begin(), core.end());
    core_ = core;
    sim_.network().Heal();
    sim::LinkConfig link = sim_.network().default_link();
    link.loss = 0;
    link.duplicate = 0;
    sim_.network().SetDefaultLink(link);
    if (!rest.empty()) sim_.network().Partition(core, rest);
    for (NodeId n : core) {
      if (!sim_.IsUp(n)) {
        sim_.Restart(n);
        if (raft::KvMachine* m = Machine(n)) checker_.OnRestart(n, m, sim_.now());
      }
    }
    next_try_ = sim_.now();
  }

  // Then, every 300 ms: a put through a core leader that has committed in its term.
  void DriveLiveness() {
    if (sim_.now() < next_try_) return;
    next_try_ = sim_.now() + absl::Milliseconds(300);
    for (NodeId n : core_) {
      raft::KvMachine* m = Machine(n);
      if (m != nullptr && m->raft().role() == raft::Role::kLeader && m->raft().CommittedOwnTerm()) {
        const std::string body = absl::StrCat("live=", config_.seed, "-", liveness_attempt_++);
        liveness_outstanding_ = true;
        sim_.Request(n, "put", body, [this, body](const Response& r) {
          if (r.status.ok()) {
            checker_.OnAck(std::stoull(r.body), body, sim_.now());
            liveness_committed_ = true;
          }
        });
        return;
      }
    }
  }

  std::string DiagnoseLiveness() {
    std::vector<std::string> states;
    for (NodeId n : core_) {
      raft::KvMachine* m = Machine(n);
      if (m == nullptr) {
        states.push_back(absl::StrCat(ToString(n), " down"));
        continue;
      }
      const raft::Status s = m->raft().GetStatus();
      states.push_back(absl::StrCat(ToString(n), " ", Absl(raft::RoleName(s.role)), " term=", s.term,
                                    " leader=", s.leader.value, " commit=", s.commit, " last=", s.last_index, "/",
                                    m->raft().log().last_term(), " config=[", ConfigString(m->raft().configuration()), "]"));
    }
    std::vector<std::string> names;
    for (NodeId n : core_) names.push_back(ToString(n));
    return absl::StrCat(liveness_outstanding_ ? "a leader was elected but no write committed"
                                              : "no leader with a committed own-term entry",
                        " among core {", absl::StrJoin(names, ","), "}: ", absl::StrJoin(states, "; "));
  }

  RunConfig config_;
  sim::Simulator sim_;
  sim::testing::SwarmDraw draw_;   // the knobs, then every later draw of the run (rng_)
  sim::testing::SwarmDraw limits_; // raft's limits and BUGGIFY, on their own stream
  Rng& rng_;
  Swarm swarm_;
  StderrSink sink_;
  Checker checker_;
  sim::testing::StepObservers observers_;
  std::vector<NodeId> ids_;
  std::vector<NodeId> core_;  // the servers healed for the liveness phase
  bool liveness_committed_ = false;  // a liveness put was acknowledged
  bool liveness_outstanding_ = false;  // a liveness put was sent
  uint64_t liveness_attempt_ = 0;
  Time next_try_;
  NodeId target_;
  uint64_t next_value_ = 0;
  uint64_t acked_ = 0;
  uint64_t membership_changes_ = 0;   // asked
  uint64_t membership_accepted_ = 0;  // accepted by a leader
  uint64_t reads_ = 0;
  sim::testing::FaultCounts faults_;
  std::map<uint64_t, uint64_t> led_term_;
  std::map<std::string, uint64_t> buggify_fired_;  // node -> the last term it was seen leading
  std::map<std::string, uint64_t> acked_index_;  // key -> highest acknowledged put index
  bool in_safety_ = true;
};

}  // namespace

RunResult RunSeed(const RunConfig& config) {
  Run run(config);
  RunResult r = run.Go();
  return r;
}

const std::vector<UnsafeSwitch>& UnsafeSwitches() {
  using O = raft::RaftOptions;
  static const auto* switches = new std::vector<UnsafeSwitch>{
      {"vote", &O::unsafe_reply_before_persist, "a vote is durable before the grant leaves"},
      {"campaign", &O::unsafe_campaign_before_persist, "a candidate's term and self-vote are durable before its requests"},
      {"append-ack", &O::unsafe_ack_append_before_persist, "a follower's entries are durable before it acknowledges them"},
      {"ack", &O::unsafe_ack_before_durable, "a leader's own entries count toward commit only once durable"},
      {"stale-vote", &O::unsafe_grant_stale_term_vote, "RequestVote: reject a request of an older term"},
      {"vote-twice", &O::unsafe_vote_twice_in_term, "RequestVote: one vote per term"},
      {"vote-log", &O::unsafe_vote_ignores_log, "RequestVote: grant only to a log at least as up-to-date"},
      {"stale-append", &O::unsafe_accept_stale_term_append, "AppendEntries: reject an append of an older term"},
      {"log-matching", &O::unsafe_skip_log_matching_check, "AppendEntries: reject unless prevLogIndex holds prevLogTerm"},
      {"truncate", &O::unsafe_truncate_without_conflict, "AppendEntries: truncate only on a conflict"},
      {"commit-last-new", &O::unsafe_commit_past_last_new, "AppendEntries: commit = min(leaderCommit, last new entry)"},
      {"higher-term", &O::unsafe_keep_role_on_higher_term, "a leader steps down on a higher term"},
      {"nonvoter-votes", &O::unsafe_count_nonvoter_votes, "only voters' votes elect"},
      {"nonvoter-acks", &O::unsafe_count_nonvoter_acks, "only voters' matches commit"},
      {"leader-append-only", &O::unsafe_leader_drops_uncommitted_tail, "a leader never deletes its own entries"},
      {"figure8", &O::unsafe_commit_previous_term, "commit by counting replicas only in the current term (Figure 8)"},
      {"config", &O::unsafe_config_change_before_noop, "no membership change before the leader commits in its term"},
      {"config-concurrent", &O::unsafe_concurrent_config_change, "one membership change at a time"},
      {"config-truncate", &O::unsafe_keep_config_on_truncate, "a truncated configuration entry is undone"},
  };
  return *switches;
}

const UnsafeSwitch* FindUnsafeSwitch(std::string_view name) {
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

std::string ReproCommand(uint64_t seed, std::string_view unsafe) {
  return absl::StrCat("bazel run //tests/raft_sim:raft_sim -- --seed ", seed, unsafe.empty() ? "" : " --unsafe ",
                      std::string(unsafe), " --verbose");
}

std::string_view UnsafeName(const raft::RaftOptions& unsafe) {
  for (const UnsafeSwitch& u : UnsafeSwitches()) {
    if (unsafe.*u.field) return u.name;
  }
  return "";
}

}  // namespace muster::raft_sim

namespace muster::raft_sim {

SimCluster::SimCluster(uint64_t seed, int servers, raft::RaftOptions options, uint64_t snapshot_every, int members)
    : sim_(std::make_unique<sim::Simulator>(seed)) {
  raft::KvMachineOptions opts;
  opts.raft = options;
  opts.snapshot_every = snapshot_every;
  for (int i = 1; i <= (members > 0 ? members : servers); ++i) {
    raft::pb::Server* s = opts.bootstrap.add_servers();
    s->set_id(i);
    s->set_address(absl::StrCat("n", i));
    s->set_voter(true);
  }
  sim_->set_step_observer([this](NodeId id, const Input& in, const Effects& fx) {
    checker_.OnStep(id, in, fx, machine(id), sim_->now());
  });
  for (int i = 1; i <= servers; ++i) ids_.push_back(sim_->AddNode(raft::KvMachineFactory(opts)));
}

SimCluster::~SimCluster() = default;

sim::Simulator& SimCluster::sim() { return *sim_; }

raft::KvMachine* SimCluster::machine(NodeId id) { return dynamic_cast<raft::KvMachine*>(sim_->machine(id)); }

NodeId SimCluster::Leader() {
  NodeId best;
  uint64_t term = 0;
  for (NodeId n : ids_) {
    raft::KvMachine* m = machine(n);
    if (m != nullptr && m->raft().role() == raft::Role::kLeader && m->raft().term() >= term) {
      best = n;
      term = m->raft().term();
    }
  }
  return best;
}

NodeId SimCluster::AwaitLeader(Duration budget) {
  NodeId found;
  sim_->RunUntil(
      [&] {
        found = Leader();
        return found.valid() && machine(found)->raft().CommittedOwnTerm();
      },
      budget);
  return found.valid() && machine(found)->raft().CommittedOwnTerm() ? found : NodeId{};
}

bool SimCluster::Put(NodeId node, const std::string& body, Duration budget) {
  // Shared: the answer may come after the budget, when this call has returned.
  auto acked = std::make_shared<bool>(false);
  sim_->Request(node, "put", body, [this, body, acked](const Response& r) {
    if (r.status.ok()) {
      checker_.OnAck(std::stoull(r.body), body, sim_->now());
      *acked = true;
    }
  });
  sim_->RunUntil([&] { return *acked; }, budget);
  return *acked;
}

void SimCluster::Crash(NodeId id) {
  checker_.OnCrash(id);
  sim_->Kill(id);
}

void SimCluster::Restart(NodeId id) {
  sim_->Restart(id);
  if (raft::KvMachine* m = machine(id)) checker_.OnRestart(id, m, sim_->now());
}

}  // namespace muster::raft_sim
