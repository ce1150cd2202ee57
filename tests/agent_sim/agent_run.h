// One simulated run of whole agents, for the scenarios: the simulator, the checker after every
// step, each agent's options held per node (a restart reads them again, so a scenario can
// restart a server with other flags), per-node log capture, the kill/restart faults with
// their counts, and a workload of kv.put / kv.get through random servers (followers included,
// so forwarding is exercised) whose answers feed the acknowledged-write and read checks, and,
// with every other kv request, a history (sim/checkers/kv_history.h) checked for
// linearizability when the run settles.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/agent/agent_machine.h"
#include "sim/checkers/kv_history.h"
#include "sim/checkers/linearizability.h"
#include "sim/simulator.h"
#include "sim/testing/faults.h"
#include "sim/testing/step_observers.h"
#include "tests/agent_sim/agent_checker.h"
#include "tests/agent_sim/agent_cluster.h"
#include "tests/agent_sim/workload.h"

namespace muster::agent_sim {

// Steps past which a run has stopped making sense (a message storm): the checker says so.
// The scenarios take at most about 12,000 steps per seed (seeds 1-200 of each); over sixteen
// times that is a storm.
inline constexpr uint64_t kRunStepsMax = 200'000;
// Workload requests in flight at once; past it a workload tick sends nothing. A request to a
// node that crashes is never answered: it leaves the count (as maybe-happened in the history)
// when the node is killed.
inline constexpr size_t kWorkloadInFlightMax = 8;
// The keys the CAS share of the workload contends on (read, then cas on the ModifyIndex read).
inline constexpr int kCasKeys = 4;
// Log lines kept per run (for the scenarios' log assertions); past it, only counted.
inline constexpr size_t kLogLinesKeptMax = 200'000;
// How often the servers' logs are compared pairwise (AgentChecker::CheckLogMatching).
inline constexpr Duration kLogMatchingInterval = absl::Milliseconds(250);
// Blocking-query watchers the workload runs beside its puts and reads, and the ?wait each
// asks for: each watches the workload's key prefix, half the time blocking with ?index = the
// last index it was given, half with plain reads, and checks the index never goes backwards
// (default and consistent reads; stale ones may come from a server behind).
inline constexpr int kWatchers = 3;
inline constexpr Duration kWatchWait = absl::Seconds(1);
// Every agent runs this handler on user events named kSimEventName (the events workload
// fires them; the handler runs are its deliveries, seen by the simulated process runner).
inline constexpr char kSimEventName[] = "sim-wl";
inline constexpr char kSimEventHandler[] = "sim-wl-event-handler";
// Stale and default-mode reads are judged (stale_read_checker.h) by the staleness their
// server stated, X-Consul-LastContact (0 on a leader), plus this: one heartbeat and its
// replication, a leader's lease after it was cut off, and the delay of the answer.
inline constexpr Duration kStaleReadSlack = absl::Seconds(1);
// After settling, every live agent's LAN members list the same alive set (every agent up)
// within this.
inline constexpr Duration kMembershipAgreementBound = absl::Seconds(30);

struct WorkloadShares {
  double cas = 0;
  double registry = 0;  // register
  double lock = 0;
  double events = 0;
};

class AgentRun {
 public:
  // `repro` is the command line printed with a failure.
  AgentRun(uint64_t seed, std::string repro, bool verbose);
  ~AgentRun();
  AgentRun(const AgentRun&) = delete;
  AgentRun& operator=(const AgentRun&) = delete;

  sim::Simulator& sim() { return sim_; }
  AgentChecker& checker() { return checker_; }
  Rng& rng() { return rng_; }
  sim::testing::FaultCounts& faults() { return faults_; }
  // How often the servers' logs are compared pairwise from the next comparison on (default
  // kLogMatchingInterval; each is a pass over every log).
  void set_log_matching_interval(Duration interval) { log_matching_interval_ = interval; }
  // Another check after every step (after the checker's).
  void AddObserver(sim::Simulator::StepObserver observer) { observers_.Add(std::move(observer)); }

  // Adds agent `spec.index` now, with SimAgentOptions(spec) then `tweak` (may be empty).
  NodeId Add(const AgentSpec& spec, const std::function<void(agent::AgentMachineOptions&)>& tweak = {});
  // The options agent `index` starts with next time (a Restart builds it from these).
  agent::AgentMachineOptions& options(int index) { return *options_.at(index); }
  NodeId node(int index) const { return nodes_.at(index); }
  bool added(int index) const { return nodes_.contains(index); }
  bool up(int index) const { return added(index) && sim_.IsUp(node(index)); }
  agent::AgentMachine* agent(int index);  // null while down
  // Agents added, by index; the ones up.
  std::vector<int> indexes() const;
  std::vector<int> up_indexes() const;

