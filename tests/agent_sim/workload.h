// A share of an AgentRun's workload beside its kv puts and reads (register, lock, events):
// requests through the agents, their answers recorded for a checker, judged once the run has
// settled. AgentRun owns them, gives each a tick through an agent up, tells them of crashes
// and restarts, and calls Judge at the end of Settle.
#pragma once

#include <string>

namespace muster::agent_sim {

class AgentRun;

class Workload {
 public:
  virtual ~Workload() = default;
  virtual const char* name() const = 0;
  // One request (or the next step of a round) through agent `index`, which is up.
  virtual void Tick(int index) = 0;
  // Agent `index` crashed (or was wiped): its requests out may or may not have happened, and
  // nothing it had in memory survives.
  virtual void OnDown(int index) {}
  // Agent `index` was added or restarted.
  virtual void OnUp(int index) {}
  // After the run settled: wait (within the workload's stated bound) for what must converge,
  // then judge the history; a violation fails the run's checker.
  virtual void Judge() = 0;
  // One line (no newline) for the run's `checked` output: what it saw, with counts.
  virtual std::string Checked() const = 0;
};

}  // namespace muster::agent_sim
