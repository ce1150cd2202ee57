// A test machine hosting three components through core/seam's Composition, as the agent
// will host its five: raft (the KvMachine), a LAN serf pool (SerfMachine) and a chatter that
// persists a counter before each message it sends (sim/chatter_machine.h), so two of them
// write to storage with their own write ids and gate messages on them. It shows the
// composition rules hold under the simulator: one increasing write-id sequence (the
// simulator's executor checks it), each durable acknowledgement routed to its writer (raft
// commits only if its own syncs come back), the earliest wake-up of all (serf keeps probing,
// raft keeps its heartbeats), and messages routed by a one-byte component tag.
//
// Requests: "raft.<method>", "serf.<method>" and "chatter.<method>" go to that component with
// the prefix removed ("chatter.exec" starts a process: its exit is routed back). Storage: raft owns "raft/", the chatter "chatter/"; serf writes nothing.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "core/gossip/serf_machine.h"
#include "core/raft/kv_machine.h"
#include "core/seam/composition.h"
#include "core/seam/machine.h"
#include "sim/chatter_machine.h"

namespace muster::composition_test {

struct ComposedOptions {
  raft::KvMachineOptions raft;
  std::vector<Address> serf_seeds;  // joined at start
  sim::ChatterConfig chatter;       // peers as addresses; sent with persist-before-send
};

class ComposedMachine final : public Machine {
 public:
  ComposedMachine(const MachineContext& ctx, const ComposedOptions& options);
  void Step(const Input& input, Effects* out) override;

  const raft::KvMachine& raft() const { return *raft_; }
  const gossip::SerfMachine& serf() const { return *serf_; }
  const sim::ChatterMachine& chatter() const { return *chatter_; }
  const Composition& composition() const { return composition_; }

  static MachineFactory Factory(ComposedOptions options);

 private:
  static constexpr size_t kComponents = 3;
  // The one-byte tag in front of every message, by component id.
  static constexpr std::array<char, kComponents> kTags = {'r', 'g', 'c'};

  Machine* Child(Composition::ComponentId c);
  // Steps component `c` with `input` and merges its batch (messages tagged) into `out`.
  void StepChild(Composition::ComponentId c, const Input& input, Effects* out);

  Composition composition_;
  std::unique_ptr<raft::KvMachine> raft_;
  std::unique_ptr<gossip::SerfMachine> serf_;
  std::unique_ptr<sim::ChatterMachine> chatter_;
};

}  // namespace muster::composition_test
