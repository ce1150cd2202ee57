// Composition of several core components inside one Machine (the agent hosts raft, two serf
// pools, the state store's duties, health checks): the seam's per-machine rules kept by
// construction, so no composite re-derives them.
//  - One write-id sequence: each component numbers its own writes (1, 2, ... per life); the
//    composition renumbers them, in the order batches are merged, into the machine's one
//    increasing sequence (effects.h rule 1), and rewrites after_write_id on messages and
//    responses to the machine's ids (rule 2).
//  - Durability routed to the writer: the host's WriteDurableInput{machine id} means that
//    write and every earlier one are durable (rule 1's prefix), so each component whose
//    writes it covers learns the highest of its own ids now durable, once.
//  - Process ids the same way: one machine sequence, the exit routed to the starter.
//  - The earliest wake-up of all: each component's batch carries its own next wake-up (the
//    calling convention in core/seam/README.md: every entry point requests it); the
//    composition keeps the latest request per component and puts the earliest of them in
//    the machine's batch.
// Storage keys are not renamed: each component owns a key prefix ("raft/", "serf/", ...),
// stated where the component is built.
//
// Never: reorder writes of one component, or acknowledge a write to a component before the
// host has acknowledged a machine write at or after it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/base/time.h"
#include "core/seam/effects.h"

namespace muster {

class Composition {
 public:
  using ComponentId = size_t;

  // Registers a component; ids count from 0 in registration order.
  ComponentId Add(std::string name);
  size_t size() const { return components_.size(); }
  const std::string& name(ComponentId c) const { return components_.at(c).name; }

  // Moves component `c`'s batch into the machine's batch `out`: writes renumbered and
  // appended in order, after_write_id rewritten, process ids renumbered, the rest appended.
  // `batch.wake_at` replaces c's previous wake-up request (absent: c wants none), and
  // out->wake_at becomes the earliest request of all components.
  void Merge(ComponentId c, Effects&& batch, Effects* out);

  // The component's write that the host's WriteDurableInput{machine_write_id} makes durable.
  struct Durable {
    ComponentId component;
    uint64_t write_id;  // the component's own id: it and every earlier one are durable
  };
  // Every component whose durable prefix moves, in registration order; each learns of a
  // write at most once.
  std::vector<Durable> OnDurable(uint64_t machine_write_id);

  // The component that started machine process `process_id`, and its own id for it; nullopt
  // for an id the composition never issued or already routed (a stale exit after a restart).
  struct Process {
    ComponentId component;
    uint64_t process_id;
  };
  std::optional<Process> OnProcessExited(uint64_t machine_process_id);

  // The earliest wake-up over all components (what Merge last wrote into out->wake_at).
  std::optional<Time> wake_at() const { return earliest_wake_at_; }
  // Writes issued but not yet acknowledged, over all components (bounded: see .cc).
  size_t writes_in_flight() const { return in_flight_.size(); }

 private:
  struct Component {
    std::string name;
    uint64_t last_write_id = 0;     // the component's own numbering, to check it increases
    uint64_t durable_write_id = 0;  // the highest of its own ids acknowledged to it
    absl::btree_map<uint64_t, uint64_t> machine_ids;  // its writes not yet durable -> machine id
    std::optional<Time> wake_at;
  };
  struct InFlight {
    uint64_t machine_write_id;
    ComponentId component;
    uint64_t write_id;
  };
  // The machine id that gates on the component's write `write_id`: 0 if already durable.
  uint64_t GateFor(const Component& c, uint64_t write_id) const;
  // A pass over the components' requests (what earliest_wake_at_ caches).
  std::optional<Time> EarliestWakeAt() const;

  std::vector<Component> components_;
  uint64_t next_write_id_ = 1;
  uint64_t durable_write_id_ = 0;
  std::optional<Time> earliest_wake_at_;  // the earliest of the components' wake_at
  std::deque<InFlight> in_flight_;  // by machine write id, ascending
  uint64_t next_process_id_ = 1;
  absl::btree_map<uint64_t, Process> processes_;  // running, by machine process id
};

}  // namespace muster
