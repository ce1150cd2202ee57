// The Raft simulator's long mode, on sim/testing's seed loop: runs seeds and prints, for any
// failure, the seed and the one command that reproduces it.
//   bazel run //tests/raft_sim:raft_sim -- --seeds 10000 [--first 1]
//   bazel run //tests/raft_sim:raft_sim -- --seed 1234 --verbose
//   options: --servers 3|5|7  --safety_s SECONDS  --unsafe NAME (a RaftOptions::unsafe_* switch:
//   harness.cc's UnsafeSwitches(); an unknown name lists them)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/testing/seed_loop.h"
#include "tests/raft_sim/harness.h"

namespace rs = muster::raft_sim;
namespace st = muster::sim::testing;

int Usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "raft_sim: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: raft_sim [--seeds N] [--first S] | --seed S [--verbose]  [--servers N] [--safety_s S] "
               "[--unsafe NAME]\n");
  return 2;
}

int main(int argc, char** argv) {
  const st::HarnessFlags flags = st::ParseHarnessFlags(argc, argv);
  if (!flags.error.empty()) return Usage(flags.error);
  int servers = 0, safety_s = 0;
  for (size_t i = 0; i < flags.rest.size(); ++i) {
    const std::string& a = flags.rest[i];
    if ((a == "--servers" || a == "--safety_s") && i + 1 < flags.rest.size()) {
      (a == "--servers" ? servers : safety_s) = std::atoi(flags.rest[++i].c_str());
    } else {
      return Usage("unknown flag " + a);
    }
  }
  const rs::UnsafeSwitch* unsafe = nullptr;
  if (!flags.unsafe.empty() && (unsafe = rs::FindUnsafeSwitch(flags.unsafe)) == nullptr) {
    return st::RefuseUnknownUnsafe(flags.unsafe, rs::UnsafeSwitches());
  }
  const st::LoopSummary summary = st::RunSeeds(
      flags.seeds,
      [&](uint64_t seed) {
        rs::RunConfig c;
        c.seed = seed;
        c.verbose = flags.verbose;
        c.servers = servers;
        if (safety_s > 0) c.safety = absl::Seconds(safety_s);
        if (unsafe != nullptr) c.unsafe.*unsafe->field = true;
        const rs::RunResult r = rs::RunSeed(c);
        return st::SeedOutcome{r.ok, r.summary, r.report, r.fingerprint};
      },
      stdout, flags.single);
  return summary.failed == 0 ? 0 : 1;
}
