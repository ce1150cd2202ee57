#include "core/agent/agent_machine.h"

#include <algorithm>
#include <functional>
#include <utility>
#include <variant>

#include "absl/container/btree_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/agent/addresses.h"
#include "core/agent/consul_json.h"
#include "core/agent/dns_resolve.h"
#include "core/agent/methods.h"
#include "core/agent/store_reads.h"
#include "core/agent/store_writes.h"
#include "core/agent/txn_json.h"
#include "core/agent/user_events.h"
#include "core/agent/go_duration.h"
#include "core/agent/identity.h"
#include "core/agent/anti_entropy.h"
#include "core/agent/event_handlers.h"
#include "core/agent/handler_queue.h"
#include "core/agent/watches.h"
#include "core/agent/local_methods.h"
#include "core/agent/local_state.h"
#include "core/agent/remote_alias.h"
#include "core/agent/serf_snapshot.h"
#include "core/agent/server_router.h"
#include "core/agent/server_tags.h"
#include "core/base/check.h"
#include "core/base/log_throttle.h"
#include "core/base/timer_queue.h"
#include "core/seam/envelope.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;
namespace pbs = ::muster::proto::state;

// Request ids the agent makes itself (a forward it serves, its own anti-entropy) live above
// every id a host hands out.
constexpr uint64_t kInternalIdBase = uint64_t{1} << 62;
// Commands waiting for the log write before them to be durable (group proposal); past it a
// write is refused as UNAVAILABLE (the disk is behind).
constexpr size_t kQueuedCommandsMax = 4096;
// Blocking queries parked at once (each holds its Call and a few topics: ~0.5 KiB); past it a
// query is answered at once, which is a legal blocking answer (the client asks again).
constexpr size_t kParkedQueriesMax = 65536;
constexpr Duration kBlockingWaitDefault = absl::Minutes(5);
constexpr Duration kBlockingWaitMax = absl::Minutes(10);
// Bootstrap-expect: how often the peer question is asked again while answers are missing.
constexpr Duration kPeerQueryInterval = absl::Seconds(1);
// A dropped message is logged at most this often (with the count since), so a flood of
// garbage cannot flood the log.
constexpr Duration kDropLogInterval = absl::Seconds(1);
// The agent's sync of its own node to the catalog (Consul's anti-entropy): first after this,
// again on failure after the retry, and every interval once it succeeded.
constexpr Duration kSyncFirst = absl::Seconds(1);
constexpr Duration kSyncRetry = absl::Seconds(3);
constexpr Duration kSyncInterval = absl::Seconds(60);
// -join at start: how long the seeds have to answer before the agent gives up.
constexpr Duration kStartJoinTimeout = absl::Seconds(10);
// An agent counts as joining (and so refuses to run beside an agent with its name or ID) from
// its first join attempt until this long after the first seed answered: the seed's answer (a
// push-pull of every member) shows an incumbent at once, while an impostor arriving later shows
// up well after. A server that raft already knows at its address never counts as joining.
constexpr Duration kJoinSettleTime = absl::Seconds(5);

LogLevel ParseLevel(std::string_view level) {
  std::string l = absl::AsciiStrToUpper(std::string(level));
  if (l == "TRACE") return LogLevel::kTrace;
  if (l == "DEBUG") return LogLevel::kDebug;
  if (l == "WARN") return LogLevel::kWarn;
  if (l == "ERR" || l == "ERROR") return LogLevel::kError;
  return LogLevel::kInfo;
}

std::string ReplyBytes(const pba::Reply& r) { return r.SerializeAsString(); }

}  // namespace

class AgentMachine::Impl {
 public:
  Impl(const MachineContext& ctx, AgentMachineOptions options);
  void Step(const Input& input, Effects* out);

  // --- state, public to AgentMachine's accessors
  AgentMachineOptions opt;
  std::unique_ptr<raft::Raft> raft;
  state::Fsm fsm;
  std::unique_ptr<gossip::Serf> lan;
  std::unique_ptr<gossip::Serf> wan;
  bool left = false;
  bool leaving() const { return leaving_; }
  const ServerRouter* router() const { return router_.get(); }
  std::optional<std::string> exit_reason_;
  std::vector<raft::pb::Entry> applied;

 private:
  // Where an answer goes: the host (a RequestInput), a server that forwarded to us, or the
  // agent itself.
  struct FromRpc {
    Address from;
    uint64_t seq = 0;
  };
  using Callback = std::function<void(const absl::Status&, const pba::Reply&)>;
  using Origin = std::variant<std::monostate, FromRpc, Callback>;

