// Scenario files (scenario_file.h): the example of tests/scenarios/README.md parses to what it
// says; bad inputs are refused with their line and a clear message, never a crash; a printed
// schedule parses back to itself; and the strongest proof that every fault the generator draws
// can be written: a generated run printed as a scenario file and run from it gives the same
// fingerprint, over seeds with every fault kind on and over swarm seeds.
#include "tests/agent_sim/scenario_file.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/generated_run.h"

namespace muster::agent_sim {
namespace {

constexpr char kExample[] = R"(# The leader cut off.
servers 3
clients 1
duration 30s
group pair = s1,s2
workload kv rate 30 read=consistent via s4
at 3s expect leader within 10s
at 8s isolate leader
expect new-leader within 10s
after 1.5s partition pair | rest
at 12s one-way s1 -> s2,s3
at 13s bridge s1 | s3 via s2
kill s2 torn
after 500ms restart s2
pause s3 for 2s
skew s1 -1s
start s4 at 1s join s1,s2 clock +250ms
loss 0.1
dup 0.05
delay uniform:1ms-21ms
put my/key v1 via leader
at 20s heal
expect converged within 9s
at 25s expect value my/key v1 within 1s
at 26s expect leader
)";

Schedule Parse(const std::string& text) {
  Schedule s;
  std::string error;
  EXPECT_TRUE(ParseScenario(text, "t.scenario", &s, &error)) << error;
  return s;
}

TEST(ScenarioFile, TheExampleSaysWhatItMeans) {
  const Schedule s = Parse(kExample);
  EXPECT_EQ(s.servers, 3);
  EXPECT_EQ(s.clients, 1);
  EXPECT_EQ(s.duration, absl::Seconds(30));
  // s1..s3 start by default (s4 has its own line), first.
  ASSERT_GE(s.actions.size(), 3u);
  EXPECT_EQ(s.actions[0].kind, ActionKind::kStart);
  EXPECT_EQ(s.actions[0].join, std::vector<int>{2});
  EXPECT_EQ(s.actions[2].join, std::vector<int>{1});
  auto find = [&](ActionKind kind) {
    for (const Action& a : s.actions) {
      if (a.kind == kind) return a;
    }
    ADD_FAILURE() << "no action of kind " << static_cast<int>(kind);
    return Action();
  };
  const Action workload = find(ActionKind::kWorkload);
  EXPECT_EQ(workload.rate, 30);
  EXPECT_EQ(workload.read_mode, "consistent");
  EXPECT_EQ(workload.via, std::vector<int>{4});
  const Action isolate = find(ActionKind::kIsolate);
  EXPECT_TRUE(isolate.node.leader);
  EXPECT_EQ(isolate.at, absl::Seconds(8));
  EXPECT_EQ(find(ActionKind::kExpectNewLeader).at, absl::Seconds(8));  // the line before's time
  const Action partition = find(ActionKind::kPartition);
  EXPECT_EQ(partition.at, absl::Milliseconds(9500));  // after 1.5s
  EXPECT_EQ(partition.group_a, (std::vector<NodeRef>{{1, false}, {2, false}}));
  EXPECT_TRUE(partition.group_b_rest);
  const Action bridge = find(ActionKind::kBridge);
  EXPECT_EQ(bridge.node, (NodeRef{2, false}));
  EXPECT_EQ(find(ActionKind::kKill).kill, KillMode::kTorn);
  EXPECT_EQ(find(ActionKind::kRestart).at, absl::Milliseconds(13500));
  EXPECT_EQ(find(ActionKind::kClockStep).length, absl::Seconds(-1));
  const Action start = find(ActionKind::kStart);
  (void)start;
  bool s4 = false;
  for (const Action& a : s.actions) {
    if (a.kind == ActionKind::kStart && a.node.index == 4) {
      s4 = true;
      EXPECT_EQ(a.at, absl::Seconds(1));
      EXPECT_EQ(a.join, (std::vector<int>{1, 2}));
      EXPECT_EQ(a.clock, absl::Milliseconds(250));
    }
  }
  EXPECT_TRUE(s4);
  EXPECT_EQ(find(ActionKind::kDelay).delay.jitter_mean, absl::Milliseconds(10));
  EXPECT_EQ(find(ActionKind::kExpectValue).value, "v1");
  EXPECT_EQ(find(ActionKind::kExpectLeader).length, absl::Seconds(10));
  EXPECT_EQ(s.actions.back().kind, ActionKind::kExpectLeader);
  EXPECT_EQ(s.actions.back().length, absl::ZeroDuration());  // no window: at that moment
}

// "killed" names the agent killed last of those still down, as each action runs: two leaders
// killed in turn come back in the opposite order, a third "restart killed" finds nobody down
// and is skipped, and the cluster converges (every server up again).
TEST(ScenarioFile, KilledNamesTheAgentKilledLastStillDown) {
  constexpr char kText[] = R"(servers 5
duration 30s
workload kv rate 20
at 3s expect leader within 10s
at 5s kill leader
expect new-leader within 10s
at 15s kill leader torn
at 17s pause killed for 1s
restart killed
after 1s restart killed
after 1s restart killed
expect converged within 10s
)";
  const Schedule s = Parse(kText);
  int killed_refs = 0;
  for (const Action& a : s.actions) killed_refs += a.node.killed ? 1 : 0;
  EXPECT_EQ(killed_refs, 4);
  // Printed and read back, the same.
  const std::string printed = FormatScenario(s, "");
  EXPECT_NE(printed.find("at 17s restart killed\nat 18s restart killed\n"), std::string::npos) << printed;
  EXPECT_EQ(FormatScenario(Parse(printed), ""), printed);

  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* trace = open_memstream(&buffer, &size);
  ASSERT_NE(trace, nullptr);
  ScheduleRunOptions options;
  options.seed = 3;
  options.trace = TraceLevel::kShort;
  const GeneratedResult r = RunSchedule(s, options, trace);
  std::fclose(trace);
  const std::string events(buffer, size);
  std::free(buffer);
  EXPECT_TRUE(r.outcome.ok) << r.outcome.report << "\n" << events;
  EXPECT_EQ(r.expectations_met, 3);
  // The victims, in the order they went down, and the restarts.
  std::vector<std::string> killed, restarted;
  for (absl::string_view line : absl::StrSplit(absl::string_view(events), '\n')) {
    const size_t at = line.find(" kill ") != absl::string_view::npos ? line.find(" kill ") : line.find(" kill (torn) ");
    if (at != absl::string_view::npos) killed.emplace_back(line.substr(line.rfind(' ') + 1));
    if (line.find(" restart s") != absl::string_view::npos) restarted.emplace_back(line.substr(line.rfind(' ') + 1));
  }
  ASSERT_EQ(killed.size(), 2u) << events;
  EXPECT_NE(killed[0], killed[1]);
  EXPECT_EQ(restarted, (std::vector<std::string>{killed[1], killed[0]})) << events;
  // A pause of an agent down does nothing; its line names whom "killed" resolved to.
  EXPECT_NE(events.find("pause " + killed[1] + " for"), std::string::npos) << events;
  EXPECT_NE(events.find("skipped (no agent killed is down): restart killed"), std::string::npos) << events;
}