  // SIGKILL (torn: the oldest unsynced write is torn, counted if there was one) and restart
  // from the disk.
  void Kill(int index, bool torn = false);
  void Restart(int index);
  // Kill, the data dir gone, restart (outside the fault model the checks promise to survive
  // when it hits a majority: the mutation check uses it to show the final checks look).
  void RestartWiped(int index);
  // The agent handles nothing for `how_long` (a stalled process); counted.
  void Pause(int index, Duration how_long);

  // The agent indexes that lead (raft's view) among those up.
  std::vector<int> Leaders();
  // The one leader's index when exactly one agent up leads and has committed its term.
  std::optional<int> SteadyLeader();

  // Workload: every `period`, while on, one request to a random agent up among `targets`
  // (empty: all): kv.put of a fresh key (60%) or kv.get of a key already written with
  // consistency "", "consistent" or "stale".
  void StartWorkload(Duration period, std::vector<int> targets = {});
  // The share of workload ticks that run a CAS round instead (0 by default): a consistent read
  // of one of kCasKeys keys under c/, then a cas on the ModifyIndex it returned, with a fresh
  // value (or cas=0 if the key was absent). Their answers go to the history only (the keys
  // are overwritten, so the put-once checks do not apply).
  void set_cas_share(double share) { cas_share_ = share; }
  // The shares of the workload ticks beside kv puts and reads (the rest): cas rounds, and the
  // workloads of workload_register.h, workload_lock.h and workload_events.h, each created at
  // its first share above 0 (and kept, judged when the run settles, once it exists). They add
  // up to at most 1.
  void set_workload_shares(const WorkloadShares& shares);
  // Another share of the workload ticks, judged when the run settles.
  void AddWorkload(std::unique_ptr<Workload> workload, double share);
  const std::vector<std::unique_ptr<Workload>>& workloads() const { return workloads_; }
  // Sees every process an agent starts (before the simulator's healthy end is returned).
  void AddProcessObserver(std::function<void(NodeId, const ProcessStart&)> observer) {
    process_observers_.push_back(std::move(observer));
  }
  // The agent index of simulator node `id` (-1 if none).
  int index_of(NodeId id) const;
  // The workload's reads in this one consistency mode ("", "consistent" or "stale"; a
  // scenario file's `read=`) instead of a random one of the three (nullopt, the default).
  void set_read_mode(std::optional<std::string> mode) { read_mode_ = std::move(mode); }
  void StopWorkload() { workload_on_ = false; }
  // The prefix the watchers list (default "k/", every key the workload puts: each answer is
  // a pass over all of them, which dominates long runs at high rates).
  void set_watch_prefix(std::string prefix) { watch_prefix_ = std::move(prefix); }
  // The workload and the watchers send through client agents too (their RPCs routed to a
  // server, core/agent/server_router.h), not only through servers (the default).
  void set_through_clients(bool on) { through_clients_ = on; }
  // One put through agent `index`; `acked` says whether it was acknowledged.
  void Put(int index, const std::string& key, const std::string& value, std::shared_ptr<bool> acked = nullptr);
  // One read of `key` (already put) through agent `index` with `consistency`, checked as the
  // workload's are.
  void Get(int index, const std::string& key, const std::string& consistency);

  // The end of every scenario: heal the network, stop the workload, then within `budget`
  // reach one steady leader whose configuration holds every agent up, each caught up with it,
  // and one more put acknowledged; then, after a quiet stretch longer than any request may be
  // parked, the final checks: acknowledged writes on every one of them, every request sent to
  // an agent still up answered. Returns false (after failing the checker) if not reached.
  bool Settle(Duration budget);
  void RunFor(Duration how_long) { RunUntil([] { return false; }, how_long); }
  // Runs until `done` or the checker fails or `budget` passes; true if `done` held.
  bool RunUntil(const std::function<bool()>& done, Duration budget);

  // Every kv request sent (put, get, cas) with its call and answer times, for the
  // linearizability checker; Settle runs it.
  const sim::checkers::KvHistory& history() const { return history_; }
  const sim::checkers::LinearizabilityResult& linearizability() const { return linearizability_; }
  // Runs the linearizability checker over the history now; a violation fails the run with the
  // key's sub-history. (Settle calls it last.)
  void CheckLinearizable();
  // The checks of Settle's end beyond the state hash and linearizability: stale and
  // default-mode reads within their bound, the LAN members agreeing, every workload's judge.
  void JudgeWorkloads();
  // The `checked` lines (each ending in a newline) of the stale reads, the membership
  // agreement and the workloads.
  std::string CheckedLines() const;
  uint64_t cas_sent() const { return cas_sent_; }
  uint64_t cas_applied() const { return cas_applied_; }