  // A write waiting for its entry to be applied.
  enum class WriteKind : uint8_t { kStore, kConfChange, kAutopilot, kInternal, kSessionCreate, kSessionRenew, kSessionDestroy };
  struct PendingWrite {
    uint64_t request_id = 0;
    uint64_t term = 0;
    WriteKind kind = WriteKind::kStore;
    std::string session_id;  // kSessionCreate, kSessionRenew
    WriteAnswer answer = WriteAnswer::kTrueFalse;  // kStore
  };
  // A read waiting for a ReadIndex round (index 0) or for the applied index to reach `index`.
  struct PendingRead {
    uint64_t request_id = 0;
    std::string method;
    pba::Call call;
    uint64_t index = 0;
    uint64_t term = 0;
  };
  struct PendingForward {
    uint64_t request_id = 0;
    uint64_t timer = 0;
    Address to;
    std::string method;
    pba::Call call;
    bool retried = false;  // a client's read sent again to another server after a failure
  };
  // A request that needs the leader while none is known (an election, a server not yet in
  // a cluster): held, as Consul's RPCHoldTimeout, and dispatched again once one is known.
  struct HeldRequest {
    uint64_t request_id = 0;
    std::string method;
    pba::Call call;
    uint64_t timer = 0;
  };
  void Hold(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void ReleaseHeld(Time now);
  void RedirectForwards(Time now);
  bool LeaderUsable() const;

  // Inputs.
  void HandleMessage(Time now, const MessageInput& m);
  void HandleRpc(Time now, const MessageInput& m, std::string_view body);
  void HandleRequest(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void ServeAgent(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void ServeLeader(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void HandleRequestBytes(Time now, const RequestInput& r);
  void DropLog(Time now, const Address& from, Endpoint endpoint, const std::string& why);

  // Answers, exactly once per request id.
  void Answer(uint64_t request_id, const absl::Status& status, pba::Reply reply);
  pba::Reply Facts() const;
  void Fail(uint64_t request_id, absl::Status status) { Answer(request_id, status, Facts()); }

  // Reads and writes.
  bool MayPropose() const;
  void Read(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void Serve(uint64_t request_id, const std::string& method, const pba::Call& call, bool may_block = true);
  void Done(uint64_t request_id, const std::string& method, const pba::Call& call, const absl::Status& status,
            pba::Reply reply, bool may_block);
  // Blocking queries.
  struct ParkedQuery {
    std::string method;
    pba::Call call;
    uint64_t timer = 0;  // its deadline
  };
  Duration BlockingWait(const pba::Call& call);
  bool Park(uint64_t request_id, const std::string& method, const pba::Call& call);
  void Wake(const std::vector<uint64_t>& woken);
  absl::btree_map<uint64_t, ParkedQuery> parked_;  // by request id (= watch id)
  void Write(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void Propose(Time now, uint64_t request_id, const pbs::Command& c, WriteKind kind, std::string session_id = "",
               WriteAnswer answer = WriteAnswer::kTrueFalse);
  void Forward(Time now, uint64_t request_id, const std::string& method, pba::Call call);
  void SendForward(Time now, PendingForward f);
  Address LeaderRpcAddress() const;
  // A client's routing among the servers (server_router.h): where its RPCs go, the router kept
  // in step with gossip, a forward that failed (the server timed out, failed in gossip or could
  // not serve it) reported and a read sent once to the next server, the periodic rebalance.
  std::unique_ptr<ServerRouter> router_;
  Address routed_to_;
  uint64_t rebalance_timer_ = 0;
  Address RoutedServerAddress(Time now);
  void SyncRouter(Time now);
  void ClientForwardFailed(Time now, PendingForward f, std::string_view why);
  // The stream to a server's RPC address broke (seam StreamBrokenInput): its forwards will not
  // be answered, so they fail over now instead of at rpc_timeout.
  void HandleStreamBroken(Time now, const StreamBrokenInput& broken);
  Address broken_leader_rpc_;  // a server's leader whose stream broke, until it is heard again or replaced
  void RebalanceRouter(Time now);
  uint64_t InternalRequest(Callback cb);

  // Raft output and leadership.
  void Carry(Time now, raft::Ready& ready);
  void ApplyEntry(Time now, const raft::pb::Entry& e);
  void OnLeadershipChange(Time now);
  void FailPending(std::string_view why);
  void MaybeSnapshot(Time now);

  // Gossip.
  void ObserveMemberEvents(Time now, const Effects& batch, std::string_view pool);
  // User events (event.fire / event.list).
  void FireUserEvent(Time now, uint64_t request_id, const pba::Call& call);
  void ListUserEvents(uint64_t request_id, const pba::Call& call, bool may_block);
  void ObserveUserEvents(const Effects& batch);
  EventTarget LocalEventTarget() const;
  struct ParkedEventList {
    pba::Call call;
    uint64_t timer = 0;
  };
  UserEventLog user_events_;
  absl::btree_map<uint64_t, ParkedEventList> parked_event_lists_;  // by request id
  gossip::TagMap LanTags() const;
  void StartGossip(Time now);
  void FloodWan(Time now);
  void TryJoin(Time now);

  // Bootstrap.
  bool HasRaftState() const;
  void RunBootstrap(Time now);

  // Leader duties.
  void Reconcile(Time now);
  void RunAutopilot(Time now);
  void UpdateAutopilot(Time now);
  AutopilotConfig CurrentAutopilotConfig() const;
  void ScheduleSessionExpiry(Time now);
  void ExpireSessions(Time now);
  void SyncOwnNode(Time now);
  // Network coordinates (coordinates.h): this agent's sent to the servers now and then; the
  // leader's batch of everyone's, proposed every update_period.
  void SendCoordinate(Time now);
  void FlushCoordinates(Time now);
  void QueueCoordinate(uint64_t request_id, const pba::Call& call);
  std::unique_ptr<CoordinateUpdates> coordinate_updates_;
  Rng coordinate_rng_{0};  // the sync stagger's own, so other draws (session IDs) stay as they were
  void BeginLeave(Time now, uint64_t request_id);
  void MaybeLeft();

  // Sealing and merging.
  void Seal(Effects& batch, EnvelopeKind kind, Endpoint endpoint);
  void SendRpc(const Address& to, const pba::RpcMessage& m);

  std::optional<ServerCandidate> ServerOfMember(const gossip::Member& m) const;
  absl::btree_map<NodeId, ServerCandidate> KnownServers() const;

  Logger log_;         // agent
  Logger server_log_;  // agent.server
  Logger raft_log_;
  Logger autopilot_log_;
  std::string node_name_;
  std::string node_id_;
  NodeId raft_id_;
  Address rpc_addr_, lan_addr_, wan_addr_;
  Rng rng_;

  Composition composition_;
  Composition::ComponentId c_raft_ = 0, c_lan_ = 0, c_wan_ = 0, c_agent_ = 0;
  // The services and checks registered on this agent and their sync with the catalog
  // (local_state.h, anti_entropy.h): their own component (writes under "local/", check runs).
  Composition::ComponentId c_local_ = 0;
  std::unique_ptr<LocalState> local_;
  std::unique_ptr<AntiEntropy> anti_entropy_;
  std::unique_ptr<RemoteAliases> remote_aliases_;  // alias checks of other nodes (remote_alias.h)
  Effects* local_out_ = nullptr;
  void ServeLocalRequest(Time now, uint64_t request_id, const std::string& method, const pba::Call& call);
  void TickLocal(Time now);
  // What the agent runs for the operator (event_handlers.h, watches.h): their own component,
  // one queue of runs (handler_queue.h), the watches' reads as the agent's own requests.
  Composition::ComponentId c_handlers_ = 0;
  std::unique_ptr<HandlerQueue> handler_queue_;
  std::unique_ptr<EventHandlers> event_handlers_;
  std::unique_ptr<Watches> watches_;
  Effects* handlers_out_ = nullptr;
  void StartHandlers(const MachineContext& ctx, LogLevel level);
  // Serf's snapshot of each pool (serf_snapshot.h): a component each (writes under "serf/");
  // the clocks restored and the previous members re-joined at start.
  Composition::ComponentId c_lan_snapshot_ = 0, c_wan_snapshot_ = 0;
  std::unique_ptr<SerfSnapshot> lan_snapshot_, wan_snapshot_;
  Effects* lan_snapshot_out_ = nullptr;
  Effects* wan_snapshot_out_ = nullptr;
  void TickSnapshots(Time now, const Effects& lan_batch, const Effects& wan_batch);
  void TickHandlers(Time now);
  TimerQueue timers_;
  Time now_;
  bool started_ = false;

  // The batches of the step in progress.
  raft::Ready* ready_ = nullptr;
  Effects* lan_out_ = nullptr;
  Effects* wan_out_ = nullptr;
  Effects* own_ = nullptr;

  state::ReplicatedClock clock_;
  uint64_t term_applied_ = 0;
  bool was_leader_ = false;  // MayPropose() as of the last step
  NodeId last_leader_;

  absl::btree_map<uint64_t, Origin> origins_;  // internal request id -> where its answer goes
  uint64_t next_internal_id_ = kInternalIdBase;
  std::map<uint64_t, PendingWrite> writes_;           // by log index
  // Group proposal: commands that arrived while our last log write was not yet durable,
  // proposed together (one log write, one append per follower) once it is.
  struct QueuedCommand {
    uint64_t request_id = 0;
    WriteKind kind = WriteKind::kStore;
    std::string bytes;
    std::string session_id;
    WriteAnswer answer = WriteAnswer::kTrueFalse;
  };
  std::vector<QueuedCommand> queued_;
  void FlushQueued(Time now);
  std::map<uint64_t, PendingRead> reads_;             // by read id (request id)
  absl::btree_map<uint64_t, PendingForward> forwards_;  // by rpc seq
  absl::btree_map<uint64_t, HeldRequest> held_;           // by request id
  uint64_t next_rpc_seq_ = 1;
  uint64_t batches_proposed_ = 0;
  uint64_t proposals_ = 0;  // proposed alone
  absl::btree_map<uint64_t, uint64_t> leave_requests_;  // none or one pending leave
  bool leaving_ = false;

  // Bootstrap-expect.
  bool bootstrap_done_ = false;
  absl::btree_map<std::string, bool> peer_reports_;
  Time last_peer_query_ = absl::InfinitePast();
  std::string last_bootstrap_log_;

  // Identity conflicts: another agent with our name or our node ID. The one that joined
  // last (within kJoinSettleTime of its first successful join) refuses to run; the one already
  // in the cluster logs it and does not let the other in (memberlist keeps the first address,
  // the catalog and raft ignore a member that reuses our ID).
  void CheckIdentityConflicts(Time now);
  bool Joining(Time now) const;
  std::optional<Time> join_started_;
  std::optional<Time> first_joined_;
  std::string reported_name_claimer_;
  absl::btree_set<std::string> reported_id_conflicts_;
  uint64_t identity_checked_members_version_ = ~uint64_t{0};  // lan's members_version() at the last walk

  // Joins.
  int join_attempts_ = 0;
  bool joined_ = false;
  absl::btree_map<uint64_t, std::pair<uint64_t, Time>> pending_joins_;  // request -> (replies before, deadline)

  // Leader duties.
  Autopilot autopilot_;
  uint64_t reconcile_timer_ = 0;
  uint64_t autopilot_timer_ = 0;
  uint64_t session_timer_ = 0;
  std::optional<Time> session_timer_at_;
  uint64_t session_checked_index_ = 0;
  uint64_t session_checked_term_ = 0;
  bool session_recheck_ = true;
  absl::btree_set<std::string> expiring_;  // sessions whose EXPIRE is proposed, not yet applied
  absl::btree_map<std::string, uint64_t> reconcile_in_flight_;  // node -> log index
  bool conf_change_in_flight_ = false;
  uint64_t sync_timer_ = 0;

  LogThrottle drop_log_{kDropLogInterval};  // dropped messages: one line a second
};

// ---------------------------------------------------------------------------------------
// Construction.

AgentMachine::Impl::Impl(const MachineContext& ctx, AgentMachineOptions options)
    : opt(std::move(options)), rng_(ctx.seed ^ 0xa9e17) {
  const LogLevel level = ParseLevel(opt.config.log_level);
  const std::string role = opt.config.server ? "agent.server" : "agent.client";
  log_ = Logger(ctx.log, "agent", level);
  server_log_ = Logger(ctx.log, "agent.server", level);
  raft_log_ = Logger(ctx.log, "agent.server.raft", level);
  autopilot_log_ = Logger(ctx.log, "agent.server.autopilot", level);
  node_name_ = opt.config.node_name;
  absl::StatusOr<std::string> id = ParseNodeId(opt.config.node_id);
  MUSTER_CHECK(id.ok(), "the host must hand the agent a valid node ID: ", id.status().ToString());
  node_id_ = *id;
  absl::StatusOr<NodeId> raft_id = RaftIdOf(node_id_);
  MUSTER_CHECK(raft_id.ok(), raft_id.status().ToString());
  raft_id_ = *raft_id;
  lan_addr_ = ctx.endpoints[static_cast<int>(Endpoint::kLan)].empty() ? ctx.address
                                                                      : ctx.endpoints[static_cast<int>(Endpoint::kLan)];
  rpc_addr_ = ctx.endpoints[static_cast<int>(Endpoint::kRpc)];
  wan_addr_ = ctx.endpoints[static_cast<int>(Endpoint::kWan)];
  if (rpc_addr_.empty()) rpc_addr_ = lan_addr_;
  now_ = ctx.now;
  // RPC sequence numbers start anywhere in 2^64 each life, so an answer to a forward of an
  // earlier life (the leader answers after we restarted) never matches one of this life's.
  next_rpc_seq_ = rng_.Next() | 1;
  coordinate_rng_ = Rng(ctx.seed ^ 0xc002d);

  c_raft_ = composition_.Add("raft");
  c_lan_ = composition_.Add("serf.lan");
  c_wan_ = composition_.Add("serf.wan");
  c_agent_ = composition_.Add("agent");
  c_local_ = composition_.Add("local");
  c_handlers_ = composition_.Add("handlers");
  c_lan_snapshot_ = composition_.Add("serf.lan.snapshot");
  c_wan_snapshot_ = composition_.Add("serf.wan.snapshot");

  Rng seeds(ctx.seed);
  const uint64_t raft_seed = seeds.Next();
  const uint64_t lan_seed = seeds.Next();
  const uint64_t wan_seed = seeds.Next();
  const uint64_t local_seed = seeds.Next();
  const uint64_t router_seed = seeds.Next();
  LocalStateOptions local_options;
  local_options.node_name = node_name_;
  local_options.enable_script_checks = opt.config.enable_script_checks;
  local_options.config_services = opt.config.services;
  local_options.config_checks = opt.config.checks;
  // Consul's dev source sets these to 3 s and 0 (ApplyDevDefaults).
  local_options.reap_interval = opt.config.check_reap_interval;
  local_options.deregister_interval_min = opt.config.check_deregister_interval_min;
  local_ = std::make_unique<LocalState>(local_options, ctx.storage, local_seed, ctx.now, Logger(ctx.log, "agent.local", level));
  AntiEntropyOptions ae_options{node_name_, node_id_, HostOf(lan_addr_), {}};
  if (opt.config.server) ae_options.protected_services.insert("consul");
  anti_entropy_ = std::make_unique<AntiEntropy>(ae_options, local_seed ^ 0xae, ctx.now, Logger(ctx.log, "agent.anti_entropy", level));
  remote_aliases_ = std::make_unique<RemoteAliases>(Logger(ctx.log, "agent.alias", level));

  if (!opt.config.server) router_ = std::make_unique<ServerRouter>(router_seed);
  if (opt.config.server) {
    raft::RaftOptions ro = opt.raft;
    ro.id = raft_id_;
    ro.address = rpc_addr_;
    ro.channel = Channel::kStream;
    if (!ro.validate_snapshot) {
      ro.validate_snapshot = [](const raft::pb::SnapshotMeta& meta, std::string_view data) -> absl::Status {
        state::Fsm probe;
        absl::StatusOr<std::vector<uint64_t>> r = probe.Restore(data);
        if (!r.ok()) return r.status();
        if (probe.store().last_index() != meta.index()) {
          return absl::InvalidArgumentError("snapshot data and meta disagree on the index");
        }
        return absl::OkStatus();
      };
    }
    raft = std::make_unique<raft::Raft>(ro, ctx.storage, raft_seed, ctx.now, raft_log_);
    // A restarted server rebuilds its state from its snapshot, then from the log as Raft hands
    // out committed entries again.
    if (raft->log().snapshot_index() > 0) {
      MUSTER_CHECK(fsm.Restore(raft->log().snapshot_data()).ok(), "our own snapshot does not load");
      clock_.Observe(fsm.store().last_stamp(), ctx.now);
    }
  }

  gossip::SerfConfig lan_config = opt.lan;
  lan_config.memberlist.name = node_name_;
  lan_config.tags = LanTags();
  lan = std::make_unique<gossip::Serf>(lan_config, lan_addr_, lan_seed,
                                       Logger(ctx.log, absl::StrCat(role, ".serf.lan"), level));
  lan_snapshot_ = std::make_unique<SerfSnapshot>(std::string(kSerfSnapshotLanKey), ctx.storage,
                                                 opt.config.rejoin_after_leave, ctx.seed ^ 0x5a4a1,
                                                 ctx.now, Logger(ctx.log, absl::StrCat(role, ".serf.lan"), level));
  lan_snapshot_->RestoreClocks(*lan);
  if (opt.config.server && !wan_addr_.empty()) {
    gossip::SerfConfig wan_config = opt.wan;
    wan_config.memberlist.name = absl::StrCat(node_name_, ".", opt.config.datacenter);
    wan_config.tags = LanTags();
    wan = std::make_unique<gossip::Serf>(wan_config, wan_addr_, wan_seed,
                                         Logger(ctx.log, "agent.server.serf.wan", level));
    wan_snapshot_ = std::make_unique<SerfSnapshot>(std::string(kSerfSnapshotWanKey), ctx.storage,
                                                   opt.config.rejoin_after_leave, ctx.seed ^ 0x5a4a2, ctx.now,
                                                   Logger(ctx.log, "agent.server.serf.wan", level));
    wan_snapshot_->RestoreClocks(*wan);
  }
  StartHandlers(ctx, level);
}

gossip::TagMap AgentMachine::Impl::LanTags() const {
  gossip::TagMap tags;
  if (opt.config.server) {
    ServerTags t;
    t.datacenter = opt.config.datacenter;
    t.node_id = node_id_;
    t.rpc_port = static_cast<uint16_t>(PortOf(rpc_addr_, opt.config.ports.server));
    t.expect = static_cast<uint32_t>(std::max(0, opt.config.bootstrap_expect));
    t.bootstrap = opt.config.bootstrap;
    tags = EncodeServerTags(t);
    // Where this server's WAN pool listens, so the other servers of its datacenter can flood
    // it into theirs (Consul's tag).
    if (!wan_addr_.empty()) tags["wan_join_port"] = absl::StrCat(PortOf(wan_addr_, opt.config.ports.serf_wan));
  } else {
    tags["role"] = "node";
    tags["dc"] = opt.config.datacenter;
    tags["id"] = node_id_;
  }
  tags["build"] = std::string(kVersion);
  return tags;
}

// ---------------------------------------------------------------------------------------
// The step.

void AgentMachine::Impl::Step(const Input& input, Effects* out) {
  const Time now = input.now;
  now_ = now;
  raft::Ready ready;
  Effects lan_batch, wan_batch, own, local_batch, handlers_batch, lan_snapshot_batch, wan_snapshot_batch;
  local_out_ = &local_batch;
  lan_snapshot_out_ = &lan_snapshot_batch;
  wan_snapshot_out_ = &wan_snapshot_batch;
  handlers_out_ = &handlers_batch;
  ready_ = &ready;
  lan_out_ = &lan_batch;
  wan_out_ = &wan_batch;
  own_ = &own;

  if (!started_) {
    started_ = true;
    if (raft != nullptr) {
      raft_log_.Info(now, "initial configuration: index=", raft->log().last_index(),
                     " servers=", raft->configuration().servers_size());
      raft_log_.Info(now, "entering Follower state: term=", raft->term());
      if (opt.config.bootstrap_expect > 0) {
        server_log_.Info(now, "bootstrap_expect > 0: expecting ", opt.config.bootstrap_expect, " servers");
      }
      if (opt.config.bootstrap && !HasRaftState()) {
        raft::pb::Configuration c;
        raft::pb::Server* s = c.add_servers();
        s->set_id(raft_id_.value);
        s->set_address(rpc_addr_);
        s->set_voter(true);
        MUSTER_CHECK(raft->Bootstrap(now, c, &ready).ok(), "bootstrap of a fresh server failed");
        bootstrap_done_ = true;
      } else if (HasRaftState()) {
        if (opt.config.bootstrap_expect > 0 || opt.config.bootstrap) {
          server_log_.Info(now, "Raft data found, disabling bootstrap mode");
        }
        bootstrap_done_ = true;
      }
      // The only voter of its configuration (-bootstrap, -dev, a one-server cluster
      // restarting) has nobody to wait for: it stands for election at once instead of after an
      // election timeout, so a dev agent answers /v1/status/leader as soon as it is up.
      const raft::pb::Configuration& c = raft->configuration();
      if (c.servers_size() == 1 && c.servers(0).id() == raft_id_.value && c.servers(0).voter()) {
        raft->Campaign(now, &ready);
      }
    }
    StartGossip(now);
    sync_timer_ = timers_.Add(now + kSyncFirst, [this] { SyncOwnNode(now_); });
    coordinate_updates_ = std::make_unique<CoordinateUpdates>(opt.coordinates);
    timers_.Add(now + CoordinateSyncInterval(opt.coordinates, lan->members().size(), coordinate_rng_), [this] { SendCoordinate(now_); });
    if (raft != nullptr) timers_.Add(now + opt.coordinates.update_period, [this] { FlushCoordinates(now_); });
  }

  std::visit(
      [&](const auto& what) {
        using T = std::decay_t<decltype(what)>;
        if constexpr (std::is_same_v<T, TickInput>) {
          timers_.RunDue(now);
        } else if constexpr (std::is_same_v<T, MessageInput>) {
          HandleMessage(now, what);
        } else if constexpr (std::is_same_v<T, WriteDurableInput>) {
          for (const Composition::Durable& d : composition_.OnDurable(what.write_id)) {
            if (d.component == c_raft_ && raft != nullptr) raft->WriteDurable(now, d.write_id, &ready);
          }
        } else if constexpr (std::is_same_v<T, ProcessExitedInput>) {
          if (std::optional<Composition::Process> p = composition_.OnProcessExited(what.process_id)) {
            ProcessExitedInput own_exit = what;
            own_exit.process_id = p->process_id;
            if (p->component == c_lan_) lan->HandleProcessExit(now, own_exit, &lan_batch);
            if (p->component == c_wan_ && wan != nullptr) wan->HandleProcessExit(now, own_exit, &wan_batch);
            if (p->component == c_local_) local_->HandleProcessExit(now, own_exit, &local_batch);
            if (p->component == c_handlers_) handler_queue_->HandleProcessExit(now, own_exit, &handlers_batch);
          }
        } else if constexpr (std::is_same_v<T, RequestInput>) {
          HandleRequestBytes(now, what);
        } else if constexpr (std::is_same_v<T, StreamBrokenInput>) {
          HandleStreamBroken(now, what);
        }
      },
      input.what);

  // Every component runs what is due and states its next wake-up (the calling convention),
  // also the ones this input did not reach.
  if (raft != nullptr) raft->Tick(now, &ready);
  lan->Tick(now, &lan_batch);
  if (wan != nullptr) wan->Tick(now, &wan_batch);
  TickLocal(now);
  TickHandlers(now);

  ObserveMemberEvents(now, lan_batch, "lan");
  if (wan != nullptr) ObserveMemberEvents(now, wan_batch, "wan");
  ObserveUserEvents(lan_batch);
  TickSnapshots(now, lan_batch, wan_batch);

  // Raft's output may call for more (proposals from leader duties, answers): until quiet.
  raft::Ready raft_total;
  for (int round = 0;; ++round) {
    MUSTER_CHECK_LT(round, 64, "the agent's raft output does not settle");
    raft::Ready next;
    ready_ = &next;
    Carry(now, ready);
    raft_total.effects.Append(std::move(ready.effects));
    OnLeadershipChange(now);
    FlushQueued(now);
    ReleaseHeld(now);
    RunBootstrap(now);
    if (next.committed.empty() && !next.restore.has_value() && next.reads.empty() && next.effects.empty()) {
      raft_total.effects.Append(std::move(next.effects));
      break;
    }
    ready = std::move(next);
  }
  ready_ = nullptr;
  for (auto it = pending_joins_.begin(); it != pending_joins_.end();) {
    if (lan->memberlist().join_replies() > it->second.first) {
      Answer(it->first, absl::OkStatus(), Facts());
      it = pending_joins_.erase(it);
    } else if (now >= it->second.second) {
      Answer(it->first, absl::UnavailableError("no seed answered the join"), Facts());
      it = pending_joins_.erase(it);
    } else {
      own.WakeAt(it->second.second);
      ++it;
    }
  }
  if (!joined_ && lan->memberlist().join_replies() > 0) joined_ = true;
  if (!first_joined_.has_value() && lan->memberlist().join_replies() > 0) first_joined_ = now;
  CheckIdentityConflicts(now);
  MaybeLeft();
  if (raft != nullptr) ScheduleSessionExpiry(now);

  Seal(raft_total.effects, proto::Envelope::KIND_RAFT, Endpoint::kRpc);
  Seal(lan_batch, proto::Envelope::KIND_GOSSIP, Endpoint::kLan);
  Seal(wan_batch, proto::Envelope::KIND_GOSSIP, Endpoint::kWan);
  composition_.Merge(c_raft_, std::move(raft_total.effects), out);
  composition_.Merge(c_lan_, std::move(lan_batch), out);
  composition_.Merge(c_wan_, std::move(wan_batch), out);
  if (std::optional<Time> next = timers_.Next()) own.WakeAt(*next);
  composition_.Merge(c_agent_, std::move(own), out);
  // A sync answered after TickLocal ran (an applied registration) goes on at once.
  if (anti_entropy_->wants_tick(*local_) || remote_aliases_->wants_tick()) local_batch.WakeAt(now);
  composition_.Merge(c_local_, std::move(local_batch), out);
  if (watches_->wants_tick()) handlers_batch.WakeAt(now);  // a watch's answer came after TickHandlers
  composition_.Merge(c_handlers_, std::move(handlers_batch), out);
  composition_.Merge(c_lan_snapshot_, std::move(lan_snapshot_batch), out);
  composition_.Merge(c_wan_snapshot_, std::move(wan_snapshot_batch), out);
  own_ = lan_out_ = wan_out_ = local_out_ = handlers_out_ = lan_snapshot_out_ = wan_snapshot_out_ = nullptr;
}

void AgentMachine::Impl::Seal(Effects& batch, EnvelopeKind kind, Endpoint endpoint) {
  for (OutboundMessage& m : batch.messages) {
    m.payload = muster::Seal(kind, m.payload);
    m.endpoint = endpoint;
  }
}

void AgentMachine::Impl::SendRpc(const Address& to, const pba::RpcMessage& m) {
  OutboundMessage out;
  out.to = to;
  out.channel = Channel::kStream;
  out.endpoint = Endpoint::kRpc;
  out.payload = muster::Seal(proto::Envelope::KIND_RPC, m.SerializeAsString());
  own_->messages.push_back(std::move(out));
}

// ---------------------------------------------------------------------------------------
// Messages.

void AgentMachine::Impl::DropLog(Time now, const Address& from, Endpoint endpoint, const std::string& why) {
  std::string note;
  if (!drop_log_.Allow(now, &note)) return;
  log_.Warn(now, "dropping message from ", from, " on the ", EndpointName(endpoint), " endpoint: ", why, note);
}

void AgentMachine::Impl::HandleMessage(Time now, const MessageInput& m) {
  if (m.endpoint == Endpoint::kRpc && m.from == broken_leader_rpc_) broken_leader_rpc_.clear();  // reached again
  absl::StatusOr<Opened> opened = muster::Open(m.payload);
  if (!opened.ok()) {
    DropLog(now, m.from, m.endpoint, std::string(opened.status().message()));
    return;
  }
  switch (opened->kind) {
    case proto::Envelope::KIND_RAFT:
      if (m.endpoint != Endpoint::kRpc || raft == nullptr) break;
      if (absl::Status s = raft->Receive(now, opened->body, ready_); !s.ok()) {
        DropLog(now, m.from, m.endpoint, std::string(s.message()));
      }
      return;
    case proto::Envelope::KIND_GOSSIP: {
      MessageInput inner{m.from, m.channel, std::move(opened->body), m.endpoint};
      if (m.endpoint == Endpoint::kLan) {
        lan->HandleMessage(now, inner, lan_out_);
        return;
      }
      if (m.endpoint == Endpoint::kWan && wan != nullptr) {
        wan->HandleMessage(now, inner, wan_out_);
        return;
      }
      break;
    }
    case proto::Envelope::KIND_RPC:
      if (m.endpoint != Endpoint::kRpc) break;
      HandleRpc(now, m, opened->body);
      return;
    default:
      break;
  }
  DropLog(now, m.from, m.endpoint,
          absl::StrCat("a ", proto::Envelope::Kind_Name(opened->kind), " message does not belong here"));
}

void AgentMachine::Impl::HandleRpc(Time now, const MessageInput& m, std::string_view body) {
  pba::RpcMessage rpc;
  if (!rpc.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    DropLog(now, m.from, m.endpoint, "malformed RPC message");
    return;
  }
  if (rpc.has_forward()) {
    if (rpc.forward().call().hops() >= kForwardHopsMax) {
      pba::RpcMessage answer;
      answer.set_seq(rpc.seq());
      answer.mutable_answer()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
      answer.mutable_answer()->set_message("too many forwards: leadership is moving");
      SendRpc(m.from, answer);
      return;
    }
    if (origins_.size() >= kPendingRequestsMax) {
      pba::RpcMessage answer;
      answer.set_seq(rpc.seq());
      answer.mutable_answer()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
      answer.mutable_answer()->set_message("too many requests in flight");
      SendRpc(m.from, answer);
      return;
    }
    const uint64_t id = next_internal_id_++;
    origins_[id] = FromRpc{m.from, rpc.seq()};
    pba::Call call = rpc.forward().call();
    call.set_hops(call.hops() + 1);
    HandleRequest(now, id, rpc.forward().method(), call);
  } else if (rpc.has_answer()) {
    auto it = forwards_.find(rpc.seq());
    // Timed out already, or not ours: an answer counts only from where the forward went (a
    // stranger, or a server answering an earlier life's forward, is not the one we asked).
    if (it == forwards_.end() || it->second.to != m.from) return;
    timers_.Cancel(it->second.timer);
    const uint64_t request_id = it->second.request_id;
    forwards_.erase(it);
    const int code = rpc.answer().code();
    // A server that could not serve the request for want of a leader (cut off from the other
    // servers) is left for the next request; one that knows a leader is healthy whatever it
    // answered ("leadership lost" for a write that was out at an election).
    if (router_ != nullptr && code == static_cast<int>(absl::StatusCode::kUnavailable) && !rpc.answer().reply().known_leader()) {
      router_->NotifyFailed(m.from);
    } else if (router_ != nullptr) {
      router_->NotifyAnswered(m.from);
    }
    absl::Status status = code == 0 ? absl::OkStatus()
                                    : absl::Status(code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code)
                                                                          : absl::StatusCode::kUnknown,
                                                   rpc.answer().message());
    Answer(request_id, status, rpc.answer().reply());
  } else if (rpc.has_peer_query()) {
    pba::RpcMessage answer;
    answer.set_seq(rpc.seq());
    answer.mutable_peer_report()->set_node(node_name_);
    answer.mutable_peer_report()->set_has_peers(raft != nullptr && HasRaftState());
    SendRpc(m.from, answer);
  } else if (rpc.has_peer_report()) {
    if (raft == nullptr || bootstrap_done_ || rpc.peer_report().node().size() > 128) return;
    // Only servers we asked (known by gossip) count; a stranger's report is ignored.
    for (const auto& [id, s] : KnownServers()) {
      if (s.name == rpc.peer_report().node() && s.rpc_address == m.from) {
        peer_reports_[s.name] = rpc.peer_report().has_peers();
      }
    }
  } else {
    DropLog(now, m.from, m.endpoint, "empty RPC message");
  }
}

// ---------------------------------------------------------------------------------------
// Requests.

void AgentMachine::Impl::HandleRequestBytes(Time now, const RequestInput& r) {
  pba::Call call;
  if (!call.ParseFromArray(r.body.data(), static_cast<int>(r.body.size()))) {
    Fail(r.request_id, absl::InvalidArgumentError("request body is not a Call"));
    return;
  }
  call.set_hops(0);
  HandleRequest(now, r.request_id, r.method, call);
}

uint64_t AgentMachine::Impl::InternalRequest(Callback cb) {
  const uint64_t id = next_internal_id_++;
  origins_[id] = std::move(cb);
  return id;
}

pba::Reply AgentMachine::Impl::Facts() const {
  pba::Reply r;
  if (raft != nullptr) {
    r.set_known_leader(raft->leader().valid());
    // Consul's: 0 on the leader; else since the last append this server's log took from its
    // leader (raft's leader_log_contact), and before any, Go's time.Since of the zero time
    // (its largest Duration, in ms): a server that never caught up is no fresher than that.
    constexpr uint64_t kNeverContactedMs = 9223372036854;
    const Time contact = raft->leader_log_contact();
    r.set_last_contact_ms(raft->role() == raft::Role::kLeader ? 0
                          : contact == absl::InfinitePast()
                              ? kNeverContactedMs
                              : static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Milliseconds(now_ - contact))));
  }
  return r;
}

void AgentMachine::Impl::Answer(uint64_t request_id, const absl::Status& status, pba::Reply reply) {
  if (request_id < kInternalIdBase) {
    Response resp;
    resp.request_id = request_id;
    resp.status = status;
    resp.body = ReplyBytes(reply);
    own_->responses.push_back(std::move(resp));
    return;
  }
  auto it = origins_.find(request_id);
  if (it == origins_.end()) return;
  Origin origin = std::move(it->second);
  origins_.erase(it);
  if (auto* rpc = std::get_if<FromRpc>(&origin)) {
    pba::RpcMessage answer;
    answer.set_seq(rpc->seq);
    answer.mutable_answer()->set_code(static_cast<int>(status.code()));
    answer.mutable_answer()->set_message(std::string(status.message()));
    *answer.mutable_answer()->mutable_reply() = std::move(reply);
    SendRpc(rpc->from, answer);
  } else if (auto* cb = std::get_if<Callback>(&origin)) {
    (*cb)(status, reply);
  }
}

void AgentMachine::Impl::HandleRequest(Time now, uint64_t request_id, const std::string& method,
                                       const pba::Call& call) {
  const std::optional<MethodKind> kind = KindOf(method);
  if (!kind.has_value()) {
    return Fail(request_id, absl::InvalidArgumentError(absl::StrCat("unknown request method \"", method, "\"")));
  }
  if (method == "txn") {
    // A transaction that only reads is served as a read, in its consistency mode, without
    // the log (Consul's read-only transactions); a malformed one is refused by the write path.
    absl::StatusOr<std::vector<state::TxnOp>> ops = ParseTxnOps(call.json(), fsm.store().config().txn_ops_max);
    if (ops.ok() && TxnReadOnly(*ops)) return Read(now, request_id, "txn.read", call);
  }
  if (*kind == MethodKind::kRead && call.near() == "_agent") {
    // Consul resolves ?near=_agent on the agent that took the HTTP request (parseSource),
    // before the read goes to the leader: its own node sorts first.
    pba::Call resolved = call;
    resolved.set_near(node_name_);
    return Read(now, request_id, method, resolved);
  }
  switch (*kind) {
    case MethodKind::kRead:
      return Read(now, request_id, method, call);
    case MethodKind::kWrite:
      return Write(now, request_id, method, call);
    case MethodKind::kLeader:
      return ServeLeader(now, request_id, method, call);
    case MethodKind::kAgent:
      return ServeAgent(now, request_id, method, call);
  }
}

// Answered by this agent from its own state (MethodKind::kAgent).
void AgentMachine::Impl::ServeAgent(Time now, uint64_t request_id, const std::string& method,
                                    const pba::Call& call) {
  const bool server = raft != nullptr;
  Json j;
  pba::Reply reply = Facts();
  auto ok_json = [&](const Json& body) {
    reply.set_body(body.dump());
    Answer(request_id, absl::OkStatus(), reply);
  };
  if (IsLocalMethod(method)) return ServeLocalRequest(now, request_id, method, call);
  if (method == "status.leader") {
    ok_json(Json(server ? LeaderRpcAddress() : std::string()));
  } else if (method == "status.peers") {
    Json peers = Json::array();
    if (server) {
      for (const raft::pb::Server& s : raft->configuration().servers()) {
        if (s.voter()) peers.push_back(s.address());
      }
    }
    ok_json(peers);
  } else if (method == "agent.self") {
    Json config;
    config["Datacenter"] = opt.config.datacenter;
    config["PrimaryDatacenter"] = opt.config.datacenter;
    config["NodeName"] = node_name_;
    config["NodeID"] = node_id_;
    config["Server"] = opt.config.server;
    config["Revision"] = "";
    config["Version"] = std::string(kVersion);
    // What older clients read besides (http-api.md row 11): python-consul 0.7.1's tests the
    // advertise address and the server port, patroni the session TTL floor in nanoseconds.
    config["AdvertiseAddr"] = HostOf(lan_addr_);
    config["BindAddr"] = opt.config.bind_addr;
    config["ClientAddr"] = opt.config.client_addr;
    config["Ports"] = Json{{"DNS", opt.config.ports.dns},         {"HTTP", opt.config.ports.http},
                           {"HTTPS", -1},                          {"SerfLan", opt.config.ports.serf_lan},
                           {"SerfWan", opt.config.ports.serf_wan}, {"Server", opt.config.ports.server}};
    config["SessionTTLMin"] = absl::ToInt64Nanoseconds(fsm.store().config().session_ttl_min);
    config["Bootstrap"] = opt.config.bootstrap;
    config["BootstrapExpect"] = opt.config.bootstrap_expect;
    config["DevMode"] = opt.config.dev_mode;
    config["EnableScriptChecks"] = opt.config.enable_script_checks;
    j["Config"] = std::move(config);
    // Consul's DebugConfig is its whole runtime configuration; this is the part we have.
    j["DebugConfig"] = Json{{"Datacenter", opt.config.datacenter},
                            {"NodeName", node_name_},
                            {"NodeID", node_id_},
                            {"ServerMode", opt.config.server},
                            {"AdvertiseAddrLAN", HostOf(lan_addr_)},
                            {"AdvertiseAddrWAN", HostOf(wan_addr_)},
                            {"DataDir", opt.config.data_dir},
                            {"LogLevel", opt.config.log_level},
                            {"RetryJoinLAN", opt.config.retry_join},
                            {"StartJoinAddrsLAN", opt.config.start_join}};
    j["Coord"] = lan->coordinates_enabled() ? CoordJson(lan->coordinate()) : Json(nullptr);  // the LAN one
    j["Meta"] = Json::object();
    const gossip::Member* self = lan->member(node_name_);
    j["Member"] = self != nullptr ? MemberJson(*self) : Json(nullptr);
    Json stats;
    stats["agent"]["server"] = opt.config.server ? "true" : "false";
    stats["consul"]["server"] = opt.config.server ? "true" : "false";
    stats["consul"]["known_datacenters"] = absl::StrCat(1);
    if (server) {
      stats["consul"]["leader"] = raft->role() == raft::Role::kLeader ? "true" : "false";
      stats["consul"]["leader_addr"] = LeaderRpcAddress();
      stats["consul"]["bootstrap"] = opt.config.bootstrap ? "true" : "false";
    }
    if (server) {
      stats["raft"]["state"] = std::string(raft::RoleName(raft->role()));
      stats["raft"]["term"] = absl::StrCat(raft->term());
      stats["raft"]["commit_index"] = absl::StrCat(raft->commit());
      stats["raft"]["applied_index"] = absl::StrCat(raft->applied());
      stats["raft"]["last_log_index"] = absl::StrCat(raft->log().last_index());
      stats["raft"]["proposals"] = absl::StrCat(proposals_);
      stats["raft"]["proposal_batches"] = absl::StrCat(batches_proposed_);
    }
    j["Stats"] = std::move(stats);
    ok_json(j);
  } else if (method == "agent.members") {
    Json members = Json::array();
    const gossip::Serf* pool = call.wan() ? wan.get() : lan.get();
    if (pool != nullptr) {
      for (const auto& [name, m] : pool->members()) members.push_back(MemberJson(m));
    }
    ok_json(members);
  } else if (method == "agent.join") {
    gossip::Serf* pool = call.wan() ? wan.get() : lan.get();
    if (pool == nullptr) return Fail(request_id, absl::InvalidArgumentError("this agent is not in a WAN pool"));
    if (call.addresses_size() == 0 || call.addresses_size() > 64) {
      return Fail(request_id, absl::InvalidArgumentError("join: between 1 and 64 addresses"));
    }
    std::vector<Address> seeds;
    for (const std::string& a : call.addresses()) {
      if (a.empty() || a.size() > 256) return Fail(request_id, absl::InvalidArgumentError("join: bad address"));
      seeds.push_back(WithPort(a, call.wan() ? opt.config.ports.serf_wan : opt.config.ports.serf_lan));
    }
    if (call.wan()) {
      wan->Join(now, seeds, wan_out_);
      ok_json(Json(nullptr));  // WAN joins are answered at once (rare; retried by the operator)
      return;
    }
    std::erase(seeds, lan_addr_);  // joining ourselves: nothing to do, as memberlist's self-join
    if (seeds.empty()) {
      ok_json(Json(nullptr));
      return;
    }
    pending_joins_[request_id] = {lan->memberlist().join_replies(), now + absl::Seconds(10)};
    if (!join_started_.has_value()) join_started_ = now;
    lan->Join(now, seeds, lan_out_);
    log_.Info(now, "(LAN) joining: ", absl::StrJoin(seeds, ","));
  } else if (method == "agent.leave") {
    BeginLeave(now, request_id);
  } else if (method == "agent.force-leave") {
    // Consul's force-leave: a failed member left at once (and with prune forgotten); the
    // leader then deregisters it from the catalog as for any member that left.
    gossip::Serf* pool = call.wan() ? wan.get() : lan.get();
    if (pool == nullptr) return Fail(request_id, absl::InvalidArgumentError("this agent is not in a WAN pool"));
    absl::Status s = pool->ForceLeave(now, call.key(), call.prune(), call.wan() ? wan_out_ : lan_out_);
    if (!s.ok()) return Fail(request_id, s);
    log_.Info(now, "Force leaving node: ", call.key());
    Answer(request_id, absl::OkStatus(), reply);  // empty 200, as Consul
  } else if (method == "event.fire") {
    FireUserEvent(now, request_id, call);
  } else if (method == "event.list") {
    ListUserEvents(request_id, call, /*may_block=*/true);
  } else if (method == "coordinate.datacenters") {
    pba::Reply r = Facts();
    r.set_body(DatacenterCoordinatesJson(wan.get(), opt.config.datacenter));
    Answer(request_id, absl::OkStatus(), std::move(r));
  } else if (method == "catalog.datacenters") {
    // Ours and every datacenter the WAN pool has servers of, sorted (Consul's order is by
    // round-trip time; with one datacenter the two agree).
    absl::btree_set<std::string> dcs = {opt.config.datacenter};
    if (wan != nullptr) {
      for (const auto& [name, m] : wan->members()) {
        auto dc = m.tags.find("dc");
        if (dc != m.tags.end() && m.status == gossip::MemberStatus::kAlive && dcs.size() < 256) dcs.insert(dc->second);
      }
    }
    ok_json(Json(std::vector<std::string>(dcs.begin(), dcs.end())));
  } else {
    Fail(request_id, absl::InvalidArgumentError(absl::StrCat("unknown request method \"", method, "\"")));
  }
}

// Answered by the leader from its raft state (MethodKind::kLeader). The raft configuration
// is the leader's view, as Consul's (a default read), or with ?stale this server's own;
// autopilot's health is only the leader's.
void AgentMachine::Impl::ServeLeader(Time now, uint64_t request_id, const std::string& method,
                                     const pba::Call& call) {
  const bool own_view = method == "operator.raft.configuration" && call.consistency() == "stale";
  if (raft == nullptr || (!own_view && raft->role() != raft::Role::kLeader)) {
    return Forward(now, request_id, method, call);
  }
  if (!own_view && !MayPropose()) return Hold(now, request_id, method, call);
  pba::Reply reply = Facts();
  if (method == "operator.autopilot.health") {
    UpdateAutopilot(now);
    reply.set_body(autopilot_.HealthJson(now));
    return Answer(request_id, absl::OkStatus(), reply);
  }
  if (method == "operator.raft.configuration") {
    Json j;
    absl::btree_map<NodeId, ServerCandidate> known = KnownServers();
    Json servers = Json::array();
    for (const raft::pb::Server& s : raft->configuration().servers()) {
      Json e;
      auto k = known.find(NodeId{s.id()});
      e["ID"] = k != known.end() ? k->second.node_id : (s.id() == raft_id_.value ? node_id_ : absl::StrCat(s.id()));
      e["Node"] = k != known.end() ? k->second.name : (s.id() == raft_id_.value ? node_name_ : "(unknown)");
      e["Address"] = s.address();
      e["Leader"] = raft->leader().value == s.id();
      e["ProtocolVersion"] = "3";
      e["Voter"] = s.voter();
      servers.push_back(std::move(e));
    }
    j["Servers"] = std::move(servers);
    j["Index"] = raft->configuration_index();
    reply.set_index(std::max<uint64_t>(1, raft->configuration_index()));
    reply.set_body(j.dump());
    return Answer(request_id, absl::OkStatus(), reply);
  }
  Fail(request_id, absl::InvalidArgumentError(absl::StrCat("not a leader request: ", method)));
}

bool AgentMachine::Impl::MayPropose() const {
  // Propose only once an entry of our own term (the no-op) is applied: by then the replicated
  // clock has seen every committed stamp (core/state/replicated_clock.h).
  return raft != nullptr && raft->role() == raft::Role::kLeader && term_applied_ == raft->term();
}

Address AgentMachine::Impl::LeaderRpcAddress() const {
  if (raft == nullptr || !raft->leader().valid()) return "";
  for (const raft::pb::Server& s : raft->configuration().servers()) {
    if (s.id() == raft->leader().value) return s.address();
  }
  return "";
}

void AgentMachine::Impl::Forward(Time now, uint64_t request_id, const std::string& method, pba::Call call) {
  const Address to = raft != nullptr ? LeaderRpcAddress() : RoutedServerAddress(now);
  if (to.empty() || to == rpc_addr_ || to == broken_leader_rpc_) return Hold(now, request_id, method, call);
  SendForward(now, PendingForward{request_id, 0, to, method, std::move(call)});
}

void AgentMachine::Impl::SendForward(Time now, PendingForward f) {
  if (f.call.hops() >= kForwardHopsMax) {
    return Fail(f.request_id, absl::UnavailableError("too many forwards: leadership is moving"));
  }
  if (forwards_.size() >= kPendingRequestsMax) {
    return Fail(f.request_id, absl::UnavailableError("too many requests in flight"));
  }
  const uint64_t seq = next_rpc_seq_++;
  pba::RpcMessage m;
  m.set_seq(seq);
  m.mutable_forward()->set_method(f.method);
  *m.mutable_forward()->mutable_call() = f.call;
  SendRpc(f.to, m);
  // A blocking query waits at the leader for up to its wait (and jitter) before it answers.
  const Duration blocking = f.call.min_index() > 0
                                ? (f.call.wait_ms() == 0 ? kBlockingWaitDefault
                                                         : std::min(absl::Milliseconds(f.call.wait_ms()), kBlockingWaitMax)) *
                                      17 / 16
                                : absl::ZeroDuration();
  f.timer = timers_.Add(now + opt.rpc_timeout + blocking, [this, seq] {
    auto it = forwards_.find(seq);
    if (it == forwards_.end()) return;
    PendingForward timed_out = std::move(it->second);
    forwards_.erase(it);
    if (router_ != nullptr) return ClientForwardFailed(now_, std::move(timed_out), "rpc error: timeout waiting for the server's answer");
    Fail(timed_out.request_id, absl::UnavailableError("rpc error: timeout waiting for the leader's answer"));
  });
  forwards_[seq] = std::move(f);
}

// ---------------------------------------------------------------------------------------
// A client's server routing.

Address AgentMachine::Impl::RoutedServerAddress(Time now) {
  const RoutedServer* s = router_->Current();
  const Address to = s != nullptr ? s->rpc_address : "";
  if (to != routed_to_) {
    routed_to_ = to;
    if (s != nullptr) log_.Debug(now, "client: RPC server: ", s->name, " (", s->rpc_address, ")");
  }
  return to;
}

void AgentMachine::Impl::SyncRouter(Time now) {
  std::vector<RoutedServer> alive;
  for (const auto& [id, s] : KnownServers()) {
    const gossip::Member* m = lan->member(s.name);
    if (m != nullptr && m->status == gossip::MemberStatus::kAlive) alive.push_back(RoutedServer{s.name, s.rpc_address});
  }
  if (!router_->Sync(alive)) log_.Warn(now, "client: more than ", kRouterServersMax, " servers in gossip; routing among the first");
  if (rebalance_timer_ == 0 && router_->Current() != nullptr) {
    rebalance_timer_ = timers_.Add(now + router_->RebalancePeriod(lan->members().size()), [this] { RebalanceRouter(now_); });
  }
  // A forward to a server that failed or left will not be answered: a read goes at once to the
  // next server, a write fails now instead of at its timeout.
  std::vector<PendingForward> orphaned;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (router_->Knows(it->second.to)) {
      ++it;
      continue;
    }
    timers_.Cancel(it->second.timer);
    orphaned.push_back(std::move(it->second));
    it = forwards_.erase(it);
  }
  for (PendingForward& f : orphaned) ClientForwardFailed(now, std::move(f), "rpc error: the server failed or left");
}

// Consul's client does not retry a write whose outcome is unknown, and retries a read (which
// changes nothing) on the next server; either way the server that failed is no longer the one
// the next request goes to.
void AgentMachine::Impl::ClientForwardFailed(Time now, PendingForward f, std::string_view why) {
  router_->NotifyFailed(f.to);
  const bool write = KindOf(f.method) == MethodKind::kWrite;
  if (!write && !f.retried) {
    const Address next = RoutedServerAddress(now);
    if (!next.empty() && next != f.to) {
      f.retried = true;
      f.to = next;
      return SendForward(now, std::move(f));
    }
  }
  Fail(f.request_id, absl::UnavailableError(absl::StrCat(std::string(why), write ? ": outcome unknown" : "")));
}

// Consul's client moves to the next server on the RPC's connection error at once: a read goes
// to the next server, a write fails with its outcome unknown (the server may have applied it
// before it died). A server's forward to a leader that broke: a write fails the same way, a
// read is held and sent again once a leader is reachable (heard from again, or a new one).
void AgentMachine::Impl::HandleStreamBroken(Time now, const StreamBrokenInput& broken) {
  if (broken.endpoint != Endpoint::kRpc) return;
  std::vector<PendingForward> failed;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.to != broken.peer) {
      ++it;
      continue;
    }
    timers_.Cancel(it->second.timer);
    failed.push_back(std::move(it->second));
    it = forwards_.erase(it);
  }
  if (router_ != nullptr) {
    if (failed.empty() && router_->Knows(broken.peer)) router_->NotifyFailed(broken.peer);  // the next request avoids it
    for (PendingForward& f : failed) ClientForwardFailed(now, std::move(f), "rpc error: the connection to the server broke");
    return;
  }
  if (raft == nullptr) return;
  if (broken.peer == LeaderRpcAddress()) broken_leader_rpc_ = broken.peer;
  for (PendingForward& f : failed) {
    if (KindOf(f.method) == MethodKind::kWrite) {
      Fail(f.request_id, absl::UnavailableError("rpc error: the connection to the leader broke: outcome unknown"));
    } else {
      Hold(now, f.request_id, f.method, f.call);
    }
  }
}

