// The writes of the state store the agent proposes for clients (MethodKind::kWrite) that are
// one log command each and answered from the apply's result alone: the command built from the
// call (its checks done before anything is proposed), and the answer's body once it applies.
// Pure. Writes with more to them (session create's ID, autopilot's leader duties, membership
// changes) stay in the agent machine.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/time.h"
#include "core/state/fsm.h"
#include "core/state/store.h"
#include "proto/agent.pb.h"
#include "proto/state.pb.h"

namespace muster::agent {

// How an applied write is answered.
enum class WriteAnswer : uint8_t {
  kTrueFalse,  // Consul's `true` / `false` (kv put and delete: whether it happened)
  kTrue,       // `true` (catalog register and deregister)
  kEmpty,      // no body
  kTxn,        // {"Results": [...], "Errors": null}, or 409 with the errors
};

struct StoreWrite {
  proto::state::Command command;
  WriteAnswer answer = WriteAnswer::kTrueFalse;
};

struct StoreWriteContext {
  std::string_view node_name;   // this agent's
  std::string_view datacenter;  // this agent's
  // AgentMachineOptions::unsafe_acquire_takes_held_locks (the simulator's mutation check only).
  bool unsafe_acquire_takes_held_locks = false;
  // AgentMachineOptions::unsafe_acquire_from_suspect_holders: set, whether gossip suspects
  // the holder's node or calls it dead (then an acquire takes its lock, as above).
  std::function<bool(std::string_view node)> unsafe_holder_node_suspect;
};

// NOT_FOUND: `method` is not one of these writes. INVALID_ARGUMENT: the client's mistake.
absl::StatusOr<StoreWrite> BuildStoreWrite(const state::Store& store, const StoreWriteContext& context,
                                           std::string_view method, const proto::agent::Call& call, Time stamp);

// The answer to an applied write whose result's status is OK.
absl::Status RenderWriteAnswer(WriteAnswer answer, const state::ApplyResult& result, proto::agent::Reply* reply);

}  // namespace muster::agent
