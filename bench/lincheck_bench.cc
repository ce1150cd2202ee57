// The linearizability checker's time on KV histories of 1,000 and 10,000 operations from a
// real register (5 clients, 10 keys, about 1.7 ops in flight, 2% maybe-ops): linearizable
// ones (the common case: the search rarely backtracks), ones with one flipped answer (the
// failing key's search must exhaust its space), and one hot key (all ops on one register).
// The histories are generated outside the timed part. Counters: search steps per history,
// and how many histories came out a violation or undecided (a flipped answer can be legal).
#include <cstdint>
#include <cstdlib>

#include "benchmark/benchmark.h"
#include "sim/checkers/linearizability.h"
#include "sim/checkers/random_kv_history.h"

namespace muster::sim::checkers {
namespace {

RandomKvHistoryOptions Workload(int ops, int keys, int clients) {
  RandomKvHistoryOptions options;
  options.ops = ops;
  options.keys = keys;
  options.clients = clients;
  options.maybe_share = 0.02;
  return options;
}

// The checker's budgets, from LINCHECK_STEPS_PER_KEY_MAX and LINCHECK_CACHE_BYTES_PER_KEY_MAX
// when set (to see how much a hard history needs).
LinearizabilityOptions Budgets() {
  LinearizabilityOptions options;
  if (const char* steps = std::getenv("LINCHECK_STEPS_PER_KEY_MAX")) {
    options.steps_per_key_max = std::atoll(steps);
  }
  if (const char* bytes = std::getenv("LINCHECK_CACHE_BYTES_PER_KEY_MAX")) {
    options.cache_bytes_per_key_max = std::atoll(bytes);
  }
  return options;
}

void Run(benchmark::State& state, const RandomKvHistoryOptions& base, bool flip) {
  uint64_t seed = 1;
  int64_t steps = 0;
  int64_t histories = 0;
  int64_t undecided = 0;
  int64_t violations = 0;
  for (auto _ : state) {
    state.PauseTiming();
    RandomKvHistoryOptions options = base;
    options.seed = seed;
    KvHistory history = RandomLinearizableKvHistory(options);
    if (flip) history = FlipOneAnswer(history, seed);
    ++seed;
    state.ResumeTiming();
    const LinearizabilityResult result = CheckLinearizable(history, Budgets());
    benchmark::DoNotOptimize(result.verdict);
    steps += result.steps;
    ++histories;
    if (result.undecided()) ++undecided;
    if (result.violation()) ++violations;
    if (!flip && !result.ok()) state.SkipWithError("a linearizable history did not pass");
  }
  state.counters["steps_per_history"] = static_cast<double>(steps) / histories;
  state.counters["violations"] = static_cast<double>(violations);
  state.counters["undecided"] = static_cast<double>(undecided);
  state.SetItemsProcessed(histories * base.ops);
}

void BM_Linearizable(benchmark::State& state) {
  Run(state, Workload(static_cast<int>(state.range(0)), 10, 5), /*flip=*/false);
}
BENCHMARK(BM_Linearizable)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_OneFlippedAnswer(benchmark::State& state) {
  Run(state, Workload(static_cast<int>(state.range(0)), 10, 5), /*flip=*/true);
}
BENCHMARK(BM_OneFlippedAnswer)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_HotKey(benchmark::State& state) {
  Run(state, Workload(static_cast<int>(state.range(0)), 1, 5), /*flip=*/false);
}
BENCHMARK(BM_HotKey)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_HotKeyFlipped(benchmark::State& state) {
  Run(state, Workload(static_cast<int>(state.range(0)), 1, 5), /*flip=*/true);
}
BENCHMARK(BM_HotKeyFlipped)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace muster::sim::checkers