void AgentMachine::Impl::RebalanceRouter(Time now) {
  const Duration next = router_->Rebalance(lan->members().size());
  RoutedServerAddress(now);  // logs a new current server
  rebalance_timer_ = timers_.Add(now + next, [this] { RebalanceRouter(now_); });
}

void AgentMachine::Impl::Hold(Time now, uint64_t request_id, const std::string& method, const pba::Call& call) {
  // A client holds only while it knows no server: Consul's client says so (ErrNoServers).
  const char* why = raft != nullptr ? "No cluster leader" : "No known Consul servers";
  if (held_.size() >= kPendingRequestsMax) return Fail(request_id, absl::UnavailableError(why));
  const uint64_t timer = timers_.Add(now + opt.rpc_timeout, [this, request_id, why] {
    auto it = held_.find(request_id);
    if (it == held_.end()) return;
    held_.erase(it);
    Fail(request_id, absl::UnavailableError(why));
  });
  held_[request_id] = HeldRequest{request_id, method, call, timer};
}

bool AgentMachine::Impl::LeaderUsable() const {
  if (raft == nullptr) return router_->Current() != nullptr;
  if (!raft->leader().valid()) return false;
  if (!broken_leader_rpc_.empty() && LeaderRpcAddress() == broken_leader_rpc_) return false;  // its stream broke
  return raft->leader() != raft_id_ || MayPropose();
}