TEST(ScenarioFile, BadInputsAreRefusedWithTheirLine) {
  struct Bad {
    const char* text;
    const char* error;  // a part of the message
  };
  const Bad bad[] = {
      {"servers 3\npartiton s1 | s2\n", "t.scenario:2: unknown verb 'partiton'"},
      {"servers 3\nat 2s kill s9\n", "t.scenario:2: 's9' is no agent: s1..s3"},
      {"servers 3\nat soon heal\n", "t.scenario:2: a time: 'soon' is not a non-negative duration"},
      {"at 1s heal\nservers 5\n", "t.scenario:2: 'servers' after the first action"},
      {"servers 0\n", "t.scenario:1: servers: '0' is not a whole number in [1, 200]"},
      {"servers 2\nclients 1\nstart s3 expect 2\n", "t.scenario:3: s3 is a client: no expect"},
      {"start s1\nstart s1\n", "t.scenario:2: s1 is already started (line 1)"},
      {"partition s1,s2 | s2,s3\n", "t.scenario:1: an agent on both sides"},
      {"partition s1,s2\n", "t.scenario:1: expected '|' at the end of the line"},
      {"one-way s1 | s2\n", "t.scenario:1: expected '->'"},
      {"bridge s1 | s2\n", "t.scenario:1: expected 'via'"},
      {"kill s1 gently\n", "t.scenario:1: kill: 'gently': plain, torn or wipe"},
      {"pause s1 2s\n", "t.scenario:1: expected 'for'"},
      {"loss 1.5\n", "t.scenario:1: loss: '1.5' is not a probability in [0, 1]"},
      {"delay normal:3ms\n", "t.scenario:1: delay normal:3ms: expected fixed:D"},
      {"workload dance\n", "t.scenario:1: workload: 'dance' is none of"},
      {"workload kv rate 0\n", "t.scenario:1: rate: '0' is not a whole number in [1, 1000]"},
      {"workload kv read=fast\n", "t.scenario:1: read=fast: any, default, consistent or stale"},
      {"expect leader soon\n", "t.scenario:1: expected 'within'"},
      {"expect peace within 1s\n", "t.scenario:1: expect 'peace'"},
      {"duration 10s\nat 5s expect leader within 10s\n", "t.scenario:2: the expectation's window ends at 15s"},
      {"step s1 -1s\n", "t.scenario:1: step: a clock steps forward"},
      {"duration 10s\nat 12s heal\n", "t.scenario:2: at 12s, after the safety phase (duration 10s)"},
      {"start s2 join s2\n", "t.scenario:1: s2 joins itself"},
      {"start leader\n", "t.scenario:1: 'leader' is not allowed here"},
      {"start killed\n", "t.scenario:1: 'killed' is not allowed here"},
      {"group killed = s1\n", "t.scenario:1: group: 'killed' is reserved"},
      {"group rest = s1\n", "t.scenario:1: group: 'rest' is reserved"},
      {"put k/1 v\n", "t.scenario:1: put: keys under k/, c/ and settle/ are the workload's"},
      {"heal now\n", "t.scenario:1: unexpected 'now' at the end"},
      {"at\n", "t.scenario:1: expected a time at the end of the line"},
      {"seed x\n", "t.scenario:1: seed: 'x' is not a number"},
      {"isolate\n", "t.scenario:1: expected an agent at the end of the line"},
  };
  for (const Bad& b : bad) {
    Schedule s;
    std::string error;
    EXPECT_FALSE(ParseScenario(b.text, "t.scenario", &s, &error)) << b.text;
    EXPECT_NE(error.find(b.error), std::string::npos) << "for:\n" << b.text << "got: " << error << "\nwanted: " << b.error;
  }
  // Whatever the bytes, a verdict and never a crash.
  std::string noise;
  for (int i = 0; i < 2000; ++i) noise.push_back(static_cast<char>((i * 7919) % 251 + 1));
  Schedule s;
  std::string error;
  EXPECT_FALSE(ParseScenario(noise, "noise", &s, &error));
  EXPECT_EQ(error.rfind("noise:", 0), 0u) << error;
}

