// Simulator::SetClockOffset: a node's clock reads virtual time + offset, its wake-ups are taken
// in its own clock, and within one life it never runs backwards.
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "sim/simulator.h"

namespace muster::sim {
namespace {

// Records the time of every input and asks to be woken every 100 ms of its own clock.
class ClockReader final : public Machine {
 public:
  explicit ClockReader(const MachineContext& ctx) : start(ctx.now) {}
  void Step(const Input& input, Effects* out) override {
    seen.push_back(input.now);
    out->WakeAt(input.now + absl::Milliseconds(100));
  }
  Time start;
  std::vector<Time> seen;
};

TEST(ClockSkewTest, ANodeSeesVirtualTimePlusItsOffset) {
  Simulator sim(1);
  NodeId plain = sim.AddNode([](const MachineContext& c) { return std::make_unique<ClockReader>(c); });
  NodeId ahead = sim.AddNode([](const MachineContext& c) { return std::make_unique<ClockReader>(c); });
  sim.SetClockOffset(ahead, absl::Seconds(7));
  sim.RunFor(absl::Seconds(1));
  auto* p = static_cast<ClockReader*>(sim.machine(plain));
  auto* a = static_cast<ClockReader*>(sim.machine(ahead));
  ASSERT_FALSE(a->seen.empty());
  // The forward step took effect at once; the wake-ups still come every 100 ms.
  EXPECT_EQ(p->seen.back() + absl::Seconds(7), a->seen.back());
  EXPECT_EQ(a->seen.size(), p->seen.size());
  for (size_t i = 1; i < a->seen.size(); ++i) EXPECT_GE(a->seen[i], a->seen[i - 1]);
}

TEST(ClockSkewTest, ASmallerOffsetWaitsForTheNextLifeSoTheClockNeverRunsBack) {
  Simulator sim(2);
  NodeId n = sim.AddNode([](const MachineContext& c) { return std::make_unique<ClockReader>(c); });
  sim.SetClockOffset(n, absl::Seconds(5));
  sim.RunFor(absl::Seconds(1));
  sim.SetClockOffset(n, -absl::Seconds(5));
  sim.RunFor(absl::Seconds(1));
  auto* m = static_cast<ClockReader*>(sim.machine(n));
  for (size_t i = 1; i < m->seen.size(); ++i) ASSERT_GE(m->seen[i], m->seen[i - 1]);
  EXPECT_EQ(sim.ClockOffset(n), absl::Seconds(5));
  sim.Kill(n);
  sim.Restart(n);
  m = static_cast<ClockReader*>(sim.machine(n));
  EXPECT_EQ(m->start, sim.now() - absl::Seconds(5));
  EXPECT_EQ(sim.ClockOffset(n), -absl::Seconds(5));
}

}  // namespace
}  // namespace muster::sim