void AgentMachine::Impl::ReleaseHeld(Time now) {
  if (held_.empty() || !LeaderUsable()) return;
  absl::btree_map<uint64_t, HeldRequest> held = std::exchange(held_, {});
  for (auto& [id, h] : held) {
    timers_.Cancel(h.timer);
    HandleRequest(now, h.request_id, h.method, h.call);
  }
}

// The leader we forwarded to is no longer the leader: a read goes again to the new one (it
// changes nothing); a write's outcome is unknown (the old leader may have applied it), so it
// fails at once rather than waiting out the timeout, as Consul does not retry writes.
void AgentMachine::Impl::RedirectForwards(Time now) {
  const Address leader = LeaderRpcAddress();
  if (leader.empty()) return;
  std::vector<PendingForward> moved;
  for (auto it = forwards_.begin(); it != forwards_.end();) {
    if (it->second.to == leader) {
      ++it;
      continue;
    }
    timers_.Cancel(it->second.timer);
    moved.push_back(std::move(it->second));
    it = forwards_.erase(it);
  }
  for (PendingForward& f : moved) {
    if (KindOf(f.method) != MethodKind::kWrite) {  // reads and leader answers change nothing
      HandleRequest(now, f.request_id, f.method, f.call);
    } else {
      Fail(f.request_id, absl::UnavailableError("leadership lost: outcome unknown"));
    }
  }
}

void AgentMachine::Impl::Read(Time now, uint64_t request_id, const std::string& method, const pba::Call& call) {
  if (raft == nullptr) return Forward(now, request_id, method, call);
  const std::string& mode = call.consistency();
  if (mode != "" && mode != "stale" && mode != "consistent") {
    return Fail(request_id, absl::InvalidArgumentError("consistency: one of \"\", stale, consistent"));
  }
  if (mode == "stale") return Serve(request_id, method, call);  // any server, from its own state
  if (raft->role() != raft::Role::kLeader && mode.empty() && opt.unsafe_followers_serve_default_reads) {
    return Serve(request_id, method, call);
  }
  if (raft->role() != raft::Role::kLeader) return Forward(now, request_id, method, call);
  // A new leader serves reads only once its own term's first entry is applied: until then it
  // may not have applied what the old leader committed (and answered with).
  if (!MayPropose()) return Hold(now, request_id, method, call);
  if (reads_.size() >= kPendingRequestsMax) return Fail(request_id, absl::UnavailableError("too many reads in flight"));
  if (mode.empty()) {
    // default: the leader's lease, as Consul's default mode; a leader without a valid lease
    // confirms with a quorum instead.
    absl::StatusOr<uint64_t> index = raft->LeaseRead(now);
    if (index.ok()) {
      if (*index <= fsm.store().last_index()) return Serve(request_id, method, call);
      reads_[request_id] = PendingRead{request_id, method, call, *index, raft->term()};
      return;
    }
  }
  absl::Status s = raft->ReadIndex(now, request_id, ready_);
  if (!s.ok()) return Fail(request_id, absl::UnavailableError(s.message()));
  reads_[request_id] = PendingRead{request_id, method, call, 0, raft->term()};
}

