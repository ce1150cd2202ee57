// Anti-entropy (Consul's agent/ae and local.State sync): keeps the catalog's view of this node's
// services and checks in step with LocalState. After each local change a partial sync sends
// what is out of step; every full-sync interval (60 s up to 128 nodes, growing with log2 of the
// cluster size beyond, plus a random stagger, as Consul's scaleFactor) the catalog's view of
// the node is read (catalog.node, health.node) and diffed with the local one: what is missing
// or different is registered (catalog.register), what this agent no longer has deregistered
// (catalog.deregister), never serfHealth. A failed sync is retried with back-off.
//
// The diff is a pure function (DiffNode), tested alone; AntiEntropy drives it through the
// agent's requests: it never answers a client, and issues at most kSyncRequestsMax at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/status.h"
#include "core/agent/local_state.h"
#include "core/base/log.h"
#include "core/base/rng.h"
#include "core/seam/effects.h"
#include "core/state/types.h"
#include "proto/agent.pb.h"

namespace muster::agent {

inline constexpr Duration kFullSyncInterval = absl::Seconds(60);
inline constexpr size_t kFullSyncScaleThreshold = 128;  // Consul's aeScaleThreshold
inline constexpr Duration kSyncRetryMin = absl::Seconds(1);
inline constexpr Duration kSyncRetryMax = absl::Seconds(60);
// Requests of one sync round; what is left goes in the next round, at once.
inline constexpr size_t kSyncRequestsMax = 512;
// Consul's serverUpIntv: once a server joins, the next full sync comes within a random stagger
// of this (scaled as the full-sync interval), cutting short the wait or a failed sync's back-off.
inline constexpr Duration kServerUpStagger = absl::Seconds(3);

// Consul's full-sync interval for a cluster of `nodes` (before the stagger).
Duration FullSyncInterval(size_t nodes);

// What the catalog holds for this node.
struct RemoteNode {
  bool exists = false;
  std::vector<state::Service> services;
  std::vector<state::Check> checks;
};

// What the agent has, as the catalog would show it.
struct LocalNode {
  std::vector<state::Service> services;
  std::vector<state::Check> checks;
};

// What a full sync finds: local entries to send (missing or different remotely) and remote
// entries to remove (absent locally). serfHealth, and any check of `protected_checks`, is
// never removed; nor are the services in `protected_services` (a server's "consul").
struct NodeDiff {
  std::vector<std::string> services_to_register;
  std::vector<std::string> checks_to_register;
  std::vector<std::string> services_to_deregister;
  std::vector<std::string> checks_to_deregister;
};
NodeDiff DiffNode(const LocalNode& local, const RemoteNode& remote,
                  const absl::btree_set<std::string>& protected_services = {});

// Equal as the catalog compares them (indexes and the store's denormalised fields aside).
bool SameService(const state::Service& a, const state::Service& b);
bool SameCheck(const state::Check& a, const state::Check& b);

// catalog.node / health.node answers (Consul's JSON) read back; nullopt when they do not parse.
std::optional<RemoteNode> ParseRemoteNode(std::string_view catalog_node_json, std::string_view health_node_json);

struct AntiEntropyOptions {
  std::string node_name;
  std::string node_id;
  std::string address;  // the node's address for a registration
  absl::btree_set<std::string> protected_services;
};

class AntiEntropy {
 public:
  using Callback = std::function<void(const absl::Status&, const proto::agent::Reply&)>;
  // Issues one of the agent's own requests; the callback runs exactly once, perhaps before
  // the call returns.
  using Requester = std::function<void(const std::string& method, const proto::agent::Call& call, Callback done)>;

  AntiEntropy(AntiEntropyOptions options, uint64_t seed, Time now, Logger log);

  // Starts what is due: a full sync, a partial one after local changes, a retry. `nodes` is
  // the cluster's size (the full-sync interval grows with it).
  void Tick(Time now, LocalState& local, size_t nodes, const Requester& request, Effects* out);

  // A server joined the LAN pool (Consul's ServerUp, which triggers SyncFull): the next full
  // sync is brought within kServerUpStagger, so a client cut from the servers is back in the
  // catalog seconds after the network heals instead of after its back-off (up to a minute).
  // Asks `out` for the wake-up.
  void ServerUp(Time now, size_t nodes, Effects* out);

  // Work is ready for the next Tick (an answer arrived after this step's Tick ran): the
  // machine asks for a wake-up now.
  bool wants_tick(const LocalState& local) const;

  // For tests and status.
  uint64_t full_syncs() const { return full_syncs_; }
  uint64_t pushes() const { return pushes_; }
  uint64_t failures() const { return failures_; }
  bool idle() const { return phase_ == Phase::kIdle; }

 private:
  enum class Phase : uint8_t { kIdle, kReading, kPushing };
  void StartFull(Time now, const Requester& request);
  void FinishRead(Time now, LocalState& local);
  void Push(Time now, LocalState& local, const Requester& request);
  void Failed(Time now, const absl::Status& status);
  proto::agent::Call Registration(const LocalState& local, const state::Service* service,
                                  const std::vector<state::Check>& checks) const;

  AntiEntropyOptions opt_;
  Logger log_;
  Rng rng_;
  Phase phase_ = Phase::kIdle;
  Time full_at_;                  // the next full sync
  std::optional<Time> retry_at_;  // after a failure
  Duration retry_wait_ = kSyncRetryMin;
  uint64_t changes_seen_ = 0;
  bool push_wanted_ = false;
  // A read in flight: its answers, as they come.
  int reads_outstanding_ = 0;
  std::optional<absl::Status> read_error_;
  std::string catalog_json_, health_json_;
  // Remote entries this agent no longer has, found by the last full sync.
  absl::btree_set<std::string> remote_only_services_, remote_only_checks_;
  // A push in flight.
  int writes_outstanding_ = 0;
  std::optional<absl::Status> write_error_;
  uint64_t full_syncs_ = 0, pushes_ = 0, failures_ = 0;
};

}  // namespace muster::agent
