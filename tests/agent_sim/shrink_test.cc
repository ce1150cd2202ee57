// `sim --shrink` (shrink.h): on a made-up failure that needs exactly two faults the shrinker
// keeps exactly those two, drops every agent the failure does not need and cuts the safety
// phase to just past the failure; a smaller run failing on another property is refused; each
// checker's messages name their property; on a real failure (a raft rule switched off, the
// first failing seed of a range) it ends with fewer faults and a shorter run that still fails
// on the same property, also when read back from the scenario file it prints.
#include "tests/agent_sim/shrink.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/generated_run.h"
#include "tests/agent_sim/scenario_file.h"
#include "tests/agent_sim/unsafe_switches.h"

namespace muster::agent_sim {
namespace {

bool HasLine(const Schedule& s, int line) {
  return std::any_of(s.actions.begin(), s.actions.end(), [line](const Action& a) { return a.line == line; });
}

constexpr char kTwoLeaders[] = "at t=9.5s: two leaders in term 4: n1 and n3";

// 3 servers, 2 clients, 30 s, 24 faults (lines 101-124), one every 500 ms: kills of every
// agent, and heals (which name none).
Schedule TwentyFourFaults() {
  Schedule s;
  s.servers = 3;
  s.clients = 2;
  s.duration = absl::Seconds(30);
  for (int i = 1; i <= 5; ++i) {
    Action start;
    start.kind = ActionKind::kStart;
    start.node = NodeRef{i, false};
    s.actions.push_back(start);
  }
  // 24 faults, one every 500 ms: kills of every agent, and heals (which name none).
  for (int i = 1; i <= 24; ++i) {
    Action a;
    a.line = 100 + i;
    a.at = absl::Milliseconds(500) * i;
    if (i % 3 == 0) {
      a.kind = ActionKind::kKill;
      a.node = NodeRef{1 + i % 5, false};
    } else {
      a.kind = ActionKind::kHeal;
    }
    s.actions.push_back(a);
  }
  return s;
}

TEST(Shrink, KeepsExactlyTheFaultsAFailureNeeds) {
  const Schedule s = TwentyFourFaults();
  // "Fails" when heals 105 and 117 (at 2.5 s and 8.5 s) are both in, whatever else is.
  int runs = 0;
  auto run = [&](const Schedule& c) {
    runs++;
    return HasLine(c, 105) && HasLine(c, 117) ? std::string(kTwoLeaders) : std::string();
  };
  const ShrinkResult r = Shrink(s, kTwoLeaders, absl::Seconds(12), run, 500);
  EXPECT_EQ(r.property, "election safety");
  EXPECT_EQ(r.other_failures, 0);
  EXPECT_EQ(FaultCount(r.smallest), 2u);
  EXPECT_TRUE(HasLine(r.smallest, 105) && HasLine(r.smallest, 117));
  EXPECT_EQ(r.smallest.servers, 1);
  EXPECT_EQ(r.smallest.clients, 0);
  EXPECT_EQ(r.smallest.duration, absl::Seconds(13));  // just past the failure; half of it drops 117
  EXPECT_EQ(r.runs, runs);
  EXPECT_LT(r.runs, 100);
  for (const std::string& step : r.steps) std::printf("  %s\n", step.c_str());
}

// A candidate failing on another property is not the failure made smaller: here dropping
// heal 117 (or cutting the run before it) makes the run fail on liveness instead, and
// dropping 105 on an expectation; only both together fail on election safety, so both stay
// (accepting any failure would have ended at a one-fault or no-fault liveness "repro").
TEST(Shrink, KeepsOnlyFailuresOfTheSameProperty) {
  const Schedule s = TwentyFourFaults();
  auto run = [&](const Schedule& c) {
    const bool a = HasLine(c, 105), b = HasLine(c, 117);
    if (a && b) return std::string(kTwoLeaders);
    if (a) return std::string("FAIL seed=1 at t=1m12s: liveness: not settled within 1m (no steady leader)\n  reproduce: x");
    if (b) return std::string("at t=3s: expectation failed (line 7): expect leader within 2s from t=1s: no steady leader");
    return std::string("at t=1s: liveness: not settled within 1m");
  };
  const ShrinkResult r = Shrink(s, absl::StrCat("FAIL seed=1 ", kTwoLeaders, "\n  reproduce: x"), absl::Seconds(12),
                                run, 500);
  EXPECT_EQ(r.property, "election safety");
  EXPECT_EQ(FaultCount(r.smallest), 2u);
  EXPECT_TRUE(HasLine(r.smallest, 105) && HasLine(r.smallest, 117));
  EXPECT_EQ(r.smallest.duration, absl::Seconds(13));
  EXPECT_GT(r.other_failures, 0);
  EXPECT_EQ(r.refused.size(), static_cast<size_t>(r.other_failures));
  for (const std::string& cut : r.refused) {
    EXPECT_TRUE(absl::EndsWith(cut, ": liveness") || absl::EndsWith(cut, ": expectation (line 7)")) << cut;
  }
  EXPECT_EQ(FailureProperty(run(r.smallest)), r.property);
  std::printf("%d runs, %d failing otherwise refused\n", r.runs, r.other_failures);
}

// Each checker's messages, as the runs print them, name their property; numbers, agents and
// keys do not change it; a message of no listed kind matches only its own kind.
TEST(Shrink, FailurePropertyNamesTheChecker) {
  const std::pair<const char*, const char*> cases[] = {
      {"at t=3.2s: two leaders in term 7: n2 and n3", "election safety"},
      {"FAIL seed=12 at t=3.2s: two leaders in term 9: n1 and n2\n  reproduce: sim --seed 12", "election safety"},
      {"at t=1s: n3: candidate in term 4 did not vote for itself", "raft invariants"},
      {"at t=1s: n12: voted for n2 then n3 in term 5", "raft invariants"},
      {"at t=1s: n3 applied 4/17 but index 17 was applied elsewhere with term 3", "one applied history"},
      {"at t=1s: n3 holds a snapshot at 80 beyond anything applied", "one applied history"},
      {"at t=1s: n2's store went back from index 9 to 4 within one life", "store index never goes back"},
      {"at t=1s: state hash: n1 and n2 differ at store index 44", "state hashes agree"},
      {"at t=1m: state hash after settling: n1 and n3 differ", "state hashes agree"},
      {"at t=1s: request 12 delivered twice", "exactly-once answers"},
      {"at t=1s: n1 answered request 5 twice", "exactly-once answers"},
      {"at t=2m: request 9 (kv.put) to n2 unanswered since t=3s", "exactly-once answers"},
      {"at t=1s: acknowledged put of k/3 (index 12) is missing on n2", "acknowledged writes"},
      {"at t=1s: key k/4 acknowledged twice (the workload writes each key once)", "acknowledged writes"},
      {"at t=1s: blocking kv.get k/1 ?keys consistency=\"\" through s2: X-Consul-Index went backwards from 9 to 7",
       "blocking-query indexes"},
      {"at t=1s: kv.get k/3 consistency=\"\" through s1 found nothing, but its put was acknowledged before the read "
       "was sent",
       "reads see acknowledged puts"},
      {"at t=1s: linearizability: key c/2 ...", "linearizability"},
      {"at t=1m: liveness: not settled within 1m", "liveness"},
      {"at t=1m: stale reads beyond X-Consul-LastContact + 1s: ...", "stale reads"},
      {"at t=1m: gossip membership: not agreed within 30s", "gossip membership"},
      {"at t=1m: catalog: the agents' services and checks not in the catalog within 2m", "catalog"},
      {"at t=1m: lock safety (lock_checker, lock-delay 3s): two holders", "lock safety"},
      {"at t=1m: user events (event_checker; owed within 5m of settling): e3 twice at s2", "exactly-once user events"},
      {"at t=1s: more than 5000000 steps: a message storm?", "step budget"},
      {"at t=9s: expectation failed (line 12): expect leader within 10s from t=5s: no steady leader",
       "expectation (line 12)"},
      {"at t=9s: 2 expectation(s) still open at the end of the safety phase", "expectations"},
      {"at t=9s: no steady leader within 30s of the third start", "no steady leader within #s of the third start"},
  };
  for (const auto& [failure, property] : cases) EXPECT_EQ(FailureProperty(failure), property) << failure;
  EXPECT_NE(FailureProperty("at t=1s: expectation failed (line 12): ..."),
            FailureProperty("at t=1s: expectation failed (line 13): ..."));
  EXPECT_EQ(FailureProperty(""), "");
}

TEST(Shrink, RemovingAnAgentRenumbersTheRest) {
  Schedule s;
  s.servers = 3;
  s.clients = 1;
  std::string error;
  ASSERT_TRUE(ParseScenario("servers 3\nclients 1\nstart s1 expect 3 join s2\nstart s2 expect 3 join s1,s3\n"
                            "start s3 expect 3 join s1\nstart s4 join s3\nat 1s partition s1,s2 | s3,s4\n"
                            "at 2s kill s2\nat 3s kill s4 torn\nat 4s bridge s1 | s4 via s3\n",
                            "t", &s, &error))
      << error;
  const Schedule without = WithoutAgent(s, 2);
  EXPECT_EQ(without.servers, 2);
  EXPECT_EQ(FormatScenario(without, ""),
            "seed 1\nservers 2\nclients 1\nduration 9s\nsettle 1m\n"
            "at 0 start s1 expect 2\nat 0 start s2 expect 2 join s1\nat 0 start s3 join s2\n"
            "at 1s partition s1 | s2,s3\nat 3s kill s3 torn\nat 4s bridge s1 | s3 via s2\n");
}

// The first seed of a range failing under vote_twice_in_term (the range, not one seed: which
// seeds catch it moves whenever the agents' runs change), shrunk.
TEST(Shrink, ARunFailingUnderAnUnsafeSwitchShrinksAndStillFails) {
  const UnsafeSwitch* u = FindUnsafeSwitch("vote_twice_in_term");
  ASSERT_NE(u, nullptr);
  GeneratedConfig c;
  c.servers = 3;
  c.clients = 1;
  c.kill = KillMode::kTorn;
  c.pause = true;
  c.duration = absl::Seconds(15);
  c.unsafe_name = std::string(u->name);
  c.mutate = u->apply;
  GeneratedResult failing;
  for (c.seed = 1; c.seed <= 200; ++c.seed) {
    failing = RunGenerated(c, nullptr);
    if (!failing.outcome.ok) break;
  }
  ASSERT_FALSE(failing.outcome.ok) << "no seed of 1-200 failed";
  ScheduleRunOptions options;
  options.seed = c.seed;
  options.unsafe_name = c.unsafe_name;
  options.mutate = c.mutate;
  auto run = [&](const Schedule& s) {
    const GeneratedResult r = RunSchedule(s, options, nullptr);
    return r.outcome.ok ? std::string() : r.outcome.report;
  };
  // The run as recorded fails as it did.
  const std::string property = FailureProperty(failing.outcome.report);
  ASSERT_EQ(FailureProperty(run(failing.schedule)), property);
  const ShrinkResult r = Shrink(failing.schedule, failing.outcome.report, failing.failed_at, run, 200);
  EXPECT_EQ(r.property, property);
  for (const std::string& step : r.steps) std::printf("  %s\n", step.c_str());
  std::printf("seed %llu: %zu -> %zu faults, %d+%d -> %d+%d agents, %s -> %s in %d runs\n",
              static_cast<unsigned long long>(c.seed), FaultCount(failing.schedule), FaultCount(r.smallest),
              failing.schedule.servers, failing.schedule.clients, r.smallest.servers, r.smallest.clients,
              absl::FormatDuration(failing.schedule.duration).c_str(), absl::FormatDuration(r.smallest.duration).c_str(),
              r.runs);
  EXPECT_LT(r.smallest.duration, c.duration);
  EXPECT_LE(FaultCount(r.smallest), FaultCount(failing.schedule));
  EXPECT_LT(r.smallest.actions.size(), failing.schedule.actions.size());
  EXPECT_LE(r.runs, 200);
  // Printed and read back, it still fails.
  const std::string text = FormatScenario(r.smallest, "shrunk");
  Schedule parsed;
  std::string error;
  ASSERT_TRUE(ParseScenario(text, "shrunk", &parsed, &error)) << error;
  const GeneratedResult again = RunSchedule(parsed, options, nullptr);
  EXPECT_FALSE(again.outcome.ok) << text;
  EXPECT_EQ(FailureProperty(again.outcome.report), property) << again.outcome.report;
  std::printf("%s%s\n", text.c_str(), again.outcome.report.c_str());
}

}  // namespace
}  // namespace muster::agent_sim