void AgentMachine::Impl::Serve(uint64_t request_id, const std::string& method, const pba::Call& call, bool may_block) {
  pba::Reply reply = Facts();
  // DNS answers shuffle their instances from the machine's seeded Rng (dns_resolve.h).
  const absl::Status s = method == kDnsQueryMethod
                             ? ServeDnsQuery(fsm.store(), call, rng_.Next(), &reply)
                             : ServeStoreRead(fsm.store(), StoreReadContext{opt.autopilot, node_name_}, method, call, &reply);
  // A rolled-back read-only transaction's body holds its errors (409): answered with it.
  if (s.code() == absl::StatusCode::kAborted) return Answer(request_id, s, std::move(reply));
  if (!s.ok() && s.code() != absl::StatusCode::kNotFound) return Fail(request_id, s);
  Done(request_id, method, call, s, std::move(reply), may_block);
}

// A read's answer, unless it is a blocking query whose index has not moved past the client's:
// then it is parked on the topics its query reads (core/state/watch.h) until an apply touches
// them or its wait runs out (Consul's blocking queries).
void AgentMachine::Impl::Done(uint64_t request_id, const std::string& method, const pba::Call& call,
                              const absl::Status& status, pba::Reply reply, bool may_block) {
  if (reply.index() == 0) reply.set_index(1);  // never 0: a client blocking on 0 would spin
  const bool blocks = may_block && call.min_index() > 0 && reply.index() <= call.min_index() &&
                      (status.ok() || status.code() == absl::StatusCode::kNotFound);
  if (!blocks || !Park(request_id, method, call)) return Answer(request_id, status, std::move(reply));
}

Duration AgentMachine::Impl::BlockingWait(const pba::Call& call) {
  // Consul's: 5 min when the client names none, at most 10 min, plus up to wait/16 of jitter
  // so that many clients woken together do not all come back at once.
  Duration wait = call.wait_ms() == 0 ? kBlockingWaitDefault
                                      : std::min(absl::Milliseconds(call.wait_ms()), kBlockingWaitMax);
  const uint64_t jitter_ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(wait) / 16);
  if (jitter_ms > 0) wait += absl::Milliseconds(rng_.Uniform(jitter_ms));
  return wait;
}

bool AgentMachine::Impl::Park(uint64_t request_id, const std::string& method, const pba::Call& call) {
  std::vector<state::WatchTopic> topics = StoreReadTopics(method, call);
  if (topics.empty()) return false;
  auto it = parked_.find(request_id);
  if (it == parked_.end()) {
    if (parked_.size() >= kParkedQueriesMax) return false;  // answered at once: a legal answer
    const uint64_t timer = timers_.Add(now_ + BlockingWait(call), [this, request_id] {
      auto p = parked_.find(request_id);
      if (p == parked_.end()) return;
      ParkedQuery q = std::move(p->second);
      parked_.erase(p);
      fsm.watches().Remove(request_id);
      Serve(request_id, q.method, q.call, /*may_block=*/false);  // the wait ran out: as it is now
    });
    it = parked_.emplace(request_id, ParkedQuery{method, call, timer}).first;
  }
  if (!fsm.watches().Add(request_id, std::move(topics))) {
    timers_.Cancel(it->second.timer);
    parked_.erase(it);
    return false;
  }
  return true;
}

void AgentMachine::Impl::Wake(const std::vector<uint64_t>& woken) {
  for (uint64_t id : woken) {
    auto it = parked_.find(id);
    if (it == parked_.end()) continue;
    // Run the query again: answered if its index moved, parked again (same deadline) if not.
    const std::string method = it->second.method;
    const pba::Call call = it->second.call;
    const uint64_t timer = it->second.timer;
    parked_.erase(it);
    Serve(id, method, call, /*may_block=*/true);
    if (auto again = parked_.find(id); again != parked_.end()) {
      timers_.Cancel(again->second.timer);  // the re-park's new deadline: keep the first one
      again->second.timer = timer;
    } else {
      timers_.Cancel(timer);
    }
  }
}

void AgentMachine::Impl::Write(Time now, uint64_t request_id, const std::string& method, const pba::Call& call) {
  if (raft == nullptr || raft->role() != raft::Role::kLeader) return Forward(now, request_id, method, call);
  if (!MayPropose()) return Hold(now, request_id, method, call);
  if (writes_.size() >= kPendingRequestsMax) return Fail(request_id, absl::UnavailableError("too many writes in flight"));
  if (method == "coordinate.update") return QueueCoordinate(request_id, call);
  const Time stamp = clock_.Stamp(now, raft->term());
  if (method == "catalog.sync-self") {
    state::RegisterRequest reg;
    reg.node.name = call.key();
    reg.node.id = call.id();
    reg.node.address = call.address();
    reg.node.datacenter = opt.config.datacenter;
    reg.node.tagged_addresses["lan"] = call.address();
    reg.node.tagged_addresses["lan_ipv4"] = call.address();
    reg.node.tagged_addresses["wan"] = call.address();
    reg.node.tagged_addresses["wan_ipv4"] = call.address();
    if (absl::StatusOr<std::string> id = ParseNodeId(reg.node.id); !id.ok() || reg.node.name.empty()) {
      return Fail(request_id, absl::InvalidArgumentError("register: node name and ID required"));
    }
    if (std::optional<state::Node> have = fsm.store().GetNode(reg.node.name); have.has_value()) {
      state::Node want = reg.node;
      if (want.SameContent(*have)) {
        pba::Reply r = Facts();
        r.set_index(have->modify_index);
        return Answer(request_id, absl::OkStatus(), r);
      }
    }
    Propose(now, request_id, state::commands::Register(stamp, reg), WriteKind::kInternal);
  } else if (method == "operator.autopilot.set") {
    std::optional<state::AutopilotConfiguration> stored = fsm.store().Autopilot();
    absl::StatusOr<AutopilotConfig> c =
        ParseAutopilotConfigJson(call.json(), stored.has_value() ? *stored : opt.autopilot);
    if (!c.ok()) return Fail(request_id, c.status());
    Propose(now, request_id, state::commands::AutopilotSet(stamp, *c, call.has_cas(), call.cas()),
            WriteKind::kAutopilot);
  } else if (method == "session.create") {
    absl::StatusOr<std::pair<state::Session, bool>> parsed = ParseSessionCreate(call.json(), node_name_);
    if (!parsed.ok()) return Fail(request_id, parsed.status());
    state::Session session = parsed->first;
    // The leader picks the ID, from its seeded Rng: every server applies the same one.
    session.id = FormatNodeId(rng_.Next(), rng_.Next());
    const std::string id = session.id;
    Propose(now, request_id, state::commands::SessionCreate(stamp, session, parsed->second), WriteKind::kSessionCreate,
            id);
  } else if (method == "session.destroy" || method == "session.renew") {
    if (call.key().empty() || call.key().size() > 64) {
      return Fail(request_id, absl::InvalidArgumentError("session: the session ID is required"));
    }
    if (method == "session.renew" && !fsm.store().SessionGet(call.key()).value.has_value()) {
      return Fail(request_id, absl::NotFoundError(absl::StrCat("Session id '", call.key(), "' not found")));
    }
    const bool destroy = method == "session.destroy";
    Propose(now, request_id,
            state::commands::SessionOp(stamp, destroy ? pbs::SessionRequest::DESTROY : pbs::SessionRequest::RENEW,
                                       call.key()),
            destroy ? WriteKind::kSessionDestroy : WriteKind::kSessionRenew, call.key());
  } else if (method == "operator.raft.remove-peer") {
    NodeId target;
    for (const raft::pb::Server& s : raft->configuration().servers()) {
      absl::btree_map<NodeId, ServerCandidate> known = KnownServers();
      auto k = known.find(NodeId{s.id()});
      const bool id_match = !call.id().empty() &&
                            ((k != known.end() && k->second.node_id == call.id()) || absl::StrCat(s.id()) == call.id() ||
                             (s.id() == raft_id_.value && node_id_ == call.id()));
      const bool addr_match = !call.address().empty() && s.address() == call.address();
      if (id_match || addr_match) target = NodeId{s.id()};
    }
    if (!target.valid()) {
      return Fail(request_id, absl::InvalidArgumentError(absl::StrCat(
                                  "id or address not found in the Raft configuration: ",
                                  call.id().empty() ? call.address() : call.id())));
    }
    absl::Status s = raft->ChangeMembership(now, raft::ConfChange::kRemove, target, "", ready_);
    if (!s.ok()) return Fail(request_id, absl::UnavailableError(s.message()));
    raft_log_.Info(now, "Updating configuration with RemoveServer (", ToString(target), ")");
    writes_[raft->log().last_index()] = PendingWrite{request_id, raft->term(), WriteKind::kConfChange};
  } else {
    StoreWriteContext context{node_name_, opt.config.datacenter, opt.unsafe_acquire_takes_held_locks};
    if (opt.unsafe_acquire_from_suspect_holders) {
      context.unsafe_holder_node_suspect = [this](std::string_view node) {
        const gossip::NodeState* n = lan->memberlist().Node(std::string(node));
        return n == nullptr || n->state != gossip::MemberState::kAlive;
      };
    }
    absl::StatusOr<StoreWrite> w = BuildStoreWrite(fsm.store(), context, method, call, stamp);
    if (!w.ok()) return Fail(request_id, w.status());
    Propose(now, request_id, w->command, WriteKind::kStore, "", w->answer);
  }
}

void AgentMachine::Impl::Propose(Time now, uint64_t request_id, const pbs::Command& c, WriteKind kind,
                                 std::string session_id, WriteAnswer answer) {
  // While a log write of ours is on its way to the disk, a new command waits for it and then
  // goes out with every other one that arrived meanwhile (FlushQueued): the group commit of
  // proposals (raft's ProposeBatch). A lone client's write is proposed at once.
  if (raft->durable_index() < raft->log().last_index() || !queued_.empty()) {
    if (queued_.size() >= kQueuedCommandsMax) {
      return Fail(request_id, absl::UnavailableError("too many writes waiting for the disk"));
    }
    queued_.push_back(QueuedCommand{request_id, kind, c.SerializeAsString(), std::move(session_id), answer});
    return;
  }
  absl::StatusOr<uint64_t> index = raft->Propose(now, c.SerializeAsString(), ready_);
  if (!index.ok()) return Fail(request_id, absl::UnavailableError(index.status().message()));
  MUSTER_CHECK(!writes_.contains(*index), "a pending entry's index was reused while leading");
  writes_[*index] = PendingWrite{request_id, raft->term(), kind, std::move(session_id), answer};
  ++proposals_;
}

void AgentMachine::Impl::FlushQueued(Time now) {
  if (queued_.empty()) return;
  if (raft == nullptr || !MayPropose()) {
    for (const QueuedCommand& q : queued_) Fail(q.request_id, absl::UnavailableError("leadership lost"));
    queued_.clear();
    return;
  }
  if (raft->durable_index() < raft->log().last_index() && queued_.size() < kQueuedCommandsMax / 2) return;
  std::vector<QueuedCommand> batch = std::exchange(queued_, {});
  std::vector<std::string> data;
  data.reserve(batch.size());
  for (QueuedCommand& q : batch) data.push_back(std::move(q.bytes));
  const uint64_t first = raft->log().last_index() + 1;
  absl::Status s = raft->ProposeBatch(now, std::move(data), ready_);
  if (!s.ok()) {
    for (const QueuedCommand& q : batch) Fail(q.request_id, absl::UnavailableError(s.message()));
    return;
  }
  MUSTER_CHECK_EQ(raft->log().last_index(), first + batch.size() - 1, "a batch's entries are not contiguous");
  for (size_t i = 0; i < batch.size(); ++i) {
    MUSTER_CHECK(!writes_.contains(first + i), "a pending entry's index was reused while leading");
    writes_[first + i] =
        PendingWrite{batch[i].request_id, raft->term(), batch[i].kind, std::move(batch[i].session_id), batch[i].answer};
  }
  ++batches_proposed_;
}

// ---------------------------------------------------------------------------------------
// Raft output.

void AgentMachine::Impl::Carry(Time now, raft::Ready& ready) {
  if (raft == nullptr) return;
  if (ready.restore.has_value()) {
    absl::StatusOr<std::vector<uint64_t>> woken = fsm.Restore(raft->log().snapshot_data());
    MUSTER_CHECK(woken.ok(), "snapshot data does not parse");
    Wake(*woken);
    MUSTER_CHECK_EQ(fsm.store().last_index(), ready.restore->index(), "snapshot data and meta disagree");
    clock_.Observe(fsm.store().last_stamp(), now);
    term_applied_ = ready.restore->term();
    const auto covered_end = writes_.upper_bound(ready.restore->index());
    for (auto it = writes_.begin(); it != covered_end; ++it) {
      Fail(it->second.request_id, absl::UnavailableError("outcome unknown: the entry is covered by a snapshot"));
    }
    writes_.erase(writes_.begin(), covered_end);
    applied.clear();
  }
  for (const raft::pb::Entry* entry : ready.committed) ApplyEntry(now, *entry);
  while (!writes_.empty() && writes_.begin()->first <= raft->applied() &&
         writes_.begin()->first <= fsm.store().last_index()) {
    Fail(writes_.begin()->second.request_id, absl::UnavailableError("entry was overwritten by another leader"));
    writes_.erase(writes_.begin());
  }
  for (const raft::ReadState& rs : ready.reads) {
    auto it = reads_.find(rs.context);
    if (it != reads_.end()) it->second.index = std::max<uint64_t>(rs.index, 1);
  }
  const uint64_t applied_index = std::max(fsm.store().last_index(), raft->applied());
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.index != 0 && it->second.index <= applied_index) {
      PendingRead r = std::move(it->second);
      it = reads_.erase(it);
      Serve(r.request_id, r.method, r.call);
    } else {
      ++it;
    }
  }
  MaybeSnapshot(now);
}

void AgentMachine::Impl::ApplyEntry(Time now, const raft::pb::Entry& e) {
  if (e.index() <= fsm.store().last_index()) return;  // in the snapshot restored
  term_applied_ = e.term();
  state::ApplyResult result;
  bool applied_command = false;
  if (e.type() == raft::pb::ENTRY_NORMAL && !e.data().empty()) {
    result = fsm.Apply(e.index(), e.data());
    clock_.Observe(fsm.store().last_stamp(), now);
    applied_command = true;
    if (!result.woken.empty()) Wake(result.woken);
  }
  applied.push_back(e);
  auto it = writes_.find(e.index());
  if (it == writes_.end()) return;
  PendingWrite w = it->second;
  writes_.erase(it);
  if (e.term() != w.term) {
    return Fail(w.request_id, absl::UnavailableError("entry was overwritten by another leader"));
  }
  if (w.kind == WriteKind::kConfChange) conf_change_in_flight_ = false;
  pba::Reply reply = Facts();
  reply.set_index(e.index());
  if (applied_command && !result.status.ok()) {
    // Refused by the state when it applied (an invalid session, a TTL out of range, a missing
    // node or service): Consul's server returns these as RPC errors, which its HTTP layer
    // answers 500 with the message (W10; patroni matches "Invalid Session TTL" on a 500).
    return Answer(w.request_id, absl::UnknownError(result.status.message()), reply);
  }
  if (w.kind == WriteKind::kStore) {
    absl::Status rendered = RenderWriteAnswer(w.answer, result, &reply);
    if (!rendered.ok()) return Answer(w.request_id, rendered, reply);
  } else if (w.kind == WriteKind::kAutopilot || w.kind == WriteKind::kSessionDestroy) {
    reply.set_body(result.ok ? "true" : "false");
  } else if (w.kind == WriteKind::kSessionCreate) {
    Json id;
    id["ID"] = w.session_id;
    reply.set_body(id.dump());
  } else if (w.kind == WriteKind::kSessionRenew) {
    std::optional<state::Session> renewed = fsm.store().SessionGet(w.session_id).value;
    if (!renewed.has_value()) return Answer(w.request_id, absl::NotFoundError("session not found"), reply);
    reply.set_body(Json::array({SessionJson(*renewed)}).dump());
  }
  Answer(w.request_id, absl::OkStatus(), reply);
}

