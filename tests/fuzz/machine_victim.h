// Hosts one core Machine for the decoder fuzzers: a MemoryStore for its writes (every sync
// write acknowledged at once), messages checked against the seam's limits and dropped, time
// advancing a little with every input and ticks delivered when a wake-up is due.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/seam/machine.h"
#include "io/memory_store.h"

namespace muster::fuzz {

class MachineVictim {
 public:
  // `after_step` (may be empty) runs after every step of the machine: where per-node
  // invariants are checked, one step at a time.
  MachineVictim(MachineFactory factory, Address address, uint64_t seed,
                std::function<void(Machine&)> after_step = {});
  // Delivers a message from `from`, then whatever the machine's effects ask for.
  void Deliver(const Address& from, Channel channel, std::string payload);
  Machine& machine() { return *machine_; }
  uint64_t effect_bytes_max() const { return effect_bytes_max_; }
  // Inputs after which the machine sent something: a sign the corpus reaches past parsing.
  uint64_t inputs_answered() const { return inputs_answered_; }

 private:
  void Run(InputEvent what);
  void Carry(Effects& fx, int depth);

  std::function<void(Machine&)> after_step_;
  io::MemoryStore store_;
  std::unique_ptr<Machine> machine_;
  Time now_;
  uint64_t step_ = 0;
  std::optional<Time> wake_at_;
  uint64_t effect_bytes_max_ = 0;  // the largest batch of effects one input produced
  uint64_t inputs_answered_ = 0;
};

}  // namespace muster::fuzz
