// One run of whole agents generated from parameters instead of written as a story: the `sim`
// binary's flags (or a swarm's draws from the seed) become a schedule (schedule.h): a cluster
// (servers, clients, staggered starts with bootstrap-expect) and a workload drawn up front,
// and faults (partitions of every shape, kills plain / torn / wiped, pauses, loss,
// duplication, delay, clock steps) drawn as the run goes, from the seed and what the cluster
// is doing, each executed and recorded by the one ScheduleRunner a scenario file runs on, so
// the run prints as a scenario file that replays it. Two phases: safety (faults on for
// `duration`, checkers after every step) then liveness (faults off, everyone restarted,
// AgentRun::Settle within a budget). The result carries what the run did, what it checked,
// its fingerprint, the schedule it ran, and on failure the violated property, the last
// events and the one command line that replays it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/agent/agent_machine.h"
#include "core/base/time.h"
#include "sim/testing/faults.h"
#include "sim/testing/seed_loop.h"
#include "tests/agent_sim/schedule.h"

namespace muster::agent_sim {

enum class TraceLevel { kOff, kShort, kFull };
// KillMode, WorkloadKind (with its names) and DelaySpec: tests/agent_sim/schedule.h.

struct GeneratedConfig {
  uint64_t seed = 1;
  // Every parameter below but `duration`, `settle_budget` and the tracing drawn from the seed.
  bool swarm = false;
  int servers = 3;
  int clients = 0;
  Duration duration = absl::Seconds(20);  // the safety phase
  Duration settle_budget = absl::Seconds(60);  // the liveness phase
  bool partition = false;
  KillMode kill = KillMode::kOff;
  bool pause = false;
  double loss = 0;  // datagrams (gossip); raft and RPC ride on streams
  double dup = 0;
  DelaySpec delay;
  bool clock_skew = false;
  // 0: every server expects all `servers` and all start at once. N: the servers start
  // staggered (0.5-4 s apart, in a random order) each expecting N.
  int bootstrap_expect = 0;
  WorkloadKind workload = WorkloadKind::kKv;
  int rate = 20;  // workload requests per simulated second
  TraceLevel trace = TraceLevel::kOff;
  // A raft or agent rule switched off (tests/agent_sim/unsafe_switches.h): the checkers must catch it.
  std::string unsafe_name;
  std::function<void(agent::AgentMachineOptions&)> mutate;
};

// `base` with every swarm parameter drawn from its seed (`base.swarm` must be set); `knobs`
// gets "name=value ..." of the draws.
GeneratedConfig DrawSwarm(const GeneratedConfig& base, std::string* knobs);

// "seed=7 servers=3 clients=2 duration=20s partition=on kill=torn ..." (every parameter).
std::string DescribeConfig(const GeneratedConfig& config);
// The one command line that replays `config` exactly (a swarm run: `--swarm --seed X` and
// the duration; otherwise every parameter spelled out).
std::string ReproCommand(const GeneratedConfig& config);

struct GeneratedResult {
  sim::testing::SeedOutcome outcome;  // summary: what it did; report: the failure, if any
  std::string parameters;             // DescribeConfig of the run (swarm draws included)
  std::string checked;                // one line per checker: what it saw
  sim::testing::FaultCounts faults;   // network counts included
  Duration virtual_time;
  uint64_t steps = 0;
  uint64_t events = 0;  // through the kernel
  uint64_t puts_acked = 0;
  // Wiped restarts that came back with an empty store and raft log (all of them should).
  int wiped_restarts_empty = 0;
  uint64_t history_ops = 0;  // kv operations recorded for the linearizability checker
  uint64_t cas_applied = 0;
  // What ran, every action with the time it ran: FormatScenario prints it as a file that
  // replays the run (with the same seed and --unsafe).
  Schedule schedule;
  int expectations = 0, expectations_met = 0;
  Duration failed_at;  // when the first failure was recorded (if the run failed)
};

// The schedule a generated run starts from: the cluster's starts, the network's settings and
// the workload (the faults are drawn as the run goes).
Schedule InitialSchedule(const GeneratedConfig& config);

// Runs `config` (drawing the swarm first if asked). With a trace, events go to `trace_out`
// as they happen (and with TraceLevel::kFull every agent's log to stderr).
GeneratedResult RunGenerated(const GeneratedConfig& config, std::FILE* trace_out);

// How a written schedule runs: its seed (the schedule's own unless overridden), the rule
// switched off if any, the trace, and the command line a failure prints.
struct ScheduleRunOptions {
  uint64_t seed = 0;  // 0: the schedule's
  std::string unsafe_name;
  std::function<void(agent::AgentMachineOptions&)> mutate;
  TraceLevel trace = TraceLevel::kOff;
  std::string repro;  // empty: "sim --scenario FILE" is for the caller to say
};
// Runs `schedule` as it is written (a scenario file, a printed or shrunk run): the same
// executor, checkers and phases as RunGenerated.
GeneratedResult RunSchedule(const Schedule& schedule, const ScheduleRunOptions& options, std::FILE* trace_out);

}  // namespace muster::agent_sim
