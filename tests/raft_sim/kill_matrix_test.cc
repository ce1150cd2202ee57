// The kill matrix (core/raft/README.md): for each RaftOptions::unsafe_* switch, the swarm's
// seeds catch the broken rule with the expected kind of checker failure, and with the switch
// off the same seeds pass. Rules whose violation needs an interleaving the swarm rarely builds
// get a named scenario (SimCluster) that builds it.
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/raft_sim/harness.h"

namespace muster::raft_sim {
namespace {

// The 2015 single-server membership bug (Ongaro, raft-dev, "bug in single-server membership
// changes"): configuration C1 = {A,B,C,D}; leader A appends C2 = C1 + E, which reaches E only,
// and is cut off. The others elect X; X adds F at once, before its no-op commits, and C3 =
// C1 + F commits on X, Z and F (3 of 5) although X's term has no majority of C1. Then A, with
// C2, wins Y and E (3 of 5): two configurations without a common majority, so an entry
// committed in C3 is overwritten. Returns the checker's failure ("" if none).
std::string ConfigChangeBeforeNoop(uint64_t seed, bool unsafe) {
  raft::RaftOptions o;
  o.unsafe_config_change_before_noop = unsafe;
  SimCluster c(seed, 6, o, /*snapshot_every=*/0, /*members=*/4);
  sim::Simulator& sim = c.sim();
  const NodeId a = c.AwaitLeader(absl::Seconds(10));
  if (!a.valid()) return "setup: no first leader";
  const NodeId e = c.ids()[4], f = c.ids()[5];
  std::vector<NodeId> rest;  // B, C, D
  for (int i = 0; i < 4; ++i) {
    if (c.ids()[i] != a) rest.push_back(c.ids()[i]);
  }
  // C2 = C1 + E, appended by A and replicated to E alone.
  sim.network().Partition({a, e}, {rest[0], rest[1], rest[2], f});
  sim.Request(a, "add-voter", absl::StrCat(e.value, " ", sim.AddressOf(e)), [](const Response&) {});
  sim.RunFor(absl::Milliseconds(100));
  // The others campaign; once Y granted the candidate X its vote, X can no longer send to Y:
  // Y never gets the new leader's no-op.
  NodeId x, y, z;
  sim.RunUntil(
      [&] {
        for (NodeId n : rest) {
          const raft::Raft& r = c.machine(n)->raft();
          if (r.role() != raft::Role::kCandidate) continue;
          for (NodeId m : rest) {
            if (m != n && c.machine(m)->raft().vote() == n && c.machine(m)->raft().term() == r.term()) {
              x = n;
              y = m;
            }
          }
        }
        return x.valid();
      },
      absl::Seconds(10));
  if (!x.valid()) return "setup: no candidate granted a vote";
  for (NodeId n : rest) {
    if (n != x && n != y) z = n;
  }
  sim.network().PartitionOneWay({x}, {y});
  sim.RunUntil([&] { return c.machine(x)->raft().role() == raft::Role::kLeader; }, absl::Seconds(2));
  if (c.machine(x)->raft().role() != raft::Role::kLeader) return "setup: the candidate did not win";
  // C3 = C1 + F at once: refused until X's no-op commits, which it cannot without Y.
  sim.Request(x, "add-voter", absl::StrCat(f.value, " ", sim.AddressOf(f)), [](const Response&) {});
  sim.RunFor(absl::Milliseconds(200));
  c.Put(x, "k=in-c3", absl::Seconds(1));
  // A, with C2, meets Y and E.
  sim.network().Heal();
  sim.network().Partition({a, e, y}, {x, z, f});
  sim.RunFor(absl::Seconds(5));
  return c.checker().failure();
}

// Figure 8 of the Raft paper, built step by step (servers S1..S5 by role): (a) leader A
// appends entry i in term t and it reaches B only; (b) X is elected by the others, appends its
// own entry at i, and replicates nothing; (c) A or B leads again (L) and brings entry i to a
// majority, one entry per message, and stops there: counting replicas of an entry of an
// earlier term, it would commit and apply i; (d) X, whose entry at i is of a later term than
// t, wins the two others and overwrites i. With the rule, L commits nothing before its own
// term's entry, and X's overwrite is legal. Returns the checker's failure ("" if none).
std::string Figure8(uint64_t seed, bool unsafe) {
  raft::RaftOptions o;
  o.unsafe_commit_previous_term = unsafe;
  o.msg_bytes_max = 1;  // one entry per append: entry i travels without L's own entry after it
  o.inflight_msgs_max = 1;
  SimCluster c(seed, 5, o);
  sim::Simulator& sim = c.sim();
  const NodeId a = c.AwaitLeader(absl::Seconds(10));
  if (!a.valid()) return "setup: no first leader";
  sim.RunFor(absl::Milliseconds(200));  // everyone holds the no-op
  std::vector<NodeId> others;
  for (NodeId n : c.ids()) {
    if (n != a) others.push_back(n);
  }
  const NodeId b = others[0];
  const std::vector<NodeId> three(others.begin() + 1, others.end());
  // (a)
  sim.network().Partition({a, b}, three);
  sim.Request(a, "put", "k=a", [](const Response&) {});  // delivered (and appended) at once
  const uint64_t i = c.machine(a)->raft().log().last_index();
  const uint64_t t = c.machine(a)->raft().term();
  sim.RunUntil([&] { return c.machine(b)->raft().log().last_index() >= i; }, absl::Seconds(1));
  if (c.machine(b)->raft().log().last_index() < i) return "setup: B lacks entry i";
  sim.RunFor(absl::Milliseconds(100));  // durable on A and B
  c.Crash(a);
  // (b) X wins two votes among the three, then can send nothing.
  NodeId x;
  sim.RunUntil(
      [&] {
        for (NodeId n : three) {
          const raft::Raft& r = c.machine(n)->raft();
          if (r.role() != raft::Role::kCandidate) continue;
          int grants = 0;
          for (NodeId m : three) {
            if (m != n && c.machine(m)->raft().vote() == n && c.machine(m)->raft().term() == r.term()) ++grants;
          }
          if (grants == 2) x = n;
        }
        return x.valid();
      },
      absl::Seconds(10));
  if (!x.valid()) return "setup: no candidate with two votes";
  std::vector<NodeId> lackers;
  for (NodeId n : three) {
    if (n != x) lackers.push_back(n);
  }
  sim.network().PartitionOneWay({x}, {a, b, lackers[0], lackers[1]});
  sim.RunUntil([&] { return c.machine(x)->raft().role() == raft::Role::kLeader; }, absl::Seconds(2));
  if (c.machine(x)->raft().role() != raft::Role::kLeader || c.machine(x)->raft().log().last_index() < i) {
    return "setup: X did not lead with its own entry at i";
  }
  const uint64_t x_term = c.machine(x)->raft().term();
  sim.RunFor(absl::Milliseconds(100));
  c.Crash(x);
  // (c) A or B leads again, and stops sending to the lackers once one of them holds entry i.
  sim.network().Heal();
  c.Restart(a);
  NodeId l;
  sim.RunUntil(
      [&] {
        for (NodeId n : {a, b}) {
          if (c.machine(n)->raft().role() == raft::Role::kLeader && c.machine(n)->raft().term() > x_term) l = n;
        }
        return l.valid();
      },
      absl::Seconds(10));
  if (!l.valid()) return "setup: neither A nor B leads again";
  const NodeId h = l == a ? b : a;  // the other holder of entry i
  auto lacker_holds_i = [&] {
    for (NodeId n : lackers) {
      if (c.machine(n)->raft().log().Term(i) == std::optional<uint64_t>(t)) return true;
    }
    return false;
  };
  sim.RunUntil(lacker_holds_i, absl::Seconds(2));
  if (!lacker_holds_i()) return "setup: no lacker got entry i";
  sim.network().PartitionOneWay({l}, lackers);
  sim.RunFor(absl::Milliseconds(100));
  c.Crash(l);
  // (d) X comes back; H (which holds L's own entry) is cut off, so X can win the lackers.
  sim.network().Heal();
  sim.network().Isolate(h, c.ids());
  c.Restart(x);
  sim.RunFor(absl::Seconds(5));
  return c.checker().failure();
}

// AppendEntries rule 5, commitIndex = min(leaderCommit, index of the last new entry): (a)
// leader A's entries X reach everyone, but not the acknowledgements A: F holds X without
// knowing they commit; (b) A brings entries Y to F alone and goes down; (c) the others elect
// L, which holds X, puts its no-op where F has Y, and commits past Y's indexes; (d) L hands
// leadership to L2, whose first probe of F starts past F's log; (e) F rejoins and rejects
// it, and L2 (BUGGIFY's probe_from_match: every site on, firing at 30%) probes again from its
// last known match: F answers with its commit index, and L2's next append carries only X's
// first entry, which F holds. Bounded by that last new entry, F commits X's first entry;
// bounded by its own last index, it commits and applies Y too, which L2's log does not hold.
// (The swarm builds this rarely: a new leader's first probe usually lands on the agreement
// point, and the entry after it, its no-op, truncates F's differing tail.)
std::string CommitPastLastNew(uint64_t seed, bool unsafe) {
  raft::RaftOptions o;
  o.unsafe_commit_past_last_new = unsafe;
  o.msg_bytes_max = 1;  // one entry per append
  // Every site on, each firing at 30% of its calls (at 100% replication would wait for
  // heartbeats only, and elections would collide at the shortest timeout).
  o.buggify = BuggifyOptions{seed, /*site_probability=*/1, /*fire_probability=*/0.3};
  SimCluster c(seed, 5, o);
  sim::Simulator& sim = c.sim();
  const NodeId a = c.AwaitLeader(absl::Seconds(10));
  if (!a.valid()) return "setup: no first leader";
  sim.RunFor(absl::Milliseconds(200));
  std::vector<NodeId> others;
  for (NodeId n : c.ids()) {
    if (n != a) others.push_back(n);
  }
  const NodeId f = others[0];
  const std::vector<NodeId> three(others.begin() + 1, others.end());
  const uint64_t a_term = c.machine(a)->raft().term();
  auto all_hold = [&](const std::vector<NodeId>& nodes, uint64_t index) {  // A's entry at index
    for (NodeId n : nodes) {
      if (c.machine(n)->raft().log().Term(index) != std::optional<uint64_t>(a_term)) return false;
    }
    return true;
  };
  // (a) The three's answers no longer reach A.
  sim.network().PartitionOneWay(three, {a});
  for (int k = 0; k < 3; ++k) sim.Request(a, "put", absl::StrCat("x=", k), [](const Response&) {});
  const uint64_t x_last = c.machine(a)->raft().log().last_index();
  sim.RunUntil([&] { return all_hold(others, x_last); }, absl::Seconds(2));
  sim.network().Heal();
  sim.network().Partition({a, f}, three);
  if (!all_hold(others, x_last)) return "setup: X did not reach everyone";
  // (b)
  for (int k = 0; k < 3; ++k) sim.Request(a, "put", absl::StrCat("y=", k), [](const Response&) {});
  const uint64_t y_last = c.machine(a)->raft().log().last_index();
  sim.RunUntil([&] { return all_hold({f}, y_last); }, absl::Seconds(2));
  if (!all_hold({f}, y_last)) return "setup: F lacks Y";
  if (c.machine(f)->raft().commit() >= x_last) return "setup: F knows X committed";
  sim.RunFor(absl::Milliseconds(100));
  c.Crash(a);
  // (c)
  NodeId l;
  sim.RunUntil(
      [&] {
        for (NodeId n : three) {
          if (c.machine(n)->raft().role() == raft::Role::kLeader && c.machine(n)->raft().CommittedOwnTerm()) l = n;
        }
        return l.valid();
      },
      absl::Seconds(10));
  if (!l.valid()) return "setup: no leader among the others";
  for (int k = 0; k < 5; ++k) {
    if (!c.Put(l, absl::StrCat("kept=", k), absl::Seconds(2))) return "setup: L committed nothing";
  }
  if (c.machine(l)->raft().commit() <= y_last) return "setup: L's commit is not past Y";
  // (d) Leadership moves to another of the three, whose first probe of F starts past F's
  // log, so F rejects it and the leader backs off.
  NodeId l2;
  for (NodeId n : three) {
    if (n != l) l2 = n;
  }
  sim.Request(l, "transfer", absl::StrCat(l2.value), [](const Response&) {});
  sim.RunUntil([&] { return c.machine(l2)->raft().role() == raft::Role::kLeader && c.machine(l2)->raft().CommittedOwnTerm(); },
               absl::Seconds(5));
  if (!c.machine(l2)->raft().CommittedOwnTerm()) return "setup: the transfer failed";
  // (e)
  sim.network().Heal();
  sim.RunFor(absl::Seconds(3));
  return c.checker().failure();
}

// A switch's name as a test name ('-' is not allowed there).
std::string TestName(std::string_view name) {
  std::string out(name);
  for (char& ch : out) ch = ch == '-' ? '_' : ch;
  return out;
}

// A named scenario catches its switch within its seeds, with the expected checker, and the
// same seeds pass with the switch off.
struct Scenario {
  std::string_view name;  // the switch, as in UnsafeSwitches()
  std::string (*run)(uint64_t seed, bool unsafe);
  uint64_t seeds;              // seeds 1..seeds are run
  std::string_view caught_by;  // the unsafe failure contains this
};

class KillMatrixScenario : public ::testing::TestWithParam<Scenario> {};

TEST_P(KillMatrixScenario, CatchesTheBrokenRule) {
  const Scenario& s = GetParam();
  uint64_t first = 0;
  int caught = 0;
  int safe_completed = 0;  // runs with the switch off that got through the whole setup
  for (uint64_t seed = 1; seed <= s.seeds; ++seed) {
    const std::string unsafe = s.run(seed, true);
    // With the switch off no checker fails; a setup step may miss its moment in a seed.
    const std::string safe = s.run(seed, false);
    if (safe.rfind("setup:", 0) != 0) {
      EXPECT_EQ(safe, "") << s.name << " off, seed " << seed;
      ++safe_completed;
    }
    if (unsafe.find(s.caught_by) == std::string::npos) continue;
    ++caught;
    if (first == 0) first = seed;
  }
  std::printf("kill %s (scenario): first caught at seed %llu, %d of %llu seeds\n", std::string(s.name).c_str(),
              static_cast<unsigned long long>(first), caught, static_cast<unsigned long long>(s.seeds));
  EXPECT_GT(caught, 0) << s.name << ": no seed caught it";
  EXPECT_GT(safe_completed, static_cast<int>(s.seeds / 2)) << s.name << ": the setup failed in most seeds";
}

std::vector<Scenario> ScenarioRows() {
  return {
      {"config", ConfigChangeBeforeNoop, 20, "leader completeness"},
      {"figure8", Figure8, 20, "leader completeness"},
      {"commit-last-new", CommitPastLastNew, 20, "was applied elsewhere"},
  };
}

INSTANTIATE_TEST_SUITE_P(Raft, KillMatrixScenario, ::testing::ValuesIn(ScenarioRows()),
                         [](const ::testing::TestParamInfo<Scenario>& p) { return TestName(p.param.name); });

// One row of the swarm's kill matrix: with the switch on, the first failing seed among
// 1..seeds fails with one of the expected checker messages; with it off, seeds 1 to that one
// pass. `seeds` leaves room above the first catch measured (core/raft/README.md) so that a
// small change to the swarm does not need new numbers at once.
struct Kill {
  std::string_view name;  // the switch, as in UnsafeSwitches()
  uint64_t seeds;
  std::vector<std::string_view> caught_by;
  int servers = 0;  // 0: the seed chooses
};

class KillMatrix : public ::testing::TestWithParam<Kill> {};

TEST_P(KillMatrix, SwarmCatchesTheBrokenRule) {
  const Kill& k = GetParam();
  const UnsafeSwitch* u = FindUnsafeSwitch(k.name);
  ASSERT_NE(u, nullptr) << k.name;
  RunConfig c;
  c.servers = k.servers;
  c.unsafe.*u->field = true;
  RunResult caught;
  for (c.seed = 1; c.seed <= k.seeds; ++c.seed) {
    caught = RunSeed(c);
    if (!caught.ok) break;
  }
  ASSERT_FALSE(caught.ok) << k.name << " (" << u->rule << "): none of seeds 1-" << k.seeds << " caught it";
  const uint64_t first = c.seed;
  bool expected = false;
  for (std::string_view what : k.caught_by) expected = expected || caught.failure.find(what) != std::string::npos;
  EXPECT_TRUE(expected) << k.name << ", seed " << first << ": an unexpected failure: " << caught.failure;
  std::printf("kill %s: first caught at seed %llu: %s\n", std::string(k.name).c_str(),
              static_cast<unsigned long long>(first), caught.failure.c_str());
  c.unsafe = raft::RaftOptions{};
  for (c.seed = 1; c.seed <= first; ++c.seed) {
    RunResult r = RunSeed(c);
    EXPECT_TRUE(r.ok) << k.name << " off, seed " << c.seed << ": " << r.failure << "\n  reproduce: " << ReproCommand(c.seed);
  }
}

// Messages of the checkers (checker.cc, harness.cc, Raft::CheckInvariants).
constexpr std::string_view kTwoVotes = "voted for both";
constexpr std::string_view kTwoLeaders = "two leaders";
constexpr std::string_view kCompleteness = "leader completeness";
constexpr std::string_view kDiverged = "was applied elsewhere";
constexpr std::string_view kAckLost = "no longer holds it";
constexpr std::string_view kStorm = "message storm";

std::vector<Kill> SwarmRows() {
  return {
      Kill{"vote", 60, {kTwoVotes, kTwoLeaders}},
      Kill{"campaign", 30, {kTwoVotes, kTwoLeaders}},
      Kill{"append-ack", 20, {kAckLost, kCompleteness, kDiverged, kStorm}},
      Kill{"ack", 20, {kCompleteness, kDiverged, "snapshot beyond anything applied", "acknowledged put"}, 1},
      Kill{"stale-vote", 200, {kTwoVotes, kTwoLeaders}},
      Kill{"vote-twice", 20, {"candidate that did not vote for itself", "vote changed within term", kTwoVotes}},
      Kill{"vote-log", 20, {kCompleteness, kDiverged}},
      Kill{"stale-append", 60, {kDiverged, kAckLost, kCompleteness}},
      Kill{"log-matching", 20, {kDiverged, "log matching"}},
      Kill{"truncate", 20, {kAckLost, kCompleteness, kStorm}},
      Kill{"higher-term", 20, {kTwoLeaders}},
      Kill{"nonvoter-votes", 200, {kCompleteness, kTwoLeaders}},
      Kill{"nonvoter-acks", 20, {kCompleteness, kDiverged}},
      Kill{"leader-append-only", 20, {kCompleteness, kDiverged}},
      Kill{"figure8", 250, {kCompleteness, kDiverged}},
      Kill{"config-concurrent", 250, {kCompleteness, kTwoLeaders, "liveness"}},
      Kill{"config-truncate", 30, {"configuration remembered"}},
  };
}

INSTANTIATE_TEST_SUITE_P(Raft, KillMatrix, ::testing::ValuesIn(SwarmRows()),
                         [](const ::testing::TestParamInfo<Kill>& p) { return TestName(p.param.name); });

// Every switch is in the matrix: a swarm row, or a named scenario where the swarm's first
// catch lies beyond what make test can afford ("config": none in 5,000 seeds;
// "commit-last-new": 4 in 5,000, the first at seed 1,221).
TEST(KillMatrixCoverage, EverySwitchHasARow) {
  std::set<std::string_view> rows;
  for (const Kill& k : SwarmRows()) rows.insert(k.name);
  for (const Scenario& sc : ScenarioRows()) rows.insert(sc.name);
  for (const UnsafeSwitch& u : UnsafeSwitches()) EXPECT_EQ(rows.count(u.name), 1u) << u.name << " has no row";
  EXPECT_EQ(rows.size(), UnsafeSwitches().size()) << "a row names no switch";
}

constexpr uint64_t kBuggifySeeds = 60;

// BUGGIFY is reached: across a few seeds (the swarm switches it on in about half), every
// marked site in raft.cc fires, and those runs pass (the 1,000 seeds of raft_sim_test too).
TEST(Buggify, SwarmReachesEverySite) {
  const std::vector<std::string> sites = {
      "raft.append.batch_of_one",         "raft.append.no_conflict_hint", "raft.append.probe_from_match",
      "raft.append.wait_for_heartbeat",   "raft.election.shortest_timeout", "raft.snapshot.one_byte_chunk",
      "raft.vote.delay_resend",
  };
  std::map<std::string, uint64_t> fired;
  std::map<std::string, int> seeds_firing;
  for (uint64_t seed = 1; seed <= kBuggifySeeds; ++seed) {
    RunConfig c;
    c.seed = seed;
    RunResult r = RunSeed(c);
    EXPECT_TRUE(r.ok) << r.summary << "\n" << r.failure;
    for (const auto& [site, n] : r.buggify_fired) {
      fired[site] += n;
      seeds_firing[site]++;
    }
  }
  for (const auto& [site, n] : fired) {
    std::printf("buggify %s: fired %llu times in %d of %llu seeds\n", site.c_str(), static_cast<unsigned long long>(n),
                seeds_firing[site], static_cast<unsigned long long>(kBuggifySeeds));
  }
  for (const std::string& site : sites) EXPECT_GT(fired[site], 0u) << site << " never fired";
  EXPECT_EQ(fired.size(), sites.size()) << "a site fired that the test does not list";
}

}  // namespace
}  // namespace muster::raft_sim
