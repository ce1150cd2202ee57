// The workloads beside kv (register, lock, events, mixed: AgentRun::set_workload_shares) in
// generated runs of 3 servers and 2 clients under partitions and torn kills: every run passes,
// and each wired checker's line in `checked` shows it judged something (non-zero counts) and
// said ok — stale reads, the LAN membership agreement, the catalog, lock safety, user events.
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/agent_sim/generated_run.h"

namespace muster::agent_sim {
namespace {

constexpr uint64_t kFirstSeed = 1;
constexpr uint64_t kSeeds = 3;

GeneratedConfig Base(WorkloadKind w) {
  GeneratedConfig c;
  c.servers = 3;
  c.clients = 2;
  c.partition = true;
  c.kill = KillMode::kTorn;
  c.workload = w;
  c.rate = 50;
  return c;
}

// The `checked` line starting (after its indent) with `prefix`, or empty.
std::string Line(const std::string& checked, const std::string& prefix) {
  size_t at = checked.find("  " + prefix);
  if (at == std::string::npos) return "";
  return checked.substr(at, checked.find('\n', at) - at);
}

// The number just before `word` in `line` (e.g. Count("5 of 21 acquires", " of") == 5).
long Count(const std::string& line, const std::string& word) {
  const size_t at = line.find(word);
  if (at == std::string::npos) return -1;
  size_t start = at;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(line[start - 1]))) --start;
  return start == at ? -1 : std::stol(line.substr(start, at - start));
}

// Runs kSeeds seeds of `w` from kFirstSeed; every run must pass, and `each` sees its `checked`.
template <typename Each>
void RunSeeds(WorkloadKind w, Each each) {
  for (uint64_t seed = kFirstSeed; seed < kFirstSeed + kSeeds; ++seed) {
    GeneratedConfig c = Base(w);
    c.seed = seed;
    GeneratedResult r = RunGenerated(c, nullptr);
    ASSERT_TRUE(r.outcome.ok) << r.outcome.report;
    const std::string stale = Line(r.checked, "stale and default-mode reads");
    EXPECT_TRUE(absl::EndsWith(stale, ", ok")) << stale;
    EXPECT_GT(Count(stale, " reads ("), 0) << stale;
    const std::string members = Line(r.checked, "gossip membership agrees");
    EXPECT_TRUE(absl::StrContains(members, "): ok")) << members;
    each(r.checked);
    std::printf("%s seed %llu:\n%s", WorkloadName(w), static_cast<unsigned long long>(seed), r.checked.c_str());
  }
}

TEST(Workloads, RegisterClientsServicesReachTheCatalog) {
  RunSeeds(WorkloadKind::kRegister, [](const std::string& checked) {
    const std::string line = Line(checked, "clients' services in the catalog");
    EXPECT_TRUE(absl::StrContains(line, "; ok, ")) << line;
    EXPECT_GT(Count(line, " registers"), 0) << line;
    EXPECT_GT(Count(line, " check updates"), 0) << line;
    EXPECT_GT(Count(line, " agents,"), 0) << line;
  });
}

TEST(Workloads, LockSessionsAcquireReleaseAndAreInvalidated) {
  RunSeeds(WorkloadKind::kLock, [](const std::string& checked) {
    const std::string line = Line(checked, "lock safety");
    EXPECT_TRUE(absl::EndsWith(line, "; ok")) << line;
    EXPECT_GT(Count(line, " sessions"), 0) << line;
    EXPECT_GT(Count(line, " of "), 0) << line;  // acquires granted
    EXPECT_GT(Count(line, " holder reads"), 0) << line;
    EXPECT_GT(Count(line, " invalidations seen"), 0) << line;
  });
}

TEST(Workloads, EventsReachEveryAgentOnce) {
  RunSeeds(WorkloadKind::kEvents, [](const std::string& checked) {
    const std::string line = Line(checked, "exactly-once user events");
    EXPECT_TRUE(absl::EndsWith(line, "; ok")) << line;
    EXPECT_GT(Count(line, " fired"), 0) << line;
    EXPECT_GT(Count(line, " deliveries owed"), 0) << line;
    EXPECT_GT(Count(line, " handler runs"), Count(line, " fired")) << line;
  });
}

TEST(Workloads, MixedRunsEveryChecker) {
  RunSeeds(WorkloadKind::kMixed, [](const std::string& checked) {
    for (const char* prefix : {"clients' services in the catalog", "lock safety", "exactly-once user events", "cas rounds",
                               "linearizability of the kv history"}) {
      EXPECT_FALSE(Line(checked, prefix).empty()) << prefix << " missing in\n" << checked;
    }
  });
}

}  // namespace
}  // namespace muster::agent_sim