TEST(ScenarioFile, APrintedScheduleParsesBackToItself) {
  const Schedule s = Parse(kExample);
  const std::string printed = FormatScenario(s, "a comment\non two lines");
  const Schedule again = Parse(printed);
  EXPECT_EQ(FormatScenario(again, "a comment\non two lines"), printed);
  EXPECT_EQ(again.actions.size(), s.actions.size());
}

// Each fault verb does what it says in a run (counted by what the run did): one of every
// partition shape, with messages blocked; a torn kill, a wiped restart that came back empty, a
// pause, a clock step, loss and duplication; and the run passes.
TEST(ScenarioFile, EveryFaultVerbHappensInARun) {
  const Schedule s = Parse(R"(servers 3
clients 1
duration 40s
loss 0.05
dup 0.05
delay exp:1ms+2ms
workload kv rate 20 read=default
at 3s expect leader within 10s
at 4s partition s1 | rest
at 5s one-way s2 -> s1,s3
at 6s bridge s1 | s3 via s2
at 7s isolate leader
at 8s heal
at 9s kill leader torn
at 10s restart s1
at 10s restart s2
at 10s restart s3
at 12s pause s4 for 1s
at 13s skew s2 +500ms
at 14s expect converged within 10s
at 25s kill s3 wipe
at 27s restart s3
expect converged within 10s
)");
  ScheduleRunOptions options;
  const GeneratedResult r = RunSchedule(s, options, nullptr);
  EXPECT_TRUE(r.outcome.ok) << r.outcome.report;
  EXPECT_EQ(r.expectations_met, 3);
  EXPECT_EQ(r.faults.partitions_symmetric, 1u) << r.faults.Describe();
  EXPECT_EQ(r.faults.partitions_one_way, 1u);
  EXPECT_EQ(r.faults.bridges, 1u);
  EXPECT_EQ(r.faults.isolations, 1u);
  EXPECT_GT(r.faults.blocked, 0u);
  EXPECT_EQ(r.faults.crashes, 2u);  // the torn kill, and the kill before the wipe
  EXPECT_EQ(r.faults.wipes, 1u);
  EXPECT_EQ(r.wiped_restarts_empty, 1);
  EXPECT_EQ(r.faults.pauses, 1u);
  EXPECT_EQ(r.faults.clock_steps, 1u);
  EXPECT_GT(r.faults.lost, 0u);
  EXPECT_GT(r.faults.duplicated, 0u);
}

