// The one interface both hosts drive: a core state machine with a single entry point.
// Hosts construct machines with a MachineFactory on every start and restart, so a machine
// rebuilds its state from storage (and only from storage) after a crash.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "core/base/log.h"
#include "core/base/node_id.h"
#include "core/base/time.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "core/seam/storage_view.h"

namespace muster {

class Machine {
 public:
  virtual ~Machine() = default;
  // Handles one input and appends what the host must do to `out`. Deterministic: the
  // same machine state and input give the same effects and the same next state.
  virtual void Step(const Input& input, Effects* out) = 0;
};

struct MachineContext {
  NodeId id;
  Address address;           // where other nodes reach this one (its kLan endpoint)
  // Where other nodes reach each endpoint (index: Endpoint), "" for one the host does not
  // open. A host that opens only one endpoint sets kLan's to `address`.
  std::array<Address, kEndpointCount> endpoints;
  uint64_t seed = 0;         // for the machine's own Rng; the host draws it
  Time now;                  // the start time
  LogSink* log = nullptr;    // may be null
  const StorageView* storage = nullptr;  // durable state after a (re)start; outlives the machine
  uint64_t incarnation = 0;  // how many times the host has started this node (0 first)
};

using MachineFactory = std::function<std::unique_ptr<Machine>(const MachineContext&)>;

}  // namespace muster
