// The seed loop every simulation shares: which seeds to run (flags for the harness binaries,
// environment variables for `bazel test`), running them, and the summary. One convention for
// all: `--seed S` (one run, verbose summary), `--seeds K [--first F]` (K consecutive seeds
// from F); in tests `<PREFIX>_SEEDS` and `<PREFIX>_SEED` (first) override a suite's range, so
// a long sweep is `RAFT_SIM_SEEDS=100000 bazel test ...` without recompiling.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace muster::sim::testing {

struct SeedRange {
  uint64_t first = 1;
  uint64_t count = 1;
};

// The suite's default range, unless the environment names another.
SeedRange SeedsFromEnv(const std::string& prefix, SeedRange defaults);

// What one seed's run reports to the loop.
struct SeedOutcome {
  bool ok = true;
  std::string summary;  // one line: what the seed chose and what happened
  std::string report;   // CheckerBase::Report(): failure, seed, repro command
  uint64_t fingerprint = 0;
};

struct LoopSummary {
  uint64_t runs = 0;
  uint64_t failed = 0;
  uint64_t first_failed_seed = 0;  // 0: none
};

// Runs every seed of `range`; prints each failure's report (and with `print_each`, every
// summary and fingerprint) to `out`, then "K seeds from F, N failed".
LoopSummary RunSeeds(SeedRange range, const std::function<SeedOutcome(uint64_t)>& run, std::FILE* out,
                     bool print_each = false);

// Flags common to every harness binary. Parse() takes the ones it knows out of argv and
// leaves the rest (in order) for the harness; an unknown flag is the harness's to refuse.
struct HarnessFlags {
  SeedRange seeds{1, 100};
  bool single = false;   // --seed: one run, print its summary
  bool verbose = false;  // --verbose: the machines' logs to stderr
  std::string unsafe;    // --unsafe NAME: switch one rule off (kill-matrix runs)
  std::vector<std::string> rest;
  std::string error;     // non-empty: bad usage
};
HarnessFlags ParseHarnessFlags(int argc, char** argv);

// For a harness binary handed an --unsafe name it does not know: lists the switches it has
// (each with a `name` and the `rule` it breaks) on stderr; returns the exit code, 2.
template <typename Switches>
int RefuseUnknownUnsafe(const std::string& name, const Switches& switches) {
  std::fprintf(stderr, "unknown --unsafe %s; one of:\n", name.c_str());
  for (const auto& u : switches) {
    std::fprintf(stderr, "  %-20s %s\n", std::string(u.name).c_str(), std::string(u.rule).c_str());
  }
  return 2;
}

// Runs `run` twice for `seed` and compares fingerprints (FoundationDB's cheap whole-run
// determinism check); an empty string when they agree.
std::string CheckDeterministic(uint64_t seed, const std::function<SeedOutcome(uint64_t)>& run);

}  // namespace muster::sim::testing
