#include "tests/agent_sim/agent_run.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "sim/checkers/stale_read_checker.h"
#include "tests/agent_sim/workload_events.h"
#include "tests/agent_sim/workload_lock.h"
#include "tests/agent_sim/workload_register.h"

namespace muster::agent_sim {

// Captures one agent's log lines (and prints them with AGENT_SIM_LOG=1 or --verbose).
class AgentRun::NodeLog final : public LogSink {
 public:
  NodeLog(AgentRun* run, int index) : run_(run), index_(index) {}
  void Write(Time now, LogLevel level, std::string_view component, std::string_view message) override {
    if (run_->verbose_) {
      std::fprintf(stderr, "%s s%d [%s] %.*s: %.*s\n", absl::FormatDuration(now - SimEpoch()).c_str(), index_,
                   std::string(LogLevelName(level)).c_str(), static_cast<int>(component.size()), component.data(),
                   static_cast<int>(message.size()), message.data());
    }
    if (run_->lines_.size() >= kLogLinesKeptMax) {
      run_->lines_dropped_++;
      return;
    }
    run_->lines_.emplace_back(index_, absl::StrCat(std::string(component), ": ", std::string(message)));
  }

 private:
  AgentRun* run_;
  int index_;
};

AgentRun::AgentRun(uint64_t seed, std::string repro, bool verbose)
    : seed_(seed),
      verbose_(verbose || std::getenv("AGENT_SIM_LOG") != nullptr),
      sim_(seed),
      rng_(seed ^ 0x5eed0a6e47ull),
      checker_(seed, std::move(repro)),
      observers_(sim_, checker_, kRunStepsMax) {
  observers_.Add([this](NodeId id, const Input& input, const Effects& effects) {
    checker_.OnStep(id, input, effects, static_cast<agent::AgentMachine*>(sim_.machine(id)), sim_.now());
  });
  sim_.After(kLogMatchingInterval, [this] { CheckLogMatchingEvery(); });
  sim_.set_process_runner([this](NodeId id, const ProcessStart& start) {
    for (const auto& observer : process_observers_) observer(id, start);
    return sim::Simulator::HealthyEnd(start);
  });
}

void AgentRun::CheckLogMatchingEvery() {
  std::vector<std::pair<NodeId, const agent::AgentMachine*>> servers;
  for (int i : up_indexes()) {
    if (agent(i)->raft() != nullptr) servers.emplace_back(node(i), agent(i));
  }
  checker_.CheckLogMatching(servers, sim_.now());
  if (!checker_.failed()) sim_.After(log_matching_interval_, [this] { CheckLogMatchingEvery(); });
}

AgentRun::~AgentRun() = default;

NodeId AgentRun::Add(const AgentSpec& spec, const std::function<void(agent::AgentMachineOptions&)>& tweak) {
  auto options = std::make_shared<agent::AgentMachineOptions>(SimAgentOptions(spec));
  options->config.event_handlers.push_back(absl::StrCat("user:", kSimEventName, "=", kSimEventHandler));
  if (tweak) tweak(*options);
  options_[spec.index] = options;
  auto log = std::make_unique<NodeLog>(this, spec.index);
  NodeLog* sink = log.get();
  logs_[spec.index] = std::move(log);
  MachineFactory factory = [options, sink](const MachineContext& ctx) -> std::unique_ptr<Machine> {
    MachineContext own = ctx;
    own.log = sink;
    return std::make_unique<agent::AgentMachine>(own, *options);
  };
  std::array<Address, kEndpointCount> endpoints;
  endpoints[static_cast<int>(Endpoint::kRpc)] = RpcAddress(spec.index);
  if (spec.server) endpoints[static_cast<int>(Endpoint::kWan)] = absl::StrCat("n", spec.index, ":8302");
  const NodeId id = sim_.AddNode(std::move(factory), LanAddress(spec.index), endpoints);
  nodes_[spec.index] = id;
  for (const auto& w : workloads_) w->OnUp(spec.index);
  return id;
}

agent::AgentMachine* AgentRun::agent(int index) {
  if (!up(index)) return nullptr;
  return static_cast<agent::AgentMachine*>(sim_.machine(node(index)));
}

std::vector<int> AgentRun::indexes() const {
  std::vector<int> out;
  for (const auto& [i, id] : nodes_) out.push_back(i);
  return out;
}

std::vector<int> AgentRun::up_indexes() const {
  std::vector<int> out;
  for (const auto& [i, id] : nodes_) {
    if (sim_.IsUp(id)) out.push_back(i);
  }
  return out;
}

void AgentRun::Kill(int index, bool torn) {
  const NodeId id = node(index);
  if (!sim_.IsUp(id)) return;
  faults_.crashes++;
  if (torn && sim_.disk(id).unsynced_writes() > 0) faults_.torn_crashes++;
  checker_.OnCrash(id);
  AbandonRequestsTo(index);
  sim_.Kill(id, torn);
  for (const auto& w : workloads_) w->OnDown(index);
}

void AgentRun::Restart(int index) {
  const NodeId id = node(index);
  if (sim_.IsUp(id)) return;
  sim_.Restart(id);
  for (const auto& w : workloads_) w->OnUp(index);
}

void AgentRun::RestartWiped(int index) {
  const NodeId id = node(index);
  faults_.wipes++;
  if (sim_.IsUp(id)) {
    checker_.OnCrash(id);
    AbandonRequestsTo(index);
    for (const auto& w : workloads_) w->OnDown(index);
  }
  sim_.RestartWiped(id);
  for (const auto& w : workloads_) w->OnUp(index);
}

void AgentRun::Pause(int index, Duration how_long) {
  const NodeId id = node(index);
  if (!sim_.IsUp(id)) return;
  faults_.pauses++;
  pause_max_ = std::max(pause_max_, how_long);
  sim_.Pause(id, how_long);
}

std::vector<int> AgentRun::Leaders() {
  std::vector<int> out;
  for (int i : up_indexes()) {
    const raft::Raft* r = agent(i)->raft();
    if (r != nullptr && r->role() == raft::Role::kLeader) out.push_back(i);
  }
  return out;
}

std::optional<int> AgentRun::SteadyLeader() {
  std::vector<int> leaders = Leaders();
  if (leaders.size() != 1) return std::nullopt;
  const raft::Raft* r = agent(leaders[0])->raft();
  if (!r->CommittedOwnTerm()) return std::nullopt;
  return leaders[0];
}

void AgentRun::StartWorkload(Duration period, std::vector<int> targets) {
  targets_ = std::move(targets);
  if (workload_on_) return;
  workload_on_ = true;
  sim_.After(period, [this, period] { WorkloadTick(period); });
  for (int w = 0; w < kWatchers; ++w) {
    if (!watching_[w]) Watch(w, 0);
  }
}

// One blocking query of watcher `w`: keys under the workload's prefix, from a random server
// up, in the default or the consistent mode, with ?index = what it was last given. Across
// leader changes the index it is given must never go backwards (what Consul's clients
// assume: they only reset when it does).
void AgentRun::Watch(int w, uint64_t last_index) {
  if (!workload_on_) {
    watching_[w] = false;
    return;
  }
  std::vector<int> candidates;
  for (int i : indexes()) {
    if (up(i) && (through_clients_ || agent(i)->raft() != nullptr)) candidates.push_back(i);
  }
  if (candidates.empty()) {
    sim_.After(absl::Milliseconds(100), [this, w, last_index] { Watch(w, last_index); });
    return;
  }
  const int to = candidates[rng_.Uniform(candidates.size())];
  const std::string mode = rng_.Bernoulli(0.5) ? "" : "consistent";
  proto::agent::Call call;
  call.set_key(watch_prefix_);
  call.set_keys(true);
  call.set_consistency(mode);
  // Half of them blocking on the last index, half plain reads: a plain read that starts after
  // an answer was received must not answer older either (reads are linearizable), and it is
  // what shows a new leader answering before it caught up.
  const bool blocking = rng_.Bernoulli(0.5);
  call.set_min_index(blocking ? last_index : 0);
  call.set_wait_ms(absl::ToInt64Milliseconds(kWatchWait));
  watching_[w] = true;
  const uint64_t seq = ++watch_seq_[w];
  // A request to a server that crashes is never answered: the watcher goes on without it.
  sim_.After(absl::Seconds(30), [this, w, seq, last_index] {
    if (watch_seq_[w] == seq) Watch(w, last_index);
  });
  sim_.Request(node(to), "kv.get", call.SerializeAsString(), [this, w, seq, last_index, to, mode, blocking](const Response& resp) {
    if (watch_seq_[w] != seq) return;  // the watchdog went on without it
    watch_seq_[w]++;
    proto::agent::Reply reply;
    reply.ParseFromString(resp.body);
    uint64_t next = last_index;
    if (resp.status.ok() || resp.status.code() == absl::StatusCode::kNotFound) {
      watch_answers_++;
      if (reply.index() < last_index) {
        checker_.Fail(sim_.now(), absl::StrCat(blocking ? "blocking " : "", "kv.get ", watch_prefix_, " ?keys consistency=\"", mode, "\" through s", to,
                                               ": X-Consul-Index went backwards from ", last_index, " to ",
                                               reply.index()));
        return;
      }
      if (reply.index() > last_index) watch_index_moves_++;
      next = reply.index();
    }
    // An error (no leader, a timeout): ask again a little later with the same index.
    const bool served = resp.status.ok() || resp.status.code() == absl::StatusCode::kNotFound;
    const Duration pause = !served ? absl::Milliseconds(100) : blocking ? absl::Milliseconds(1) : absl::Milliseconds(20);
    sim_.After(pause, [this, w, next] { Watch(w, next); });
  });
}

void AgentRun::WorkloadTick(Duration period) {
  if (!workload_on_) return;
  sim_.After(period, [this, period] { WorkloadTick(period); });
  if (in_flight_ >= kWorkloadInFlightMax) return;
  std::vector<int> candidates;
  for (int i : targets_.empty() ? indexes() : targets_) {
    if (up(i) && (through_clients_ || agent(i)->raft() != nullptr)) candidates.push_back(i);
  }
  if (candidates.empty()) return;
  const int to = candidates[rng_.Uniform(candidates.size())];
  bool cas = false;
  if (workloads_.empty()) {
    cas = cas_share_ > 0 && rng_.Bernoulli(cas_share_);
  } else {
    // One draw picks the tick's share: a workload's, cas, else kv.
    double draw = rng_.UniformDouble();
    for (size_t w = 0; w < workloads_.size(); ++w) {
      if (draw < workload_shares_[w]) return workloads_[w]->Tick(to);
      draw -= workload_shares_[w];
    }
    cas = draw < cas_share_;
  }
  if (cas) {
    CasRound(to);
  } else if (keys_written_.empty() || rng_.Bernoulli(0.6)) {
    const uint64_t n = next_key_++;
    Put(to, absl::StrCat("k/", n), absl::StrCat("v", n, "-", seed_));
  } else {
    Get(to);
  }
}

void AgentRun::Put(int index, const std::string& key, const std::string& value, std::shared_ptr<bool> acked) {
  proto::agent::Call call;
  call.set_key(key);
  call.set_value(value);
  value_of_[key] = value;
  keys_written_.push_back(key);
  puts_sent_++;
  in_flight_++;
  const raft::Raft* r = agent(index)->raft();
  if (r == nullptr || r->role() != raft::Role::kLeader) forwarded_sent_++;
  const sim::checkers::KvOpId op = history_.InvokePut(static_cast<int32_t>(history_.size()), key, value, sim_.now());
  const uint64_t ticket = Track(index, op);
  sim_.Request(node(index), "kv.put", call.SerializeAsString(), [this, key, value, acked, op, ticket](const Response& resp) {
    if (!Untrack(ticket)) return;
    in_flight_--;
    proto::agent::Reply reply;
    reply.ParseFromString(resp.body);
    // An error does not say whether the put applied (it may commit after a timeout).
    if (!resp.status.ok()) {
      history_.Unknown(op);
      return;
    }
    history_.CompleteWrite(op, sim_.now(), reply.body() == "true");
    if (reply.body() != "true") return;
    puts_acked_++;
    acked_keys_[key] = true;
    if (acked != nullptr) *acked = true;
    checker_.OnAcknowledgedPut(key, value, reply.index(), sim_.now());
  });
}

void AgentRun::Get(int index) {
  const std::string key = keys_written_[rng_.Uniform(keys_written_.size())];
  static constexpr const char* kModes[] = {"", "consistent", "stale"};
  Get(index, key, read_mode_.has_value() ? *read_mode_ : kModes[rng_.Uniform(3)]);
}

void AgentRun::Get(int index, const std::string& key, const std::string& mode) {
  proto::agent::Call call;
  call.set_key(key);
  call.set_raw(true);
  call.set_consistency(mode);
  // A read that starts after its key's put was acknowledged must see it, unless stale.
  const bool must_see = mode != "stale" && acked_keys_.contains(key);
  reads_sent_++;
  in_flight_++;
  const raft::Raft* r = agent(index)->raft();
  if (mode != "stale" && (r == nullptr || r->role() != raft::Role::kLeader)) forwarded_sent_++;
  const int from = index;
  const sim::checkers::ReadMode read_mode = mode == "consistent" ? sim::checkers::ReadMode::kConsistent
                                            : mode == "stale"    ? sim::checkers::ReadMode::kStale
                                                                 : sim::checkers::ReadMode::kDefault;
  const sim::checkers::KvOpId op = history_.InvokeGet(static_cast<int32_t>(history_.size()), key, read_mode, sim_.now());
  const uint64_t ticket = Track(index, op);
  sim_.Request(node(index), "kv.get", call.SerializeAsString(),
               [this, key, mode, must_see, from, op, ticket](const Response& resp) {
                 if (!Untrack(ticket)) return;
                 in_flight_--;
                 proto::agent::Reply reply;
                 reply.ParseFromString(resp.body);
                 if (resp.status.ok()) {
                   history_.CompleteGet(op, sim_.now(), reply.body());
                 } else if (resp.status.code() == absl::StatusCode::kNotFound) {
                   history_.CompleteGet(op, sim_.now(), std::nullopt);
                 } else {
                   history_.Unknown(op);
                 }
                 if (mode != "consistent" && history_.op(op).status == sim::checkers::KvOpStatus::kOk) {
                   last_contact_of_[op] = absl::Milliseconds(reply.last_contact_ms());
                 }
                 const std::string how = absl::StrCat("kv.get ", key, " consistency=\"", mode, "\" through s", from);
                 if (resp.status.ok()) {
                   reads_ok_++;
                   if (reply.body() != value_of_[key]) {
                     checker_.Fail(sim_.now(), absl::StrCat(how, " read \"", reply.body(),
                                                            "\", a value never written there"));
                   }
                 } else if (resp.status.code() == absl::StatusCode::kNotFound) {
                   reads_ok_++;
                   if (must_see) {
                     checker_.Fail(sim_.now(), absl::StrCat(how, " found nothing, but its put was acknowledged "
                                                            "before the read was sent"));
                   }
                 }
               });
}

// A consistent read of one contended key, then a cas on the ModifyIndex it returned (cas=0
// when absent) with a fresh value; the cas's expected value is the one read (values are
// unique, so the two name the same write).
void AgentRun::CasRound(int index) {
  const std::string key = absl::StrCat("c/", rng_.Uniform(kCasKeys));
  proto::agent::Call call;
  call.set_key(key);
  call.set_consistency("consistent");
  in_flight_++;
  const sim::checkers::KvOpId read_op = history_.InvokeGet(static_cast<int32_t>(history_.size()), key,
                                                           sim::checkers::ReadMode::kConsistent, sim_.now());
  const uint64_t read_ticket = Track(index, read_op);
  sim_.Request(node(index), "kv.get", call.SerializeAsString(), [this, index, key, read_op, read_ticket](const Response& resp) {
    if (!Untrack(read_ticket)) return;
    in_flight_--;
    std::optional<std::string> read;
    uint64_t modify_index = 0;
    if (resp.status.ok()) {
      proto::agent::Reply reply;
      reply.ParseFromString(resp.body);
      const nlohmann::json entries = nlohmann::json::parse(reply.body(), nullptr, false);
      std::string value;
      if (!entries.is_array() || entries.size() != 1 || !entries[0].contains("ModifyIndex") ||
          !absl::Base64Unescape(entries[0].value("Value", ""), &value)) {
        checker_.Fail(sim_.now(), absl::StrCat("kv.get ", key, " through s", index, " answered an entry that does not parse: ",
                                               reply.body()));
        return;
      }
      read = value;
      modify_index = entries[0]["ModifyIndex"].get<uint64_t>();
    } else if (resp.status.code() != absl::StatusCode::kNotFound) {
      history_.Unknown(read_op);
      return;
    }
    history_.CompleteGet(read_op, sim_.now(), read);
    if (!workload_on_ || !up(index)) return;
    const std::string value = absl::StrCat("c", next_cas_value_++, "-", seed_);
    proto::agent::Call cas;
    cas.set_key(key);
    cas.set_value(value);
    cas.set_has_cas(true);
    cas.set_cas(modify_index);
    cas_sent_++;
    in_flight_++;
    const sim::checkers::KvOpId op = history_.InvokeCas(static_cast<int32_t>(history_.size()), key, read, value, sim_.now());
    const uint64_t ticket = Track(index, op);
    sim_.Request(node(index), "kv.put", cas.SerializeAsString(), [this, op, ticket](const Response& resp) {
      if (!Untrack(ticket)) return;
      in_flight_--;
      if (!resp.status.ok()) {
        history_.Unknown(op);
        return;
      }
      proto::agent::Reply reply;
      reply.ParseFromString(resp.body);
      history_.CompleteWrite(op, sim_.now(), reply.body() == "true");
      if (reply.body() == "true") cas_applied_++;
    });
  });
}

uint64_t AgentRun::Track(int index, sim::checkers::KvOpId op) {
  const uint64_t ticket = next_ticket_++;
  pending_ops_[ticket] = PendingOp{index, op};
  return ticket;
}

bool AgentRun::Untrack(uint64_t ticket) { return pending_ops_.erase(ticket) > 0; }

void AgentRun::AbandonRequestsTo(int index) {
  for (auto it = pending_ops_.begin(); it != pending_ops_.end();) {
    if (it->second.node != index) {
      ++it;
      continue;
    }
    history_.Unknown(it->second.op);
    in_flight_--;
    it = pending_ops_.erase(it);
  }
}

void AgentRun::CheckLinearizable() {
  linearizability_ = sim::checkers::CheckLinearizable(history_);
  if (linearizability_.violation()) {
    checker_.Fail(sim_.now(), absl::StrCat("linearizability: key ", linearizability_.key,
                                           " has no linearization (Wing & Gong with Lowe's memoization):\n",
                                           linearizability_.report));
  }
}

bool AgentRun::RunUntil(const std::function<bool()>& done, Duration budget) {
  const Time deadline = sim_.now() + budget;
  while (!checker_.failed()) {
    if (done()) return true;
    if (sim_.now() >= deadline || !sim_.Step()) return false;
  }
  return false;
}

bool AgentRun::Settle(Duration budget) {
  sim_.network().Heal();
  sim_.network().ClearLinkOverrides();
  sim_.network().SetDefaultLink(sim::LinkConfig());
  StopWorkload();
  auto last_put = std::make_shared<bool>(false);
  bool put_sent = false;
  Time put_sent_at;
  std::string missing;
  auto settled = [&]() {
    std::optional<int> leader = SteadyLeader();
    if (!leader.has_value()) {
      missing = absl::StrCat("no steady leader (leaders up: ", Leaders().size(), ")");
      return false;
    }
    const raft::Raft& l = *agent(*leader)->raft();
    if (!put_sent || (!*last_put && sim_.now() - put_sent_at > absl::Seconds(10))) {
      put_sent = true;
      put_sent_at = sim_.now();
      Put(*leader, absl::StrCat("settle/", absl::ToInt64Milliseconds(sim_.now() - SimEpoch())), "done", last_put);
    }
    if (!*last_put) {
      missing = "the settling put is not acknowledged";
      return false;
    }
    const uint64_t leader_index = agent(*leader)->fsm().store().last_index();
    for (int i : up_indexes()) {
      const raft::Raft* r = agent(i)->raft();
      if (r == nullptr) continue;
      bool member = false;
      for (const raft::pb::Server& s : l.configuration().servers()) member |= s.id() == r->id().value;
      if (!member) {
        missing = absl::StrCat("s", i, " is not in s", *leader, "'s configuration");
        return false;
      }
      if (agent(i)->fsm().store().last_index() != leader_index) {
        missing = absl::StrCat("s", i, " at store index ", agent(i)->fsm().store().last_index(), ", leader s",
                               *leader, " at ", leader_index);
        return false;
      }
    }
    return true;
  };
  if (!RunUntil(settled, budget)) {
    if (!checker_.failed()) {
      checker_.Fail(sim_.now(), absl::StrCat("liveness: not settled within ", absl::FormatDuration(budget),
                                             " after healing: ", missing));
    }
    return false;
  }
  // Quiet for longer than any request may be parked (held for a leader or forwarded: the
  // rpc_timeout), so every request to an agent up has had its answer.
  Duration parked_max;
  for (int i : up_indexes()) parked_max = std::max(parked_max, options(i).rpc_timeout);
  // A watcher's blocking query forwarded just before the workload stopped waits out its ?wait
  // (and jitter) at the leader on top of the forward's own timeout.
  parked_max += kWatchWait * 17 / 16;
  // A client's read whose forward timed out goes once more, to the next server (core/agent's
  // ClientForwardFailed), with a timeout of its own: twice as long.
  if (through_clients_) parked_max *= 2;
  const Time quiet_end = sim_.now() + parked_max + absl::Seconds(1);
  RunUntil([] { return false; }, quiet_end - sim_.now());
  if (checker_.failed()) return false;
  // Whatever happened meanwhile (a restart a scenario scheduled), everyone caught up again.
  if (!RunUntil(settled, budget)) {
    if (!checker_.failed()) {
      checker_.Fail(sim_.now(), absl::StrCat("liveness: not settled again within ", absl::FormatDuration(budget),
                                             " after the quiet stretch: ", missing));
    }
    return false;
  }
  std::vector<std::pair<NodeId, const agent::AgentMachine*>> servers;
  std::vector<NodeId> up_nodes;
  for (int i : up_indexes()) {
    up_nodes.push_back(node(i));
    if (agent(i)->raft() != nullptr) servers.emplace_back(node(i), agent(i));
  }
  // Settled, every server is at the leader's store index: one state, one hash.
  for (size_t k = 1; k < servers.size() && !checker_.failed(); ++k) {
    const uint64_t a = servers[0].second->fsm().ContentHash(), b = servers[k].second->fsm().ContentHash();
    if (a != b) {
      checker_.Fail(sim_.now(), absl::StrCat("state hash after settling: n", servers[0].first.value, " and n",
                                             servers[k].first.value, " differ at store index ",
                                             servers[0].second->fsm().store().last_index()));
    }
  }
  checker_.CheckAcknowledgedPresent(servers, sim_.now());
  checker_.CheckRequestsAnswered(up_nodes, absl::ZeroDuration(), sim_.now());
  if (!checker_.failed()) CheckLinearizable();
  if (!checker_.failed()) JudgeWorkloads();
  return !checker_.failed();
}

void AgentRun::set_workload_shares(const WorkloadShares& shares) {
  cas_share_ = shares.cas;
  const auto set = [this](const char* name, double share, const std::function<std::unique_ptr<Workload>()>& make) {
    for (size_t w = 0; w < workloads_.size(); ++w) {
      if (std::string_view(workloads_[w]->name()) == name) {
        workload_shares_[w] = share;
        return;
      }
    }
    if (share > 0) AddWorkload(make(), share);
  };
  set("register", shares.registry, [this] { return std::make_unique<RegisterWorkload>(*this); });
  set("lock", shares.lock, [this] { return std::make_unique<LockWorkload>(*this); });
  set("events", shares.events, [this] { return std::make_unique<EventWorkload>(*this); });
}

void AgentRun::AddWorkload(std::unique_ptr<Workload> workload, double share) {
  workloads_.push_back(std::move(workload));
  workload_shares_.push_back(share);
  for (int i : indexes()) workloads_.back()->OnUp(i);
}

int AgentRun::index_of(NodeId id) const {
  for (const auto& [i, n] : nodes_) {
    if (n == id) return i;
  }
  return -1;
}

void AgentRun::JudgeWorkloads() {
  // Stale and default-mode reads, each by the staleness its server stated: a follower's
  // last contact with the leader; a leader says 0, yet one paused or cut off may not know it
  // was deposed, so the slack grows by the longest pause.
  const Duration slack = kStaleReadSlack + pause_max_;
  for (const auto& [op, last_contact] : last_contact_of_) {
    history_.SetStalenessBound(op, last_contact + slack);
    last_contact_max_ = std::max(last_contact_max_, last_contact);
  }
  stale_reads_checked_ = static_cast<int64_t>(last_contact_of_.size());
  sim::checkers::CheckResult stale = sim::checkers::CheckStaleReads(history_);
  stale_verdict_ = stale.ok() ? "ok" : absl::StrCat(stale.violation_count, " violations");
  if (!stale.ok()) {
    checker_.Fail(sim_.now(), absl::StrCat("stale reads beyond X-Consul-LastContact + ", absl::FormatDuration(slack),
                                           ": ", stale.Report()));
    return;
  }
  // Gossip: every live agent's LAN pool lists exactly the agents up, alive.
  const Time settled_at = sim_.now();
  std::string disagreement;
  auto agreed = [&] {
    std::set<std::string> up;
    for (int i : up_indexes()) up.insert(NodeName(i));
    for (int i : up_indexes()) {
      std::set<std::string> alive;
      for (const auto& [name, m] : agent(i)->lan().members()) {
        if (m.status == gossip::MemberStatus::kAlive) alive.insert(name);
      }
      if (alive != up) {
        disagreement = absl::StrCat(NodeName(i), " sees ", alive.size(), " alive of the ", up.size(), " up");
        return false;
      }
    }
    return true;
  };
  if (!RunUntil(agreed, kMembershipAgreementBound)) {
    members_verdict_ = absl::StrCat("not within ", absl::FormatDuration(kMembershipAgreementBound));
    if (!checker_.failed()) {
      checker_.Fail(sim_.now(), absl::StrCat("gossip membership: not agreed within ", absl::FormatDuration(kMembershipAgreementBound),
                                             " of settling: ", disagreement));
    }
    return;
  }
  members_agreed_after_ = sim_.now() - settled_at;
  members_verdict_ = "ok";
  for (const auto& w : workloads_) {
    if (checker_.failed()) return;
    w->Judge();
  }
}

std::string AgentRun::CheckedLines() const {
  std::string out = absl::StrCat(
      "  stale and default-mode reads within X-Consul-LastContact + ", absl::FormatDuration(kStaleReadSlack + pause_max_),
      " (stale_read_checker): ", stale_reads_checked_, " reads (largest last contact ",
      absl::FormatDuration(last_contact_max_), "), ", stale_verdict_, "\n",
      "  gossip membership agrees after settling (every live agent's LAN pool: the agents up, alive; bound ",
      absl::FormatDuration(kMembershipAgreementBound), "): ", members_verdict_,
      members_agreed_after_.has_value() ? absl::StrCat(", ", absl::FormatDuration(*members_agreed_after_), " after settling")
                                        : "",
      "\n");
  for (const auto& w : workloads_) absl::StrAppend(&out, "  ", w->Checked(), "\n");
  return out;
}

int AgentRun::CountLog(int index, std::string_view text) const {
  int n = 0;
  for (const auto& [i, line] : lines_) {
    if ((index == 0 || i == index) && line.find(text) != std::string::npos) n++;
  }
  return n;
}

std::string AgentRun::Describe() const {
  sim::testing::FaultCounts f = faults_;
  f.TakeNetworkStats(sim_);
  std::string notes;
  for (const auto& [name, d] : notes_) absl::StrAppend(&notes, " ", name, "=", absl::FormatDuration(d));
  return absl::StrCat("agents=", nodes_.size(), notes, " puts=", puts_acked_, "/", puts_sent_, " reads=", reads_ok_, "/",
                      reads_sent_, " watch=", watch_index_moves_, "/", watch_answers_, " forwarded=", forwarded_sent_,
                      cas_sent_ > 0 ? absl::StrCat(" cas=", cas_applied_, "/", cas_sent_) : "",
                      " history=", history_.size(), " leaders=", checker_.leaders_elected(),
                      " term=", checker_.max_term(), " applied=", checker_.applied_max(),
                      " hashes=", checker_.hashes_compared(), " snap_installs=", checker_.snapshot_installs(),
                      " snap_recoveries=", checker_.snapshot_recoveries(), " t=",
                      absl::FormatDuration(sim_.now() - SimEpoch()), " steps=", observers_.steps(), " faults: ", f.Describe());
}

}  // namespace muster::agent_sim
