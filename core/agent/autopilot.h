// Autopilot, as Consul's leader runs it: watches every server's health and (1) promotes a
// non-voter to voter once it has been healthy for ServerStabilizationTime, (2) removes failed
// servers (CleanupDeadServers) as long as a quorum of the voters that remain is healthy and the
// voters would not drop below MinQuorum. Pure: the leader hands it the facts (raft progress,
// gossip status) and the time, and it answers what to change; the agent proposes the changes.
//
// A server is healthy when gossip says it is alive, its last contact with the leader is within
// LastContactThreshold, and its log trails the leader's by at most MaxTrailingLogs (the
// leader itself is healthy while it leads). A server's `stable_since` is when it last turned
// healthy; a promotion needs now - stable_since >= ServerStabilizationTime.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "core/base/node_id.h"
#include "core/base/time.h"
#include "core/state/types.h"

namespace muster::agent {

// Consul's AutopilotConfiguration with its defaults: the state store's record of it (kept in
// the raft log, so an operator's set-config survives leader changes).
using AutopilotConfig = state::AutopilotConfiguration;

// Consul's JSON ("CleanupDeadServers", "LastContactThreshold": "200ms", ...).
std::string AutopilotConfigJson(const AutopilotConfig& config);
// Reads Consul's JSON over `base` (fields absent keep base's). Untrusted: bounded, every field
// type-checked, durations in Go's syntax ("10s", "200ms", "1m30s"); errors name the field.
absl::StatusOr<AutopilotConfig> ParseAutopilotConfigJson(std::string_view json, const AutopilotConfig& base);

// What the leader knows of one server at a moment.
struct ServerFacts {
  NodeId raft_id;
  std::string name;     // node name ("" if gossip does not know it)
  std::string node_id;  // UUID
  Address address;      // raft (RPC) address
  bool voter = false;
  bool leader = false;
  enum class Gossip : uint8_t { kAlive, kFailed, kLeft, kUnknown } gossip = Gossip::kUnknown;
  std::optional<Duration> last_contact;  // since the leader last heard it; leader: zero
  uint64_t last_index = 0;               // its match index (leader: its own last index)
  uint64_t last_term = 0;
};

struct ServerHealth {
  ServerFacts facts;
  bool healthy = false;
  Time stable_since;
};

class Autopilot {
 public:
  // Folds in the servers as of `now` (the whole raft configuration); forgets servers gone.
  void Update(Time now, const AutopilotConfig& config, uint64_t leader_last_index,
              const std::vector<ServerFacts>& servers);
  // Non-voters healthy for the stabilization time, by raft ID.
  std::vector<NodeId> ToPromote(Time now, const AutopilotConfig& config) const;
  // Failed (or left) servers to remove while a healthy quorum remains (CleanupDeadServers).
  std::vector<NodeId> ToRemove(const AutopilotConfig& config) const;
  // Consul's /v1/operator/autopilot/health JSON.
  std::string HealthJson(Time now) const;
  bool healthy() const;
  int failure_tolerance() const;
  const absl::btree_map<NodeId, ServerHealth>& servers() const { return servers_; }
  void Reset() { servers_.clear(); }

 private:
  absl::btree_map<NodeId, ServerHealth> servers_;
};

}  // namespace muster::agent
