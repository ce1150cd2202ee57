// The one executor of schedules (schedule.h) over an AgentRun: a scenario file's, or the `sim`
// generator's, which draws its faults as the run goes and hands each to Execute, so both run
// the same code and a generated run printed as a scenario file replays to the same
// fingerprint. Every action executed is recorded with its time (the printable schedule) and
// logged as an event; the guards of the fault model live here (a wipe only while it cannot
// lose a quorum's data, a torn kill waiting for a write to tear); expectations are polled in
// virtual time and fail the run with their line.
#pragma once

#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/agent_sim/agent_run.h"
#include "tests/agent_sim/schedule.h"

namespace muster::agent_sim {

class ScheduleRunner {
 public:
  // `mutate` (may be empty) applies to every agent's options (an unsafe switch). Events go to
  // `trace` as they happen when it is not null.
  ScheduleRunner(AgentRun& run, const Schedule& schedule, std::function<void(agent::AgentMachineOptions&)> mutate,
                 std::FILE* trace);

  // The schedule's actions at time 0 now, in order; the later ones on timers.
  void Start();
  // Runs `action` now (its `at` is ignored) and records it with the time.
  void Execute(const Action& action);
  // Called when a kill takes effect (a torn kill may wait for a write to tear): the generator
  // draws the downtime and schedules the restart.
  void set_on_kill(std::function<void(int index)> on_kill) { on_kill_ = std::move(on_kill); }

  void SafetyPhase();
  // Faults off, the network healed, every agent down restarted (a wiped one comes back
  // empty), AgentRun::Settle within the schedule's budget.
  void LivenessPhase();

  bool faults_on() const { return faults_on_; }
  bool wipe_pending(int index) const { return wipe_pending_.contains(index) && wipe_pending_.at(index); }
  // What ran, with the times it ran (a generated run's schedule, to print).
  Schedule executed() const;
  std::string LastEvents() const;
  Duration settled_after() const { return settled_after_; }
  int wiped_empty() const { return wiped_empty_; }
  int expectations_met() const { return expectations_met_; }
  int expectations() const { return expectations_; }
  int skipped() const { return skipped_; }
  std::string Name(int index) const;

 private:
  void Event(const std::string& what);
  // The agent `ref` names now: its index, or nullopt (logged) when the leader is wanted and
  // none leads, or the agent is not started.
  std::optional<int> Resolve(const NodeRef& ref, const Action& action);
  bool ResolveGroup(const std::vector<NodeRef>& refs, const Action& action, std::vector<NodeId>* out);
  void StartAgent(const Action& a);
  void Partition(const Action& a);
  void Kill(int victim, KillMode mode);
  void KillNow(int victim, bool torn, bool wipe);
  void FireArmedKill(NodeId id, const Effects& effects);
  bool ConfigurationWhole();
  void Restart(int index);
  void WipeRestart(int index);
  void ClockStep(int index, Duration step);
  void SetLink(const Action& a);
  void Workload(const Action& a);
  void Expect(const Action& a);
  // Polls expectation `a` (started at `since`, with the term then) until it is decided.
  void PollExpectation(Action a, Time since, uint64_t term_then);
  // The expectation's condition now; `why` says what is missing.
  bool Holds(const Action& a, uint64_t term_then, std::string* why);
  uint64_t LeaderTerm();

  AgentRun& run_;
  const Schedule& schedule_;
  std::function<void(agent::AgentMachineOptions&)> mutate_;
  std::FILE* trace_;
  std::function<void(int)> on_kill_;
  std::vector<Action> executed_;
  std::deque<std::string> events_;
  std::map<uint64_t, int> index_of_;  // NodeId value -> agent index
  bool faults_on_ = true;
  std::map<int, bool> wipe_pending_;  // killed, to come back wiped
  std::vector<int> killed_;           // the agents killed, by their latest kill ("killed")
  std::map<int, int> lives_;          // wiped restarts per agent
  std::optional<Time> last_wipe_at_;
  int wiped_empty_ = 0;
  std::optional<int> armed_victim_;  // a torn kill waiting for an unsynced write
  uint64_t arm_generation_ = 0;
  uint64_t leader_term_seen_ = 0;
  Duration settled_after_;
  int expectations_ = 0;
  int expectations_met_ = 0;
  int skipped_ = 0;
};

}  // namespace muster::agent_sim
