// How fast whole agents simulate (issue 14's goals, one core): simulated seconds per wall-clock
// second for 3 servers + 2 clients with 100 KV writes per simulated second, and for 5 servers
// + 20 clients under the mixed workload (puts of fresh keys, reads in every mode, blocking
// watchers, read-then-cas rounds); and the kernel's own ceiling, events per wall second with
// a no-op handler (self-rescheduling callbacks), and machine steps per second of a ping
// machine whose handler only forwards what it gets (the network and the seam on top).
// Each agent run is a `sim` run without faults (RunGenerated: safety phase, then liveness).
//   bazel build -c opt //bench:sim_agents_bench && bazel-out/k8-opt/bin/bench/sim_agents_bench
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/seam/machine.h"
#include "sim/simulator.h"
#include "tests/agent_sim/generated_run.h"

namespace muster {
namespace {

double WallSeconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The kernel alone: `pending` callbacks, each rescheduling itself after a random delay and
// doing nothing else, until `events` have run.
void KernelNoop(uint64_t events, int pending) {
  sim::Simulator sim(1);
  Rng rng(7);
  uint64_t ran = 0;
  std::function<void()> tick = [&] {
    if (++ran >= events) return;
    sim.After(absl::Nanoseconds(1 + static_cast<int64_t>(rng.Uniform(1'000'000))), tick);
  };
  for (int i = 0; i < pending; ++i) sim.After(absl::Nanoseconds(1 + i), tick);
  const auto start = std::chrono::steady_clock::now();
  while (ran < events && sim.Step()) {
  }
  const double wall = WallSeconds(start);
  std::printf("kernel, no-op callbacks (%d pending):        %.2f M events/s (%llu in %.2f s)\n", pending,
              static_cast<double>(ran) / wall / 1e6, static_cast<unsigned long long>(ran), wall);
}

// A machine whose handler only passes each message on to the next node (no state, no disk):
// what the network, the event queue and the seam cost per delivered message.
class PingMachine final : public Machine {
 public:
  PingMachine(const MachineContext& ctx, Address next, bool starts) : next_(std::move(next)), starts_(starts) {}
  void Step(const Input& input, Effects* out) override {
    // The host's first input is a tick: the machines that start a ping send one then.
    const bool start = std::holds_alternative<TickInput>(input.what) && starts_;
    starts_ = false;
    if (!start && !std::holds_alternative<MessageInput>(input.what)) return;
    OutboundMessage m;
    m.to = next_;
    m.channel = Channel::kDatagram;
    m.payload = "p";
    out->messages.push_back(std::move(m));
  }

 private:
  Address next_;
  bool starts_;
};

void KernelPing(int nodes, int in_flight, Duration virtual_time) {
  sim::Simulator sim(1);
  for (int i = 1; i <= nodes; ++i) {
    const Address next = "n" + std::to_string(i % nodes + 1);
    const bool starts = i <= in_flight;
    sim.AddNode([next, starts](const MachineContext& ctx) { return std::make_unique<PingMachine>(ctx, next, starts); });
  }
  const auto start = std::chrono::steady_clock::now();
  sim.RunFor(virtual_time);
  const double wall = WallSeconds(start);
  std::printf("kernel, ping machines (%d nodes, %d in flight):  %.2f M machine steps/s (%llu in %.2f s)\n", nodes,
              in_flight, static_cast<double>(sim.events_processed()) / wall / 1e6,
              static_cast<unsigned long long>(sim.events_processed()), wall);
}

// This process's CPU seconds: on a shared machine the fair measure of "one core" (the wall
// clock is printed beside it).
double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Agents: the median of `runs` seeds of `config`.
void Agents(const char* what, agent_sim::GeneratedConfig config, int runs) {
  std::vector<double> ratios, wall_ratios;
  double puts_per_s = 0, steps = 0;
  for (int k = 0; k < runs; ++k) {
    config.seed = 1 + static_cast<uint64_t>(k);
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = CpuSeconds();
    const agent_sim::GeneratedResult r = agent_sim::RunGenerated(config, nullptr);
    const double cpu = CpuSeconds() - cpu_start;
    const double wall = WallSeconds(start);
    if (!r.outcome.ok) std::printf("  run failed: %s\n", r.outcome.report.c_str());
    const double simulated = absl::ToDoubleSeconds(r.virtual_time);
    ratios.push_back(simulated / cpu);
    wall_ratios.push_back(simulated / wall);
    puts_per_s += static_cast<double>(r.puts_acked) / absl::ToDoubleSeconds(config.duration) / runs;
    steps += static_cast<double>(r.events) / runs;
  }
  std::sort(ratios.begin(), ratios.end());
  std::sort(wall_ratios.begin(), wall_ratios.end());
  std::printf("%s:\n  %.0fx simulated s per CPU s (median of %d seeds; min %.0fx, max %.0fx; by the wall clock %.0fx), "
              "%.0f puts acknowledged per simulated s, %.0f machine steps per run\n",
              what, ratios[ratios.size() / 2], runs, ratios.front(), ratios.back(), wall_ratios[wall_ratios.size() / 2],
              puts_per_s, steps);
}

}  // namespace
}  // namespace muster

// With an argument, only that part: `kernel`, `small` (3 + 2) or `big` (5 + 20).
int main(int argc, char** argv) {
  using namespace muster;
  const std::string only = argc > 1 ? argv[1] : "";
  if (only.empty() || only == "kernel") {
    KernelNoop(20'000'000, 1024);
    KernelPing(5, 5, absl::Seconds(1000));
    KernelPing(25, 25, absl::Seconds(1000));
  }

  agent_sim::GeneratedConfig small;
  small.servers = 3;
  small.clients = 2;
  small.duration = absl::Seconds(60);
  // 60% of the kv workload's requests are puts: 167 requests per second are 100 puts.
  small.rate = 167;
  if (only.empty() || only == "small") Agents("3 servers + 2 clients, 100 KV writes per simulated s", small, 5);

  agent_sim::GeneratedConfig big;
  big.servers = 5;
  big.clients = 20;
  big.duration = absl::Seconds(60);
  big.workload = agent_sim::WorkloadKind::kCas;
  big.rate = 50;
  if (only.empty() || only == "big") {
    Agents("5 servers + 20 clients, mixed workload (kv + cas) at 50 requests per simulated s", big, 5);
  }
  return 0;
}