void AgentMachine::Impl::MaybeSnapshot(Time now) {
  const uint64_t threshold = static_cast<uint64_t>(std::max(0, opt.config.raft_snapshot_threshold));
  if (threshold == 0) return;
  const uint64_t at = fsm.store().last_index();
  if (at < raft->log().snapshot_index() + threshold || at > raft->applied()) return;
  absl::Status s = raft->Compact(now, at, fsm.Snapshot(), ready_);
  if (!s.ok()) server_log_.Warn(now, "snapshot at index ", at, " failed: ", s.message());
}

void AgentMachine::Impl::FailPending(std::string_view why) {
  const std::string reason(why);
  for (const auto& [index, w] : writes_) Fail(w.request_id, absl::UnavailableError(reason));
  writes_.clear();
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.index == 0 || raft->role() != raft::Role::kLeader) {
      const uint64_t id = it->second.request_id;
      it = reads_.erase(it);
      Fail(id, absl::UnavailableError(reason));
    } else {
      ++it;
    }
  }
}

void AgentMachine::Impl::OnLeadershipChange(Time now) {
  if (raft == nullptr) return;
  // Pending writes of a term we no longer lead can no longer be promised (kv_machine.h).
  for (auto it = writes_.begin(); it != writes_.end();) {
    if (raft->role() != raft::Role::kLeader || raft->term() != it->second.term) {
      const uint64_t id = it->second.request_id;
      it = writes_.erase(it);
      Fail(id, absl::UnavailableError("leadership lost: outcome unknown"));
    } else {
      ++it;
    }
  }
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (raft->role() != raft::Role::kLeader || raft->term() != it->second.term) {
      const uint64_t id = it->second.request_id;
      it = reads_.erase(it);
      Fail(id, absl::UnavailableError("leadership lost"));
    } else {
      ++it;
    }
  }
  if (raft->leader() != last_leader_) {
    last_leader_ = raft->leader();
    RedirectForwards(now);
    if (last_leader_.valid()) {
      std::string name = ToString(last_leader_);
      for (const auto& [id, s] : KnownServers()) {
        if (id == last_leader_) name = s.name;
      }
      if (last_leader_ == raft_id_) name = node_name_;
      server_log_.Info(now, "New leader elected: payload=", name);
    }
  }
  const bool leads = MayPropose();
  if (leads == was_leader_) return;
  was_leader_ = leads;
  if (leads) {
    server_log_.Info(now, "cluster leadership acquired");
    conf_change_in_flight_ = false;
    reconcile_in_flight_.clear();
    autopilot_.Reset();
    if (!fsm.store().Autopilot().has_value()) {
      // Seed the configuration into the log (only if none is stored: cas 0), so what an
      // operator sets later survives every change of leader, as Consul's leader does.
      Propose(now, InternalRequest([](const absl::Status&, const pba::Reply&) {}),
              state::commands::AutopilotSet(clock_.Stamp(now, raft->term()), opt.autopilot, true, 0),
              WriteKind::kInternal);
    }
    Reconcile(now);
    timers_.Reset(&autopilot_timer_, now + opt.autopilot_interval, [this] { RunAutopilot(now_); });
  } else {
    server_log_.Info(now, "cluster leadership lost");
    timers_.Cancel(reconcile_timer_);
    timers_.Cancel(autopilot_timer_);
    timers_.Cancel(session_timer_);
    session_timer_at_.reset();
    autopilot_.Reset();
    FailPending("leadership lost");
  }
}

// ---------------------------------------------------------------------------------------
// Gossip.

bool AgentMachine::Impl::Joining(Time now) const {
  if (!join_started_.has_value()) return false;  // we never joined anyone: we are the cluster
  if (raft != nullptr) {
    for (const raft::pb::Server& s : raft->configuration().servers()) {
      if (s.id() == raft_id_.value && s.address() == rpc_addr_) return false;  // a member of the cluster
    }
  }
  return !first_joined_.has_value() || now - *first_joined_ < kJoinSettleTime;
}

void AgentMachine::Impl::CheckIdentityConflicts(Time now) {
  if (exit_reason_.has_value()) return;
  const std::string& claimer = lan->memberlist().stats().self_name_claimed_by;
  if (!claimer.empty() && claimer != reported_name_claimer_) {
    reported_name_claimer_ = claimer;
    if (Joining(now)) {
      exit_reason_ = absl::StrCat("Failed to join: a member named \"", node_name_, "\" already exists at ", claimer,
                                  " (node names must be unique: set -node)");
      log_.Log(now, LogLevel::kError, *exit_reason_);
    } else {
      log_.Warn(now, "an agent at ", claimer, " claims this agent's node name \"", node_name_,
                "\"; it is not let in (node names must be unique)");
    }
  }
  // A new clash needs a member that became alive or changed its tags: none since the last
  // walk, nothing new to find (the walk ran at every step: 2.4% of a simulated run).
  if (lan->members_version() == identity_checked_members_version_) return;
  identity_checked_members_version_ = lan->members_version();
  for (const auto& [name, m] : lan->members()) {
    if (name == node_name_ || m.status != gossip::MemberStatus::kAlive) continue;
    auto id = m.tags.find("id");
    if (id == m.tags.end() || id->second != node_id_ || reported_id_conflicts_.contains(name)) continue;
    if (reported_id_conflicts_.size() < 64) reported_id_conflicts_.insert(name);
    if (Joining(now)) {
      exit_reason_ = absl::StrCat("Failed to join: member \"", name, "\" has conflicting node ID ", node_id_,
                                  " with this agent's ID (node IDs must be unique: remove the data dir's node-id or set -node-id)");
      log_.Log(now, LogLevel::kError, *exit_reason_);
      // We were let in under our own name before we saw the clash: say goodbye, so the others
      // mark us left at once instead of failed later. (Not on a name clash: a leave in our
      // name would be taken for the incumbent's.)
      leaving_ = true;
      lan->Leave(now, lan_out_);
      if (wan != nullptr) wan->Leave(now, wan_out_);
      return;
    }
    log_.Warn(now, "member \"", name, "\" has conflicting node ID ", node_id_,
              " with this agent's ID; it is ignored (node IDs must be unique)");
  }
}