// Runs `c`, prints what ran, parses it and runs it as a file: the same fingerprint.
void ExpectReplayed(const GeneratedConfig& c) {
  const GeneratedResult generated = RunGenerated(c, nullptr);
  const std::string text = FormatScenario(generated.schedule, "");
  Schedule parsed;
  std::string error;
  ASSERT_TRUE(ParseScenario(text, "printed", &parsed, &error)) << error << "\n" << text;
  ScheduleRunOptions options;
  options.seed = c.seed;
  const GeneratedResult replayed = RunSchedule(parsed, options, nullptr);
  EXPECT_EQ(replayed.outcome.fingerprint, generated.outcome.fingerprint) << "seed " << c.seed << "\n" << text;
  EXPECT_EQ(replayed.outcome.ok, generated.outcome.ok);
  EXPECT_EQ(replayed.faults.Describe(), generated.faults.Describe());
}

TEST(ScenarioFile, AGeneratedRunAndItsPrintedScenarioHaveOneFingerprint) {
  GeneratedConfig c;
  c.servers = 3;
  c.clients = 2;
  c.duration = absl::Seconds(30);
  c.partition = true;
  c.kill = KillMode::kWipe;
  c.pause = true;
  c.clock_skew = true;
  c.loss = 0.05;
  c.dup = 0.05;
  c.bootstrap_expect = 3;
  c.workload = WorkloadKind::kCas;
  std::string error;
  ASSERT_TRUE(ParseDelay("exp:1ms+2ms", &c.delay, &error));
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    c.seed = seed;
    ExpectReplayed(c);
  }
  c.kill = KillMode::kPlain;
  c.seed = 4;
  ExpectReplayed(c);
  GeneratedConfig swarm;
  swarm.swarm = true;
  for (uint64_t seed = 11; seed <= 14; ++seed) {
    swarm.seed = seed;
    ExpectReplayed(swarm);
  }
}

}  // namespace
}  // namespace muster::agent_sim
