// The gossip swarm's long mode, on sim/testing's seed loop: runs seeds and prints, for any
// failure, the seed and the one command that reproduces it.
//   bazel run //tests/gossip_sim:gossip_sim -- --seeds 1000 [--first 1]
//   bazel run //tests/gossip_sim:gossip_sim -- --seed 1234 --verbose   (the fault schedule)
//   --unsafe NAME turns on one unsafe_* switch (swarm.cc's UnsafeSwitches(); an unknown
//   name lists them); --no-view-checkers leaves only the end-to-end checkers.
#include <cstdio>
#include <string>
#include <vector>

#include "sim/testing/seed_loop.h"
#include "tests/gossip_sim/swarm.h"

int main(int argc, char** argv) {
  namespace gt = muster::gossip::testing;
  namespace st = muster::sim::testing;
  const st::HarnessFlags flags = st::ParseHarnessFlags(argc, argv);
  bool view_checkers = true;
  std::vector<std::string> unknown;
  for (const std::string& a : flags.rest) {
    if (a == "--no-view-checkers") {
      view_checkers = false;
    } else {
      unknown.push_back(a);
    }
  }
  if (!flags.error.empty() || !unknown.empty()) {
    std::fprintf(stderr, "%s\nusage: gossip_sim [--seeds N] [--first S] | --seed S [--verbose]; [--unsafe NAME] [--no-view-checkers]\n",
                 flags.error.empty() ? ("unknown argument " + unknown[0]).c_str() : flags.error.c_str());
    return 2;
  }
  if (!flags.unsafe.empty() && gt::FindUnsafeSwitch(flags.unsafe) == nullptr) {
    return st::RefuseUnknownUnsafe(flags.unsafe, gt::UnsafeSwitches());
  }
  const st::LoopSummary summary = st::RunSeeds(
      flags.seeds,
      [&](uint64_t seed) {
        gt::SwarmConfig c;
        c.seed = seed;
        c.unsafe = flags.unsafe;
        c.verbose = flags.verbose;
        c.view_checkers = view_checkers;
        const gt::SwarmResult r = gt::RunSwarm(c);
        return st::SeedOutcome{r.ok, r.summary, r.report, r.fingerprint};
      },
      stdout, flags.single);
  return summary.failed == 0 ? 0 : 1;
}
