// The Raft simulator's long mode: runs seeds and prints, for any failure, the one command
// that reproduces it.
//   bazel run //tests/raft_sim:raft_sim -- --seeds 10000 [--first 1]
//   bazel run //tests/raft_sim:raft_sim -- --seed 1234 --verbose
//   options: --servers 3|5|7  --safety_s SECONDS  --unsafe NAME (a RaftOptions::unsafe_* switch:
//   harness.cc's UnsafeSwitches(); an unknown name lists them)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/raft_sim/harness.h"

int main(int argc, char** argv) {
  uint64_t first = 1, seeds = 100;
  bool single = false, verbose = false;
  std::string unsafe;
  int servers = 0;
  int safety_s = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seeds" && i + 1 < argc) seeds = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--first" && i + 1 < argc) first = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--seed" && i + 1 < argc) {
      first = std::strtoull(argv[++i], nullptr, 10);
      seeds = 1;
      single = true;
    } else if (a == "--verbose") verbose = true;
    else if (a == "--servers" && i + 1 < argc) servers = std::atoi(argv[++i]);
    else if (a == "--safety_s" && i + 1 < argc) safety_s = std::atoi(argv[++i]);
    else if (a == "--unsafe" && i + 1 < argc) {
      unsafe = argv[++i];
      if (muster::raft_sim::FindUnsafeSwitch(unsafe) == nullptr) {
        std::fprintf(stderr, "unknown --unsafe %s; one of:\n", unsafe.c_str());
        for (const auto& u : muster::raft_sim::UnsafeSwitches()) {
          std::fprintf(stderr, "  %-20s %s\n", std::string(u.name).c_str(), std::string(u.rule).c_str());
        }
        return 2;
      }
    }
    else {
      std::fprintf(stderr,
                   "usage: raft_sim [--seeds N] [--first S] | --seed S [--verbose]  [--servers N] [--safety_s S] "
                   "[--unsafe NAME]\n");
      return 2;
    }
  }
  uint64_t failures = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    muster::raft_sim::RunConfig c;
    c.seed = seed;
    c.verbose = verbose;
    c.servers = servers;
    if (safety_s > 0) c.safety = absl::Seconds(safety_s);
    if (!unsafe.empty()) c.unsafe.*muster::raft_sim::FindUnsafeSwitch(unsafe)->field = true;
    muster::raft_sim::RunResult r = muster::raft_sim::RunSeed(c);
    if (single || !r.ok) std::printf("%s fingerprint=%016llx\n", r.summary.c_str(), static_cast<unsigned long long>(r.fingerprint));
    if (!r.ok) {
      ++failures;
      std::printf("FAIL seed=%llu: %s\n  reproduce: %s\n", static_cast<unsigned long long>(seed), r.failure.c_str(),
                  muster::raft_sim::ReproCommand(seed).c_str());
      std::fflush(stdout);
    }
  }
  std::printf("%llu seeds from %llu, %llu failed\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(failures));
  return failures == 0 ? 0 : 1;
}
