// The FSM: applies committed Raft entries carrying state Commands (proto/state.proto) to the
// Store, in log order, deterministically: the only time it sees is the leader's time inside
// each command. After each apply it reports which parked blocking queries to wake.
// Snapshot/Restore give the byte stream Raft's snapshots carry; ContentHash lets the
// simulator compare servers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/state/store.h"
#include "core/state/watch.h"
#include "proto/state.pb.h"

namespace muster::state {

struct ApplyResult {
  uint64_t index = 0;
  // Non-OK: the command was rejected (bad input, unknown session, ...) and changed nothing.
  absl::Status status;
  // KV and autopilot set: Consul's true/false body. Session expire: whether it expired.
  bool ok = true;
  std::optional<Session> session;   // session create and renew
  std::optional<TxnResponse> txn;   // transactions (when status is OK)
  std::vector<uint64_t> woken;      // parked watches to wake, ascending
};

class Fsm {
 public:
  explicit Fsm(StoreConfig config = {}) : store_(config) {}

  // `index` must be above every index applied before. Unparseable bytes give an error result.
  ApplyResult Apply(uint64_t index, std::string_view command_bytes);
  ApplyResult Apply(uint64_t index, const proto::state::Command& command);

  std::string Snapshot() const { return store_.Snapshot(); }
  // Replaces the whole state; every parked watch is woken (returned, ascending).
  absl::StatusOr<std::vector<uint64_t>> Restore(std::string_view bytes);
  uint64_t ContentHash() const { return store_.ContentHash(); }

  const Store& store() const { return store_; }
  WatchRegistry& watches() { return watches_; }

 private:
  void Dispatch(uint64_t index, Time now, const proto::state::Command& c, ApplyResult& r);

  Store store_;
  WatchRegistry watches_;
};

// Command builders for proposers (the leader's RPC handlers, tests, the simulator).
namespace commands {
proto::state::Command Register(Time now, const RegisterRequest& req);
proto::state::Command Deregister(Time now, std::string_view node, std::string_view service_id = "",
                                 std::string_view check_id = "");
proto::state::Command KV(Time now, proto::state::KVRequest::Op op, const KVEntry& entry,
                         uint64_t cas_index = 0);
proto::state::Command SessionCreate(Time now, const Session& s, bool default_node_checks);
proto::state::Command SessionOp(Time now, proto::state::SessionRequest::Op op, std::string_view id);
proto::state::Command Txn(Time now, const std::vector<TxnOp>& ops);
proto::state::Command ReapTombstones(Time now, uint64_t up_to_index);
// operator autopilot set-config; has_cas/cas as Store::AutopilotSet (ApplyResult.ok false
// when the check-and-set fails). The config's indexes are ignored.
proto::state::Command AutopilotSet(Time now, const AutopilotConfiguration& config, bool has_cas = false,
                                   uint64_t cas = 0);
// The leader's batch of agents' coordinate updates (Store::CoordinateBatchUpdate).
proto::state::Command CoordinateBatchUpdate(Time now, const std::vector<NodeCoordinate>& updates);
}  // namespace commands

}  // namespace muster::state
