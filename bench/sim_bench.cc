// How many events per second the simulator kernel runs: the ceiling on how many seeds and
// how much virtual time every simulation test can afford. Nodes chatter over a faulty
// network (loss, duplication, jitter) and persist before sending, so every kind of event
// (messages, timers, syncs) is in the mix.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sim/chatter_machine.h"
#include "sim/simulator.h"

namespace muster::sim {
namespace {

void BM_SimulatorEvents(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  uint64_t events = 0;
  uint64_t seed = 1;
  for (auto _ : state) {
    Simulator sim(seed++);
    LinkConfig link;
    link.loss = 0.05;
    link.duplicate = 0.01;
    sim.network().SetDefaultLink(link);
    ChatterConfig config;
    for (int i = 1; i <= nodes; ++i) config.peers.push_back("n" + std::to_string(i));
    config.persist_before_send = true;
    for (int i = 0; i < nodes; ++i) sim.AddNode(ChatterMachine::Factory(config));
    sim.RunFor(absl::Seconds(2));
    events += sim.events_processed();
    benchmark::DoNotOptimize(sim.fingerprint());
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SimulatorEvents)->Arg(5)->Arg(20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace muster::sim
