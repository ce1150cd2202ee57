// The agent: one pure Machine per agent, the same object under io/ and sim/. A server holds
// Raft, the state store's FSM fed by committed entries (stamped by the replicated clock), a
// LAN and a WAN Serf pool, the bootstrap-expect decision, leader duties (reconcile members into
// the catalog, session TTL expiry, autopilot, leadership transfer on leave) and the server side
// of RPC (forwarding to the leader, peer reports). A client (issue 13) holds the LAN pool only
// and forwards to one server at a time (server_router.h); `AgentConfig::server` picks.
//
// Endpoints (core/seam/channel.h): raft and RPC travel on kRpc (the server port, streams), LAN
// gossip on kLan, WAN gossip on kWan. Every message is sealed in the envelope
// (core/seam/envelope.h); what does not open, or arrives on an endpoint its kind does not
// belong to, is dropped with one log line and changes nothing.
//
// Storage keys: "raft/" (Raft's), "local/" (the services and checks registered on this
// agent, local_state.h) and "serf/" (each pool's snapshot, serf_snapshot.h: the members and
// clocks to rejoin with); the rest of the gossip state is rebuilt by rejoining.
//
// Requests (RequestInput.method; body: proto::agent::Call; every Response's body is a
// proto::agent::Reply whose body is Consul's JSON for the endpoint, even on errors, where the
// Reply carries only the index and leader facts). core/agent/methods.cc lists every method and
// how it is carried out (this agent's own state, a store read, a write through the log, the
// leader's raft state); io/api/README.md maps each to its HTTP endpoint. The families:
//   status.*, agent.* (self, members, join, leave, force-leave; local services and checks:
//   agent.services, agent.service.register, agent.check.update, agent.maintenance, ...),
//   kv.*, txn, catalog.*, health.*, session.*, event.fire / event.list, operator.raft.*,
//   operator.autopilot.*. Reads block with min_index / wait_ms (Consul's blocking queries).
// Errors: INVALID_ARGUMENT (the client's mistake, HTTP 400), NOT_FOUND (404), UNAVAILABLE ("No
// cluster leader", "leadership lost", a forward that timed out: HTTP 500, retryable),
// FAILED_PRECONDITION (refused by the state, e.g. a lock held: 400).
//
// Every request gets exactly one Response (core/seam/effects.h rule 5): a forwarded one when
// its answer arrives or when rpc_timeout passes; a write when its entry is applied or
// leadership is lost; a read when it can be served or the wait cannot end.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/agent/agent_config.h"
#include "core/agent/autopilot.h"
#include "core/agent/bootstrap_expect.h"
#include "core/agent/coordinates.h"
#include "core/agent/server_router.h"
#include "core/base/rng.h"
#include "core/base/version.h"
#include "core/gossip/serf.h"
#include "core/raft/raft.h"
#include "core/seam/composition.h"
#include "core/seam/machine.h"
#include "core/state/fsm.h"
#include "core/state/replicated_clock.h"
#include "proto/agent.pb.h"

namespace muster::agent {

inline constexpr std::string_view kVersion = kMusterVersion;
// Consul's serfHealth check: what the leader keeps per node from LAN gossip.
inline constexpr std::string_view kSerfCheckId = "serfHealth";
// Forwards between servers stop here (a loop while leadership moves).
inline constexpr uint32_t kForwardHopsMax = 3;
// Requests parked (forwarded, awaiting commit or a read round) per agent; past it, UNAVAILABLE.
inline constexpr size_t kPendingRequestsMax = 16384;

struct AgentMachineOptions {
  // Validated (agent_config.h); node_name and node_id set (the host keeps the ID in the data dir).
  AgentConfig config;
  // Raft timing and limits; id and address come from the node ID and the RPC endpoint.
  raft::RaftOptions raft;
  // LAN and WAN gossip: name, tags and address are filled in by the agent.
  gossip::SerfConfig lan = gossip::SerfConfig::Lan("");
  gossip::SerfConfig wan = gossip::SerfConfig::Wan("");
  AutopilotConfig autopilot;
  // How often the leader reconciles every member into the catalog (Consul: 60 s), besides on
  // each member event.
  Duration reconcile_interval = absl::Seconds(60);
  // A forwarded request not answered within this is failed UNAVAILABLE (Consul's RPC hold).
  Duration rpc_timeout = absl::Seconds(7);
  // How often autopilot looks at the servers (Consul: 200 ms... its ServerHealthInterval 2 s).
  Duration autopilot_interval = absl::Seconds(2);
  // For the simulator's mutation checks only (tests/agent_sim/unsafe_switches.h): followers
  // serve default-mode reads from their own store, as if ?stale, so an answer may be older
  // than one the client already had (its index goes backwards).
  bool unsafe_followers_serve_default_reads = false;
  // Also the mutation checks' only (never set from a config: cmd/agent builds these options
  // from the config and the raft timing alone): an acquire of a key another session holds
  // takes the lock from it (a release for it and the acquire, one transaction), so two
  // sessions both believe they hold it.
  bool unsafe_acquire_takes_held_locks = false;
  // The same, only from a session whose node the leader's LAN gossip suspects, calls dead or
  // does not know: the lock taken before the servers invalidate the session (if they ever do:
  // a suspicion may be refuted), skipping its lock-delay.
  bool unsafe_acquire_from_suspect_holders = false;
  // A user event whose ID the agent already handled runs its handlers again (its own once
  // per event ID check off; with Serf's dedup by Lamport time also off, lan's
  // unsafe_user_events_no_dedup, a re-gossiped event reaches the handler twice).
  bool unsafe_user_events_no_id_check = false;
  // Network coordinates: how often agents send theirs, how the leader batches them
  // (core/agent/coordinates.h; Consul's defaults).
  CoordinateOptions coordinates;
  // -retry-join/-join seeds: joined at start, every retry_interval until one answers.
  // (Taken from config.start_join and config.retry_join.)
};

class AgentMachine final : public Machine {
 public:
  AgentMachine(const MachineContext& ctx, AgentMachineOptions options);
  ~AgentMachine() override;
  void Step(const Input& input, Effects* out) override;

  // For checkers and tests. raft() is null on a client; wan() too.
  const raft::Raft* raft() const;
  const state::Fsm& fsm() const;
  const gossip::Serf& lan() const;
  const gossip::Serf* wan() const;
  const AgentMachineOptions& options() const;
  // A client's server routing (server_router.h): the server its RPCs go to is its front. Null
  // on a server.
  const ServerRouter* router() const;
  // A graceful leave (agent.leave) finished: the host may stop the agent.
  bool left() const;
  // Set when the agent cannot go on and its process should exit 1 (Consul's): no seed of
  // -join answered at start, or -retry-join gave up after -retry-max attempts.
  const std::optional<std::string>& exit_reason() const;
  // A graceful leave is under way (agent.leave, or a goodbye before exit_reason's exit).
  bool leaving() const;
  // Entries applied since the last call (state-hash and acknowledged-write checkers).
  std::vector<raft::pb::Entry> TakeApplied();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

MachineFactory AgentMachineFactory(AgentMachineOptions options);

}  // namespace muster::agent
