// The gossip swarm's long mode: runs seeds and prints, for any failure, the one command that
// reproduces it.
//   bazel run //tests/gossip_sim:gossip_sim -- --seeds 1000 [--first 1]
//   bazel run //tests/gossip_sim:gossip_sim -- --seed 1234 --verbose
//   --unsafe NAME turns on one unsafe_* switch (swarm.cc's UnsafeSwitches(); an unknown
//   name lists them).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/gossip_sim/swarm.h"

namespace {

int Usage() {
  std::fprintf(stderr, "usage: gossip_sim [--seeds N] [--first S] | --seed S [--verbose]; [--unsafe NAME]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using muster::gossip::testing::FindUnsafeSwitch;
  using muster::gossip::testing::UnsafeSwitches;
  uint64_t first = 1, seeds = 100;
  bool single = false, verbose = false;
  std::string unsafe;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--seeds" && has_value) {
      seeds = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--first" && has_value) {
      first = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && has_value) {
      first = std::strtoull(argv[++i], nullptr, 10);
      seeds = 1;
      single = true;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--unsafe" && has_value) {
      unsafe = argv[++i];
      if (FindUnsafeSwitch(unsafe) == nullptr) {
        std::fprintf(stderr, "unknown --unsafe %s; one of:\n", unsafe.c_str());
        for (const auto& u : UnsafeSwitches()) {
          std::fprintf(stderr, "  %-18s %s\n", std::string(u.name).c_str(), std::string(u.rule).c_str());
        }
        return 2;
      }
    } else {
      return Usage();
    }
  }
  uint64_t failures = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    muster::gossip::testing::SwarmConfig c;
    c.seed = seed;
    c.unsafe = unsafe;
    c.verbose = verbose;
    const muster::gossip::testing::SwarmResult r = muster::gossip::testing::RunSwarm(c);
    if (single || !r.ok) {
      std::printf("%s fingerprint=%016llx\n", r.summary.c_str(), static_cast<unsigned long long>(r.fingerprint));
    }
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed=%llu: %s\n  reproduce: %s\n", static_cast<unsigned long long>(seed), r.failure.c_str(),
                  muster::gossip::testing::ReproCommand(seed, unsafe).c_str());
    }
    std::fflush(stdout);
  }
  std::printf("%llu seeds from %llu, %llu failed\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(failures));
  return failures == 0 ? 0 : 1;
}