// Consul's WAN flood: every server of our datacenter that LAN gossip knows is joined into our
// WAN pool too, so `members -wan` lists the servers of every datacenter once any one of them
// joins another's.
void AgentMachine::Impl::FloodWan(Time now) {
  if (wan == nullptr || leaving_) return;
  std::vector<Address> seeds;
  for (const auto& [name, m] : lan->members()) {
    if (name == node_name_ || m.status != gossip::MemberStatus::kAlive) continue;
    if (!ServerOfMember(m).has_value()) continue;
    auto port = m.tags.find("wan_join_port");
    int p = 0;
    if (port == m.tags.end() || !absl::SimpleAtoi(port->second, &p) || p <= 0 || p > 65535) continue;
    const std::string wan_name = absl::StrCat(name, ".", opt.config.datacenter);
    const gossip::Member* known = wan->member(wan_name);
    if (known != nullptr && known->status == gossip::MemberStatus::kAlive) continue;
    const std::string host = HostOf(m.addr);
    seeds.push_back(host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", p) : absl::StrCat(host, ":", p));
  }
  if (seeds.empty()) return;
  wan->Join(now, seeds, wan_out_);
}

void AgentMachine::Impl::StartGossip(Time now) {
  lan->Start(now, lan_out_);
  if (wan != nullptr) wan->Start(now, wan_out_);
  // -join: once, at start; if no seed answers the agent does not run (Consul exits).
  std::vector<Address> seeds;
  for (const std::string& a : opt.config.start_join) seeds.push_back(WithPort(a, opt.config.ports.serf_lan));
  std::erase(seeds, lan_addr_);
  if (!seeds.empty()) {
    log_.Info(now, "Joining cluster...: cluster=LAN seeds=", absl::StrJoin(seeds, ","));
    if (!join_started_.has_value()) join_started_ = now;
    lan->Join(now, seeds, lan_out_);
    timers_.Add(now + kStartJoinTimeout, [this, seeds] {
      if (lan->memberlist().join_replies() > 0) return;
      exit_reason_ = absl::StrCat("Error joining address(es) ", absl::StrJoin(seeds, ","), ": no seed answered");
      log_.Log(now_, LogLevel::kError, "failed to join: ", *exit_reason_);
    });
  }
  TryJoin(now);
  // The serf snapshot's previous members (Serf's handleRejoin), beside -join and -retry-join.
  std::vector<Address> previous = lan_snapshot_->StartRejoin(now, *lan, lan_addr_);
  if (!previous.empty()) {
    if (!join_started_.has_value()) join_started_ = now;
    lan->Join(now, previous, lan_out_);
  }
  if (wan != nullptr) {
    std::vector<Address> previous_wan = wan_snapshot_->StartRejoin(now, *wan, wan_addr_);
    if (!previous_wan.empty()) wan->Join(now, previous_wan, wan_out_);
  }
}

// Each pool's snapshot after the step's gossip: written when its members or clocks changed
// (rate-bounded), and a re-join attempt through previous members not back yet when one is due.
void AgentMachine::Impl::TickSnapshots(Time now, const Effects& lan_batch, const Effects& wan_batch) {
  auto member_events = [](const Effects& batch) {
    return std::any_of(batch.events.begin(), batch.events.end(),
                       [](const Event& e) { return absl::StartsWith(e.kind, "member-"); });
  };
  std::vector<Address> seeds = lan_snapshot_->Tick(now, *lan, member_events(lan_batch), lan_snapshot_out_);
  if (!seeds.empty() && !leaving_) lan->memberlist().Join(now, seeds, lan_out_);
  if (wan != nullptr) {
    seeds = wan_snapshot_->Tick(now, *wan, member_events(wan_batch), wan_snapshot_out_);
    if (!seeds.empty() && !leaving_) wan->memberlist().Join(now, seeds, wan_out_);
  }
}

void AgentMachine::Impl::TryJoin(Time now) {
  std::vector<Address> seeds;
  for (const std::string& a : opt.config.retry_join) seeds.push_back(WithPort(a, opt.config.ports.serf_lan));
  std::erase(seeds, lan_addr_);
  if (seeds.empty() || joined_) return;
  if (opt.config.retry_max > 0 && join_attempts_ >= opt.config.retry_max) {
    log_.Log(now, LogLevel::kError, "Join LAN: max join retry exhausted, exiting");
    exit_reason_ = "max join retry exhausted";
    return;
  }
  ++join_attempts_;
  log_.Info(now, "Joining cluster...: cluster=LAN seeds=", absl::StrJoin(seeds, ","));
  if (!join_started_.has_value()) join_started_ = now;
  lan->Join(now, seeds, lan_out_);
  timers_.Add(now + std::max(opt.config.retry_interval, absl::Seconds(1)), [this] {
    if (!joined_) {
      log_.Warn(now_, "Join cluster failed, will retry: cluster=LAN retry_interval=",
                absl::FormatDuration(opt.config.retry_interval));
      TryJoin(now_);
    }
  });
}

void AgentMachine::Impl::ObserveMemberEvents(Time now, const Effects& batch, std::string_view pool) {
  bool changed = false;
  bool server_joined = false;  // Consul's ServerUp: anti-entropy syncs in full soon
  for (const Event& e : batch.events) {
    std::string_view name;
    if (e.kind == "member-join") name = "EventMemberJoin";
    else if (e.kind == "member-leave") name = "EventMemberLeave";
    else if (e.kind == "member-failed") name = "EventMemberFailed";
    else if (e.kind == "member-update") name = "EventMemberUpdate";
    else if (e.kind == "member-reap") name = "EventMemberReap";
    else continue;
    changed = true;
    for (absl::string_view line : absl::StrSplit(e.payload, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, '\t');
      if (f.size() < 2) continue;
      Logger l = raft != nullptr ? Logger(server_log_.Child(absl::StrCat("serf.", std::string(pool))))
                                 : Logger(log_.Child(absl::StrCat("client.serf.", std::string(pool))));
      l.Info(now, "serf: ", std::string(name), ": ", f[0], " ", HostOf(f[1]));
      const gossip::Member* m = e.kind == "member-join" && pool == "lan" ? lan->member(f[0]) : nullptr;
      if (m != nullptr && f[0] != node_name_ && ServerOfMember(*m).has_value()) server_joined = true;
    }
  }
  if (server_joined) anti_entropy_->ServerUp(now, std::max<size_t>(1, lan->members().size()), local_out_);
  if (changed && pool == "lan" && MayPropose()) Reconcile(now);
  if (changed && pool == "lan" && router_ != nullptr) SyncRouter(now);
  if (changed && pool == "lan") FloodWan(now);
}

// ---------------------------------------------------------------------------------------
// User events: fired into LAN gossip, kept by each agent its filters select.

void AgentMachine::Impl::FireUserEvent(Time now, uint64_t request_id, const pba::Call& call) {
  pba::UserEventRecord record;
  record.set_name(call.key());
  record.set_payload(call.value());
  record.set_node_filter(call.event_node_filter());
  record.set_service_filter(call.event_service_filter());
  record.set_tag_filter(call.event_tag_filter());
  record.set_version(1);
  if (absl::Status s = ValidateUserEvent(record); !s.ok()) return Fail(request_id, s);
  record.set_id(FormatNodeId(rng_.Next(), rng_.Next()));  // seeded: the same run fires the same IDs
  absl::Status s = lan->UserEvent(now, std::string(kUserEventSerfName), record.SerializeAsString(),
                                  /*coalesce=*/false, lan_out_);
  if (!s.ok()) return Fail(request_id, absl::InvalidArgumentError(s.message()));
  pba::Reply reply = Facts();
  reply.set_body(UserEventJson(record, 0));  // Consul answers LTime 0: gossip assigns it
  Answer(request_id, absl::OkStatus(), reply);
}

void AgentMachine::Impl::ListUserEvents(uint64_t request_id, const pba::Call& call, bool may_block) {
  UserEventLog::Listed listed = user_events_.List(call.key());
  // A blocking list waits while the newest event is the one the client has seen (the index
  // is a fold of its ID, not an order: "not equal" is the change, as in Consul).
  if (may_block && call.min_index() > 0 && listed.index == call.min_index() &&
      parked_event_lists_.size() < kParkedQueriesMax && !parked_event_lists_.contains(request_id)) {
    const uint64_t timer = timers_.Add(now_ + BlockingWait(call), [this, request_id] {
      auto it = parked_event_lists_.find(request_id);
      if (it == parked_event_lists_.end()) return;
      pba::Call c = std::move(it->second.call);
      parked_event_lists_.erase(it);
      ListUserEvents(request_id, c, /*may_block=*/false);
    });
    parked_event_lists_[request_id] = ParkedEventList{call, timer};
    return;
  }
  pba::Reply reply = Facts();
  reply.set_index(listed.index);
  reply.set_body(UserEventListJson(listed));
  Answer(request_id, absl::OkStatus(), reply);
}

void AgentMachine::Impl::ObserveUserEvents(const Effects& batch) {
  const std::string kind = absl::StrCat("user:", std::string(kUserEventSerfName));
  bool added = false;
  for (const Event& e : batch.events) {
    if (e.kind != kind) continue;
    pba::UserEventRecord record;
    if (!record.ParseFromString(e.payload) || record.id().empty() || record.name().empty()) continue;
    if (!EventSelects(record, LocalEventTarget())) continue;
    // Once per event ID, as the log keeps it: Serf's dedup by Lamport time, and this besides.
    const UserEventLog::Listed seen = user_events_.List(record.name());
    if (opt.unsafe_user_events_no_id_check ||
        std::none_of(seen.events.begin(), seen.events.end(), [&](const auto& ev) { return ev.first.id() == record.id(); })) {
      event_handlers_->OnUserEvent(now_, record.name(), record.payload(), e.ltime, *handler_queue_, handlers_out_);
    }
    user_events_.Add(std::move(record), e.ltime);
    added = true;
  }
  if (!added || parked_event_lists_.empty()) return;
  absl::btree_map<uint64_t, ParkedEventList> parked = std::exchange(parked_event_lists_, {});
  for (auto& [id, p] : parked) {
    UserEventLog::Listed listed = user_events_.List(p.call.key());
    if (listed.index == p.call.min_index()) {  // not one it lists: still waiting
      parked_event_lists_[id] = std::move(p);
      continue;
    }
    timers_.Cancel(p.timer);
    ListUserEvents(id, p.call, /*may_block=*/false);
  }
}

// What user event filters are matched against: this node, and the services registered on
// this agent (local_state.h), as Consul's shouldProcessUserEvent reads its local services.
EventTarget AgentMachine::Impl::LocalEventTarget() const {
  EventTarget target;
  target.node_name = node_name_;
  if (local_ != nullptr) {
    for (const auto& [id, s] : local_->services()) target.services.emplace_back(s.service.name, s.service.tags);
  }
  return target;
}

std::optional<ServerCandidate> AgentMachine::Impl::ServerOfMember(const gossip::Member& m) const {
  absl::StatusOr<std::optional<ServerCandidate>> s = ServerOf(m);
  if (!s.ok() || !s->has_value()) return std::nullopt;
  if ((*s)->datacenter != opt.config.datacenter) return std::nullopt;
  return **s;
}

absl::btree_map<NodeId, ServerCandidate> AgentMachine::Impl::KnownServers() const {
  absl::btree_map<NodeId, ServerCandidate> out;
  for (const auto& [name, m] : lan->members()) {
    std::optional<ServerCandidate> s = ServerOfMember(m);
    if (!s.has_value()) continue;
    if (s->raft_id == raft_id_ && name != node_name_) continue;  // reuses our ID: not a peer
    auto [it, inserted] = out.emplace(s->raft_id, *s);
    if (inserted) continue;
    // Two members claim one ID (an impostor refusing to run, until gossip drops it): the one
    // raft knows at that address is the server; else the one seen first keeps it.
    if (raft != nullptr) {
      for (const raft::pb::Server& srv : raft->configuration().servers()) {
        if (srv.id() == s->raft_id.value && srv.address() == s->rpc_address) it->second = *s;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Bootstrap-expect.

bool AgentMachine::Impl::HasRaftState() const {
  return raft->configuration().servers_size() > 0 || raft->log().last_index() > 0 || raft->term() > 0;
}

void AgentMachine::Impl::RunBootstrap(Time now) {
  if (raft == nullptr || bootstrap_done_ || opt.config.bootstrap_expect <= 0) return;
  BootstrapInput in;
  in.self = node_name_;
  in.expect = static_cast<uint32_t>(opt.config.bootstrap_expect);
  in.datacenter = opt.config.datacenter;
  in.has_raft_state = HasRaftState();
  for (const auto& [name, m] : lan->members()) {
    if (m.status != gossip::MemberStatus::kAlive) continue;
    absl::StatusOr<std::optional<ServerCandidate>> s = ServerOf(m);
    if (!s.ok() || !s->has_value()) continue;
    if ((*s)->raft_id == raft_id_ && name != node_name_) continue;  // reuses our ID: not a peer
    in.alive_servers.push_back(**s);
  }
  in.peer_reports = peer_reports_;
  BootstrapDecision d = DecideBootstrap(in);
  if (!d.log.empty() && d.log != last_bootstrap_log_) {
    server_log_.Info(now, d.log);
    last_bootstrap_log_ = d.log;
  }
  switch (d.kind) {
    case BootstrapDecision::Kind::kNone:
    case BootstrapDecision::Kind::kWait:
      break;
    case BootstrapDecision::Kind::kDisabled:
      bootstrap_done_ = true;
      break;
    case BootstrapDecision::Kind::kAskPeers:
      if (now - last_peer_query_ >= kPeerQueryInterval) {
        last_peer_query_ = now;
        for (const ServerCandidate& s : d.servers) {
          if (peer_reports_.contains(s.name) || s.name == node_name_) continue;
          pba::RpcMessage q;
          q.set_seq(next_rpc_seq_++);
          q.mutable_peer_query();
          SendRpc(s.rpc_address, q);
        }
        timers_.Add(now + kPeerQueryInterval, [] {});  // ask again if no answer comes
      }
      break;
    case BootstrapDecision::Kind::kBootstrap: {
      raft::pb::Configuration c;
      for (const ServerCandidate& s : d.servers) {
        raft::pb::Server* srv = c.add_servers();
        srv->set_id(s.raft_id.value);
        srv->set_address(s.rpc_address);
        srv->set_voter(true);
      }
      absl::Status s = raft->Bootstrap(now, c, ready_);
      if (!s.ok()) server_log_.Warn(now, "bootstrap failed: ", s.message());
      bootstrap_done_ = true;
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Leader duties.

void AgentMachine::Impl::Reconcile(Time now) {
  if (!MayPropose()) return;
  timers_.Reset(&reconcile_timer_, now + opt.reconcile_interval, [this] { Reconcile(now_); });
  const state::Store& store = fsm.store();
  const Time stamp = clock_.Stamp(now, raft->term());
  auto in_flight = [&](const std::string& node) {
    auto it = reconcile_in_flight_.find(node);
    return it != reconcile_in_flight_.end() && it->second > fsm.store().last_index();
  };
  auto propose = [&](const std::string& node, const pbs::Command& c) {
    if (writes_.size() >= kPendingRequestsMax) return;
    absl::StatusOr<uint64_t> index = raft->Propose(now, c.SerializeAsString(), ready_);
    if (index.ok()) reconcile_in_flight_[node] = *index;
  };
  bool retry_soon = false;
  absl::btree_map<std::string, bool> members;  // name -> still a member (alive or failed)
  for (const auto& [name, m] : lan->members()) {
    auto dc = m.tags.find("dc");
    if (dc == m.tags.end() || dc->second != opt.config.datacenter) continue;
    if (name.size() > 128 || ValidateNodeName(name).ok() == false) continue;
    if (auto id = m.tags.find("id"); id != m.tags.end() && id->second == node_id_ && name != node_name_) continue;
    members[name] = true;
    if (in_flight(name)) {
      retry_soon = true;
      continue;
    }
    if (m.status == gossip::MemberStatus::kLeaving) continue;
    if (m.status == gossip::MemberStatus::kLeft) {
      if (store.GetNode(name).has_value() && name != node_name_) {
        server_log_.Info(now, "deregistering member: member=", name, " reason=left");
        propose(name, state::commands::Deregister(stamp, name));
      }
      continue;
    }
    const bool alive = m.status == gossip::MemberStatus::kAlive;
    state::RegisterRequest reg;
    reg.node.name = name;
    auto id = m.tags.find("id");
    reg.node.id = id != m.tags.end() && ParseNodeId(id->second).ok() ? id->second : "";
    reg.node.address = HostOf(m.addr);
    reg.node.datacenter = opt.config.datacenter;
    reg.node.tagged_addresses["lan"] = reg.node.address;
    reg.node.tagged_addresses["lan_ipv4"] = reg.node.address;
    reg.node.tagged_addresses["wan"] = reg.node.address;
    reg.node.tagged_addresses["wan_ipv4"] = reg.node.address;
    state::Check check;
    check.node = name;
    check.check_id = std::string(state::kSerfCheckId);
    check.name = std::string(state::kSerfCheckName);
    check.status = alive ? state::HealthStatus::kPassing : state::HealthStatus::kCritical;
    check.output = alive ? "Agent alive and reachable" : "Agent not live or unreachable";
    check.type = "";
    reg.checks.push_back(check);
    // A server is also the "consul" service on its RPC port (Consul's leader registers it, so
    // catalog/services lists {"consul": []} and DNS finds consul.service.consul).
    std::optional<state::Service> consul_service;
    if (std::optional<ServerCandidate> server = alive ? ServerOfMember(m) : std::nullopt; server.has_value()) {
      state::Service s;
      s.id = "consul";
      s.name = "consul";
      s.port = PortOf(server->rpc_address, opt.config.ports.server);
      s.address = "";
      consul_service = s;
      reg.service = s;
    }
    std::optional<state::Node> have = store.GetNode(name);
    bool same = have.has_value() && have->SameContent(reg.node);
    if (same) {
      bool check_same = false;
      for (const state::Check& c : store.NodeChecks(name).value) {
        if (c.check_id == state::kSerfCheckId) check_same = c.status == check.status && c.output == check.output;
      }
      same = check_same;
    }
    if (same && consul_service.has_value()) {
      bool service_same = false;
      std::optional<state::NodeServices> listed = store.GetNodeServices(name).value;
      if (listed.has_value()) {
        for (const state::Service& s : listed->services) {
          if (s.id == "consul") service_same = s.SameContent(*consul_service);
        }
      }
      same = service_same;
    }
    if (!same) {
      if (!alive) server_log_.Info(now, "member failed, marking health critical: member=", name);
      propose(name, state::commands::Register(stamp, reg));
    }
  }
  // Reaped: in the catalog with a serfHealth check, but no longer a member at all.
  for (const state::Node& n : store.Nodes().value) {
    if (members.contains(n.name) || n.name == node_name_ || in_flight(n.name)) continue;
    bool serf_checked = false;
    for (const state::Check& c : store.NodeChecks(n.name).value) serf_checked |= c.check_id == state::kSerfCheckId;
    if (!serf_checked) continue;
    server_log_.Info(now, "deregistering member: member=", n.name, " reason=reaped");
    propose(n.name, state::commands::Deregister(stamp, n.name));
  }
  // Servers: a live one we do not have joins raft as a non-voter (autopilot promotes it); a
  // left one is removed. One configuration change at a time.
  if (!conf_change_in_flight_) {
    absl::btree_map<NodeId, bool> in_config;
    for (const raft::pb::Server& s : raft->configuration().servers()) in_config[NodeId{s.id()}] = s.voter();
    const absl::btree_map<NodeId, ServerCandidate> known = KnownServers();
    for (const auto& [name, m] : lan->members()) {
      std::optional<ServerCandidate> s = ServerOfMember(m);
      if (!s.has_value() || s->raft_id == raft_id_) continue;
      // Two members claiming one ID: only the one taken for the server (KnownServers) may
      // change raft; an impostor's goodbye must not remove the server it imitated.
      auto chosen = known.find(s->raft_id);
      if (chosen == known.end() || chosen->second.name != name) continue;
      const bool present = in_config.contains(s->raft_id);
      raft::ConfChange change;
      NodeId change_id = s->raft_id;
      Address change_address = s->rpc_address;
      // A server back with a new ID at an address the configuration holds under an old one (its
      // data dir was wiped): the old ID goes first, or it stays a voter no one answers for, and
      // two such wipes of three servers leave no quorum (Consul's joinConsulServer does the
      // same). Only an ID no live member claims any more is removed.
      std::optional<NodeId> stale;
      if (m.status == gossip::MemberStatus::kAlive && !present) {
        for (const raft::pb::Server& c : raft->configuration().servers()) {
          const NodeId id{c.id()};
          if (c.address() == s->rpc_address && id != s->raft_id && id != raft_id_ && !known.contains(id)) stale = id;
        }
      }
      // A server whose ID the configuration holds at another address (it moved): removed, and
      // added again at its new address by the next round (as Consul's joinConsulServer).
      bool moved = false;
      if (m.status == gossip::MemberStatus::kAlive && present) {
        for (const raft::pb::Server& c : raft->configuration().servers()) {
          moved |= NodeId{c.id()} == s->raft_id && c.address() != s->rpc_address;
        }
      }
      if (moved) {
        change = raft::ConfChange::kRemove;
        server_log_.Info(now, "removing server to add it at its new address: server=", name, " address=", s->rpc_address);
        raft_log_.Info(now, "Updating configuration with RemoveServer (", s->node_id, ", moved)");
      } else if (stale.has_value()) {
        change = raft::ConfChange::kRemove;
        change_id = *stale;
        change_address = s->rpc_address;
        server_log_.Info(now, "removing server with the address of a new one: server=", name, " address=", s->rpc_address);
        raft_log_.Info(now, "Updating configuration with RemoveServer (stale ID at ", s->rpc_address, ")");
      } else if (m.status == gossip::MemberStatus::kAlive && !present) {
        change = raft::ConfChange::kAddNonVoter;
        raft_log_.Info(now, "Updating configuration with AddNonvoter (", s->node_id, ", ", s->rpc_address, ")");
      } else if (m.status == gossip::MemberStatus::kLeft && present) {
        change = raft::ConfChange::kRemove;
        server_log_.Info(now, "removing server that left: server=", name);
        raft_log_.Info(now, "Updating configuration with RemoveServer (", s->node_id, ")");
      } else {
        continue;
      }
      absl::Status st = raft->ChangeMembership(now, change, change_id, change_address, ready_);
      if (st.ok()) {
        conf_change_in_flight_ = true;
        writes_[raft->log().last_index()] =
            PendingWrite{InternalRequest([](const absl::Status&, const pba::Reply&) {}), raft->term(),
                         WriteKind::kConfChange};
      }
      retry_soon = true;
      break;
    }
  } else {
    retry_soon = true;
  }
  if (retry_soon) timers_.Reset(&reconcile_timer_, now + absl::Seconds(1), [this] { Reconcile(now_); });
}

AutopilotConfig AgentMachine::Impl::CurrentAutopilotConfig() const {
  const std::optional<state::AutopilotConfiguration>& stored = fsm.store().Autopilot();
  return stored.has_value() ? *stored : opt.autopilot;
}

// What autopilot knows of every server in the configuration, as of now (the leader's view).
void AgentMachine::Impl::UpdateAutopilot(Time now) {
  const AutopilotConfig config = CurrentAutopilotConfig();
  absl::btree_map<NodeId, ServerCandidate> known = KnownServers();
  raft::Status st = raft->GetStatus();
  std::vector<ServerFacts> facts;
  for (const raft::PeerStatus& p : st.peers) {
    ServerFacts f;
    f.raft_id = p.id;
    f.address = p.address;
    f.voter = p.voter;
    f.leader = p.id == raft_id_;
    f.last_index = f.leader ? raft->log().last_index() : p.match;
    f.last_term = raft->term();
    if (f.leader) {
      f.last_contact = absl::ZeroDuration();
      f.name = node_name_;
      f.node_id = node_id_;
      f.gossip = ServerFacts::Gossip::kAlive;
    } else {
      f.last_contact = now - p.last_contact;
      auto k = known.find(p.id);
      if (k != known.end()) {
        f.name = k->second.name;
        f.node_id = k->second.node_id;
        if (const gossip::Member* m = lan->member(k->second.name)) {
          f.gossip = m->status == gossip::MemberStatus::kAlive    ? ServerFacts::Gossip::kAlive
                     : m->status == gossip::MemberStatus::kFailed ? ServerFacts::Gossip::kFailed
                     : m->status == gossip::MemberStatus::kLeft   ? ServerFacts::Gossip::kLeft
                                                                  : ServerFacts::Gossip::kUnknown;
        }
      }
    }
    facts.push_back(std::move(f));
  }
  autopilot_.Update(now, config, raft->log().last_index(), facts);
}

void AgentMachine::Impl::RunAutopilot(Time now) {
  if (!MayPropose()) return;
  timers_.Reset(&autopilot_timer_, now + opt.autopilot_interval, [this] { RunAutopilot(now_); });
  const AutopilotConfig config = CurrentAutopilotConfig();
  UpdateAutopilot(now);
  if (conf_change_in_flight_) return;
  auto change = [&](raft::ConfChange c, NodeId id) {
    const ServerHealth& h = autopilot_.servers().at(id);
    absl::Status s = raft->ChangeMembership(now, c, id, h.facts.address, ready_);
    if (!s.ok()) return;
    conf_change_in_flight_ = true;
    writes_[raft->log().last_index()] = PendingWrite{
        InternalRequest([](const absl::Status&, const pba::Reply&) {}), raft->term(), WriteKind::kConfChange};
  };
  for (NodeId id : autopilot_.ToRemove(config)) {
    const ServerHealth& h = autopilot_.servers().at(id);
    autopilot_log_.Info(now, "Attempting removal of failed server node: id=", h.facts.node_id, " name=", h.facts.name,
                        " address=", h.facts.address);
    raft_log_.Info(now, "Updating configuration with RemoveServer (", h.facts.node_id, ")");
    change(raft::ConfChange::kRemove, id);
    return;
  }
  for (NodeId id : autopilot_.ToPromote(now, config)) {
    const ServerHealth& h = autopilot_.servers().at(id);
    autopilot_log_.Info(now, "Promoting Server (ID: \"", h.facts.node_id, "\" Address: \"", h.facts.address,
                        "\" Name: \"", h.facts.name, "\") to voter");
    raft_log_.Info(now, "Updating configuration with AddVoter (", h.facts.node_id, ", ", h.facts.address, ")");
    change(raft::ConfChange::kPromote, id);
    return;
  }
}

void AgentMachine::Impl::ScheduleSessionExpiry(Time now) {
  if (!MayPropose()) return;
  // Sessions change only through the log: look again only when something was applied (or
  // the expiry timer ran), not on every step (NextSessionExpiry walks every session).
  if (session_checked_index_ == fsm.store().last_index() && session_checked_term_ == raft->term() &&
      !session_recheck_) {
    return;
  }
  session_recheck_ = false;
  if (session_checked_index_ != fsm.store().last_index()) expiring_.clear();  // applied (or overtaken)
  session_checked_index_ = fsm.store().last_index();
  session_checked_term_ = raft->term();
  std::optional<Time> next = fsm.store().NextSessionExpiry();
  if (next.has_value() && !expiring_.empty() && *next <= clock_.Now(now, raft->term())) {
    // The earliest deadline has passed and its expiry is on its way through the log; the next
    // one is looked for when it is applied.
    next.reset();
  }
  if (!next.has_value()) {
    timers_.Cancel(session_timer_);
    session_timer_at_.reset();
    return;
  }
  // The deadline is in replicated time; it comes at the same distance on our clock.
  const Duration left = std::max(absl::ZeroDuration(), *next - clock_.Now(now, raft->term()));
  const Time at = now + left;
  if (session_timer_at_ == at) return;
  session_timer_at_ = at;
  timers_.Reset(&session_timer_, at, [this] {
    session_timer_at_.reset();
    session_recheck_ = true;
    ExpireSessions(now_);
  });
}

void AgentMachine::Impl::ExpireSessions(Time now) {
  if (!MayPropose()) return;
  const Time replicated = clock_.Now(now, raft->term());
  for (const std::string& id : fsm.store().SessionsExpiredAt(replicated)) {
    // Proposed already and not yet applied: once is enough (the apply wakes the next check).
    if (expiring_.contains(id)) continue;
    if (expiring_.size() < kPendingRequestsMax) expiring_.insert(id);
    server_log_.Info(now, "session expired: session=", id);
    Propose(now, InternalRequest([](const absl::Status&, const pba::Reply&) {}),
            state::commands::SessionOp(clock_.Stamp(now, raft->term()), pbs::SessionRequest::EXPIRE, id),
            WriteKind::kInternal);
  }
}

void AgentMachine::Impl::SyncOwnNode(Time now) {
  // Consul's anti-entropy of the agent's own node (issue 13 adds services and checks).
  const bool leader_known = raft != nullptr ? raft->leader().valid() : !KnownServers().empty();
  if (!leader_known) {
    log_.Warn(now, "failed to sync remote state: No cluster leader");
    sync_timer_ = timers_.Add(now + kSyncRetry, [this] { SyncOwnNode(now_); });
    return;
  }
  pba::Call call;
  call.set_key(node_name_);
  call.set_id(node_id_);
  call.set_address(HostOf(lan_addr_));
  const uint64_t id = InternalRequest([this](const absl::Status& s, const pba::Reply&) {
    if (s.ok()) {
      log_.Info(now_, "Synced node info");
      sync_timer_ = timers_.Add(now_ + kSyncInterval, [this] { SyncOwnNode(now_); });
    } else {
      log_.Warn(now_, "failed to sync remote state: ", s.message());
      sync_timer_ = timers_.Add(now_ + kSyncRetry, [this] { SyncOwnNode(now_); });
    }
  });
  HandleRequest(now, id, "catalog.sync-self", call);
}

// Consul's agent.sendCoordinate: the LAN coordinate as a Coordinate.Update, which the servers
// forward to the leader; again after CoordinateSyncInterval whatever the answer (an error is
// logged, as Consul's "Coordinate update error").
void AgentMachine::Impl::SendCoordinate(Time now) {
  timers_.Add(now + CoordinateSyncInterval(opt.coordinates, lan->members().size(), coordinate_rng_), [this] { SendCoordinate(now_); });
  if (!lan->coordinates_enabled() || leaving_) return;
  pba::Call call;
  Json body;
  body["Node"] = node_name_;
  body["Segment"] = "";
  body["Coord"] = CoordJson(lan->coordinate());
  call.set_json(body.dump());
  const uint64_t id = InternalRequest([this](const absl::Status& s, const pba::Reply&) {
    if (!s.ok()) log_.Warn(now_, "Coordinate update error: ", s.message());
  });
  HandleRequest(now, id, "coordinate.update", call);
}

// Consul's Coordinate.Update at the leader: checked, kept as the node's latest, answered at once.
void AgentMachine::Impl::QueueCoordinate(uint64_t request_id, const pba::Call& call) {
  absl::StatusOr<state::NodeCoordinate> update = ParseCoordinateUpdate(call.json(), opt.lan.coordinate);
  if (!update.ok()) return Fail(request_id, update.status());
  if (!coordinate_updates_->Add(*std::move(update))) {
    return Fail(request_id, absl::UnavailableError("too many coordinate updates waiting"));
  }
  Answer(request_id, absl::OkStatus(), Facts());
}

// Consul's batchUpdate: every update_period the leader proposes what it gathered, in batches.
void AgentMachine::Impl::FlushCoordinates(Time now) {
  timers_.Add(now + opt.coordinates.update_period, [this] { FlushCoordinates(now_); });
  if (!MayPropose()) {
    coordinate_updates_->Clear();  // a former leader's; their agents send again
    return;
  }
  const Time stamp = clock_.Stamp(now, raft->term());
  for (const std::vector<state::NodeCoordinate>& batch : coordinate_updates_->TakeBatches()) {
    Propose(now, InternalRequest([](const absl::Status&, const pba::Reply&) {}),
            state::commands::CoordinateBatchUpdate(stamp, batch), WriteKind::kInternal);
  }
}

// The local services and checks: the registry's checks run, anti-entropy starts what is due
// through the agent's own requests (before raft's output is carried, so their proposals go
// out in this step).
void AgentMachine::Impl::TickLocal(Time now) {
  local_->Tick(now, local_out_);
  const size_t nodes = std::max<size_t>(1, lan->members().size());
  anti_entropy_->Tick(now, *local_, nodes,
                      [this](const std::string& method, const pba::Call& call, AntiEntropy::Callback done) {
                        HandleRequest(now_, InternalRequest(std::move(done)), method, call);
                      },
                      local_out_);
  remote_aliases_->Tick(now, *local_,
                        [this](const std::string& method, const pba::Call& call, RemoteAliases::Callback done) {
                          HandleRequest(now_, InternalRequest(std::move(done)), method, call);
                        },
                        local_out_);
}

// Answered from LocalState (local_methods.h); a change once its write is durable.
void AgentMachine::Impl::ServeLocalRequest(Time now, uint64_t request_id, const std::string& method,
                                           const pba::Call& call) {
  LocalAnswer a = ServeLocal(now, *local_, opt.config.datacenter, method, call, local_out_);
  pba::Reply reply = Facts();
  reply.set_body(std::move(a.body));
  if (a.status.ok() && a.write_id != 0 && request_id < kInternalIdBase) {
    // In the local component's batch, so the composition gates it on that component's write.
    Response resp;
    resp.request_id = request_id;
    resp.body = ReplyBytes(reply);
    resp.after_write_id = a.write_id;
    local_out_->responses.push_back(std::move(resp));
    return;
  }
  Answer(request_id, a.status, std::move(reply));
}

// Event handlers and watches from the (validated) config; one that does not parse is logged
// and left out, never a crash (a config built by hand skips Validate).
void AgentMachine::Impl::StartHandlers(const MachineContext& ctx, LogLevel level) {
  Logger handlers_log(ctx.log, "agent.handlers", level);
  handler_queue_ = std::make_unique<HandlerQueue>(handlers_log);
  std::vector<EventHandlerDefinition> handlers;
  for (const std::string& spec : opt.config.event_handlers) {
    absl::StatusOr<EventHandlerDefinition> h = ParseEventHandler(spec);
    if (h.ok() && handlers.size() < kEventHandlersMax) handlers.push_back(std::move(*h));
    if (!h.ok()) handlers_log.Warn(ctx.now, "event handler left out: ", h.status().message());
  }
  event_handlers_ = std::make_unique<EventHandlers>(std::move(handlers), node_name_, LanTags(), handlers_log);
  std::vector<WatchDefinition> watches;
  for (const std::string& json : opt.config.watches) {
    absl::StatusOr<WatchDefinition> w = ParseWatch(json, opt.config.datacenter);
    if (w.ok() && watches.size() < kWatchesMax) watches.push_back(std::move(*w));
    if (!w.ok()) handlers_log.Warn(ctx.now, "watch left out: ", w.status().message());
  }
  watches_ = std::make_unique<Watches>(std::move(watches), ctx.now, Logger(ctx.log, "agent.watch", level));
}

// Member events of this step's LAN batch into the coalescer, due flushes and watch queries out
// (before raft's output is carried, so a watch's read joins this step's round).
void AgentMachine::Impl::TickHandlers(Time now) {
  event_handlers_->ObserveMemberEvents(now, lan_out_->events, lan->members());
  event_handlers_->Tick(now, *handler_queue_, handlers_out_);
  watches_->Tick(now,
                 [this](const std::string& method, const pba::Call& call, Watches::Callback done) {
                   HandleRequest(now_, InternalRequest(std::move(done)), method, call);
                 },
                 *handler_queue_, handlers_out_);
}

void AgentMachine::Impl::BeginLeave(Time now, uint64_t request_id) {
  if (!leave_requests_.empty() || leaving_) {
    if (left) return Answer(request_id, absl::OkStatus(), Facts());
    leave_requests_[request_id] = 0;
    return;
  }
  leaving_ = true;
  leave_requests_[request_id] = 0;
  log_.Info(now, "Gracefully shutting down agent...");
  if (raft != nullptr && raft->role() == raft::Role::kLeader) {
    // Hand leadership to the healthiest other voter first, so the cluster does not wait for
    // an election timeout (Consul's leave).
    NodeId target;
    uint64_t best = 0;
    for (const raft::PeerStatus& p : raft->GetStatus().peers) {
      if (p.id == raft_id_ || !p.voter) continue;
      if (!target.valid() || p.match > best) {
        target = p.id;
        best = p.match;
      }
    }
    if (target.valid()) {
      server_log_.Info(now, "leadership transfer to ", ToString(target), " before leaving");
      (void)raft->TransferLeadership(now, target, ready_);
    }
  }
  log_.Info(now, "Requesting shutdown");
  server_log_.Info(now, "Leaving LAN Serf cluster");
  lan->Leave(now, lan_out_);
  if (wan != nullptr) wan->Leave(now, wan_out_);
  // The snapshots say "leave": the next start re-joins nobody unless rejoin_after_leave.
  lan_snapshot_->Leave(now, *lan, lan_snapshot_out_);
  if (wan_snapshot_ != nullptr) wan_snapshot_->Leave(now, *wan, wan_snapshot_out_);
}

void AgentMachine::Impl::MaybeLeft() {
  if (!leaving_ || left) return;
  if (!lan->shut_down() || (wan != nullptr && !wan->shut_down())) return;
  left = true;
  log_.Info(now_, "Graceful leave complete");
  for (const auto& [id, unused] : leave_requests_) Answer(id, absl::OkStatus(), Facts());
  leave_requests_.clear();
}

// ---------------------------------------------------------------------------------------

AgentMachine::AgentMachine(const MachineContext& ctx, AgentMachineOptions options)
    : impl_(std::make_unique<Impl>(ctx, std::move(options))) {}
AgentMachine::~AgentMachine() = default;
void AgentMachine::Step(const Input& input, Effects* out) { impl_->Step(input, out); }
const raft::Raft* AgentMachine::raft() const { return impl_->raft.get(); }
const state::Fsm& AgentMachine::fsm() const { return impl_->fsm; }
const gossip::Serf& AgentMachine::lan() const { return *impl_->lan; }
const gossip::Serf* AgentMachine::wan() const { return impl_->wan.get(); }
const AgentMachineOptions& AgentMachine::options() const { return impl_->opt; }
const ServerRouter* AgentMachine::router() const { return impl_->router(); }
bool AgentMachine::left() const { return impl_->left; }
const std::optional<std::string>& AgentMachine::exit_reason() const { return impl_->exit_reason_; }
bool AgentMachine::leaving() const { return impl_->leaving(); }
std::vector<raft::pb::Entry> AgentMachine::TakeApplied() { return std::exchange(impl_->applied, {}); }

MachineFactory AgentMachineFactory(AgentMachineOptions options) {
  return [options](const MachineContext& ctx) { return std::make_unique<AgentMachine>(ctx, options); };
}

}  // namespace muster::agent
