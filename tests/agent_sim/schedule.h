// A run of whole agents as data: the cluster (servers, clients, each agent's start with its
// bootstrap-expect, joins and clock offset), the network's loss, duplication and delay, the
// workload, the faults (partitions of every shape, kills plain / torn / wiped, restarts,
// pauses, clock steps, heals) and expectations, each a timed action. A scenario file
// (scenario_file.h) is its text; the `sim` generator records what it drew as one, so every
// fault a flag can produce can be written, replayed and shrunk (shrink.h). ScheduleRunner
// (schedule_runner.h) executes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/time.h"

namespace muster::agent_sim {

enum class KillMode { kOff, kPlain, kTorn, kWipe };
// A new kind: a row in kWorkloadKinds (schedule.cc) too, so scenario files can name it.
enum class WorkloadKind { kKv, kCas, kRegister, kLock, kEvents, kMixed };

const char* KillModeName(KillMode m);
const char* WorkloadName(WorkloadKind w);
// False if `name` is no workload's WorkloadName.
bool ParseWorkloadName(const std::string& name, WorkloadKind* out);
// "kv, cas, ...": every workload's name.
std::string WorkloadNames();

// A message delay distribution, as the network draws it: a floor plus exponential jitter.
// Written "exp:FLOOR+MEAN" (e.g. exp:1ms+5ms), "fixed:D", or "uniform:LO-HI", which the
// network approximates by a floor of LO and a jitter of mean (HI-LO)/2 (it has no uniform
// draw; the mean delay is the same).
struct DelaySpec {
  std::string text;  // as written; empty: the network's default link
  Duration latency_min;
  Duration jitter_mean;
};
// False (with `error` set) if `text` is none of the forms.
bool ParseDelay(const std::string& text, DelaySpec* out, std::string* error);

// An agent an action names: by index (s1 is 1; clients are numbered after the servers),
// whichever agent leads when the action runs, or the agent a kill took down last of those
// still down when it runs ("killed": a kill of "leader" restarted without knowing who it was).
struct NodeRef {
  int index = 0;
  bool leader = false;
  bool killed = false;
  // Named by its index (not resolved when the action runs).
  bool fixed() const { return !leader && !killed; }
  friend bool operator==(const NodeRef&, const NodeRef&) = default;
};

enum class ActionKind {
  kStart,      // node, expect, join, clock (clock_given)
  kPartition,  // group_a | group_b, both ways
  kOneWay,     // group_a -> group_b dropped
  kBridge,     // group_a and group_b cut apart, node reaches both
  kIsolate,    // node cut off from every agent
  kHeal,       // every partition gone
  kKill,       // node, kill (plain, torn, wipe)
  kRestart,    // node (a wiped one comes back empty, as a new member)
  kPause,      // node for length
  kClockStep,  // node's clock offset += length (may be negative: takes effect at a restart)
  kLoss,       // probability
  kDup,        // probability
  kDelay,      // delay
  kWorkload,   // workload, rate (0: off), via, read_mode
  kPut,        // key = value through node (0: a server up)
  kExpectLeader,     // a steady leader within length
  kExpectNewLeader,  // a steady leader of a later term than the one at `at`, within length
  kExpectNoLeader,   // no agent leads throughout length
  kExpectConverged,  // one steady leader, every server up at its store index, one state hash
  kExpectValue,      // the steady leader's store holds key = value within length
};

struct Action {
  Duration at;   // since the run's start
  int line = 0;  // in the scenario file (0: generated)
  ActionKind kind = ActionKind::kHeal;
  NodeRef node;
  std::vector<NodeRef> group_a, group_b;
  bool group_b_rest = false;  // group_b is every agent started but group_a's
  // kStart
  int expect = 0;  // bootstrap-expect (servers only); 0: the number of servers
  std::vector<int> join;
  bool clock_given = false;
  Duration clock;  // kStart: the offset; kClockStep: see length
  KillMode kill = KillMode::kPlain;
  Duration length;
  double probability = 0;
  DelaySpec delay;
  // kWorkload
  WorkloadKind workload = WorkloadKind::kKv;
  int rate = 0;
  std::vector<int> via;
  std::string read_mode = "any";  // any, default, consistent, stale
  // kPut, kExpectValue
  std::string key, value;

  bool is_expectation() const { return kind >= ActionKind::kExpectLeader; }
  // Cluster lines (starts, the network's settings, the workload): kept by the shrinker's
  // first passes, which drop faults.
  bool is_setup() const {
    return kind == ActionKind::kStart || kind == ActionKind::kWorkload || kind == ActionKind::kLoss ||
           kind == ActionKind::kDup || kind == ActionKind::kDelay;
  }
};

struct Schedule {
  uint64_t seed = 1;  // the default; `sim --seed` overrides it
  int servers = 3;
  int clients = 0;
  Duration duration = absl::Seconds(20);       // the safety phase
  Duration settle_budget = absl::Seconds(60);  // the liveness phase
  // In the order they run (equal times: this order).
  std::vector<Action> actions;

  bool is_server(int index) const { return index >= 1 && index <= servers; }
  int agents() const { return servers + clients; }
};

// The actions in time order, equal times in their order (what the runner executes).
std::vector<Action> SortedActions(const Schedule& schedule);

}  // namespace muster::agent_sim