  // Log lines of agent `index` (or of any, index 0) containing `text`.
  int CountLog(int index, std::string_view text) const;

  uint64_t puts_sent() const { return puts_sent_; }
  uint64_t watch_answers() const { return watch_answers_; }
  uint64_t watch_index_moves() const { return watch_index_moves_; }
  uint64_t puts_acked() const { return puts_acked_; }
  uint64_t reads_sent() const { return reads_sent_; }
  uint64_t reads_ok() const { return reads_ok_; }
  uint64_t forwarded_sent() const { return forwarded_sent_; }
  // A scenario's own measurement ("new_leader_after"), printed in the summary.
  void Note(const std::string& name, Duration value) { notes_[name] = value; }
  const std::map<std::string, Duration>& notes() const { return notes_; }
  // One line: what the run did (for SeedOutcome::summary).
  std::string Describe() const;

 private:
  class NodeLog;
  void CheckLogMatchingEvery();
  void WorkloadTick(Duration period);
  void Watch(int watcher, uint64_t last_index);
  std::map<int, bool> watching_;     // watcher -> a request of it is out
  std::map<int, uint64_t> watch_seq_;  // watcher -> its latest request (a crash drops answers)
  void Get(int index);  // a random key written, a random mode
  void CasRound(int index);
  // A workload request's history entry while it is out, by request id; `node` is its agent.
  struct PendingOp {
    int node = 0;
    sim::checkers::KvOpId op = 0;
  };
  // Records `op` as sent to `index` now; returns its key in pending_ops_.
  uint64_t Track(int index, sim::checkers::KvOpId op);
  // The answer came: false if it had already been given up (its node crashed).
  bool Untrack(uint64_t ticket);
  // Node `index` is gone: its requests may or may not have happened.
  void AbandonRequestsTo(int index);

  uint64_t seed_;
  bool verbose_;
  // Before sim_: the machines it holds write to these until they are destroyed.
  std::map<int, std::unique_ptr<NodeLog>> logs_;
  std::vector<std::pair<int, std::string>> lines_;
  uint64_t lines_dropped_ = 0;
  sim::Simulator sim_;
  Rng rng_;  // the workload's and the scenario's choices, apart from the simulator's
  AgentChecker checker_;
  sim::testing::StepObservers observers_;
  sim::testing::FaultCounts faults_;
  std::map<int, std::shared_ptr<agent::AgentMachineOptions>> options_;
  std::map<int, NodeId> nodes_;

  bool workload_on_ = false;
  std::vector<int> targets_;
  size_t in_flight_ = 0;
  uint64_t next_key_ = 1;
  std::vector<std::string> keys_written_;  // keys sent in puts, for reads
  std::map<std::string, std::string> value_of_;  // every key's one value
  std::map<std::string, bool> acked_keys_;
  std::map<std::string, Duration> notes_;
  uint64_t puts_sent_ = 0, puts_acked_ = 0, reads_sent_ = 0, reads_ok_ = 0, forwarded_sent_ = 0;
  uint64_t watch_answers_ = 0, watch_index_moves_ = 0;
  double cas_share_ = 0;
  std::optional<std::string> read_mode_;
  bool through_clients_ = false;
  Duration log_matching_interval_ = kLogMatchingInterval;
  std::string watch_prefix_ = "k/";
  uint64_t next_cas_value_ = 1, cas_sent_ = 0, cas_applied_ = 0;
  sim::checkers::KvHistory history_;
  sim::checkers::LinearizabilityResult linearizability_;
  std::vector<std::unique_ptr<Workload>> workloads_;
  std::vector<double> workload_shares_;
  std::vector<std::function<void(NodeId, const ProcessStart&)>> process_observers_;
  std::map<sim::checkers::KvOpId, Duration> last_contact_of_;  // answered non-consistent gets
  Duration pause_max_;
  int64_t stale_reads_checked_ = 0;
  Duration last_contact_max_;
  std::string stale_verdict_ = "not run";
  std::optional<Duration> members_agreed_after_;
  std::string members_verdict_ = "not run";
  std::map<uint64_t, PendingOp> pending_ops_;
  uint64_t next_ticket_ = 1;
};

}  // namespace muster::agent_sim
