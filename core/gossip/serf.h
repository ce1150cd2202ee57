// The Serf level on top of memberlist: members with tags and statuses ordered by a Lamport
// clock of join/leave intents; member events (join, leave, failed, update, reap); user
// events (named, size-limited, deduplicated per node by Lamport time, optionally
// coalesced); queries with node/tag filters, acks, responses and a timeout; reconnects to
// failed members (so partitions heal by themselves) and reaping of old failed/left ones.
// Events come out as seam Events and, for each matching handler, as a ProcessStart.
// Pure, like memberlist: never reads a clock, never lets a hash order reach an output.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/status/statusor.h"
#include "core/base/log.h"
#include "core/base/log_throttle.h"
#include "core/gossip/broadcast_queue.h"
#include "core/gossip/coordinate.h"
#include "core/gossip/event_handler.h"
#include "core/gossip/lamport.h"
#include "core/gossip/memberlist.h"

namespace muster::gossip {

struct SerfConfig {
  MemberlistConfig memberlist;
  TagMap tags;  // role, dc, port, build, expect, ...
  Duration reap_interval = absl::Seconds(15);
  Duration reconnect_interval = absl::Seconds(30);
  Duration reconnect_timeout = absl::Hours(24);  // failed members are reaped after this
  Duration tombstone_timeout = absl::Hours(24);  // left members are reaped after this
  Duration leave_propagate_delay = absl::Seconds(1);
  // Lamport times of user events (queries) remembered for deduplication. These two, and
  // reap_interval, reconnect_*, tombstone_timeout, leave_propagate_delay, user_coalesce_period,
  // user_quiescent_period and query_timeout_mult, keep the name of the Serf option they mirror
  // (EventBuffer, QueryBuffer, ReapInterval, ...) on purpose, so Serf's docs read across.
  int event_buffer = 512;
  int query_buffer = 512;
  // Distinct events (queries) remembered per Lamport time. Serf keeps any number, and
  // checks each arrival against all of them: a forged burst at one Lamport time grew the slot
  // and made each arrival slower. Past the bound a new one is dropped and counted.
  int events_per_ltime_max = 64;
  int queries_per_ltime_max = 64;
  // Size limits (Serf's UserEventSizeLimit, QuerySizeLimit, QueryResponseSizeLimit), named
  // our way, with the unit and the qualifier last.
  size_t user_event_bytes_max = 512;  // name + payload
  size_t query_bytes_max = 1024;
  size_t query_response_bytes_max = 1024;
  // Coalescing of user events sent with coalesce = true: per name, only the latest is
  // delivered, once no new one came for `quiescent` or after `period` at the latest.
  Duration user_coalesce_period = absl::ZeroDuration();  // zero: no coalescing
  Duration user_quiescent_period = absl::ZeroDuration();
  int query_timeout_mult = 16;
  // Queries and leave intents go out at least this many times from every member that has
  // them (memberlist's limit, 4 * ceil(log10(N + 1)), when that is more). They are spread by
  // gossip only, and each is rare and costly to miss (an unanswered query; a goodbye taken
  // for a failure). At the limit of 4 (N <= 9) a member misses an epidemic with
  // probability about e^-4.8 = 0.8%: 7 of 200 six-node sim_serf_test queries lost an
  // answer. 12 is memberlist's own limit for N = 100..999 (about e^-12 per member).
  int query_leave_transmits_min = 12;
  int recent_intents_max = 1024;
  // Bug injection, never set outside tests (see MemberlistConfig's unsafe_* switches).
  bool unsafe_intents_ignore_ltime = false;   // an older join/leave intent overrides a newer one
  bool unsafe_user_events_no_dedup = false;   // a user event seen at its Lamport time is delivered again
  std::vector<EventHandlerSpec> handlers;
  // Network coordinates (Serf's DisableCoordinates, CoordinateConfig): every direct ack
  // carries ours, every RTT measured by a probe moves ours, and the peers' are cached.
  bool disable_coordinates = false;
  CoordinateConfig coordinate;

  static SerfConfig Lan(std::string name) {
    SerfConfig c;
    c.memberlist = MemberlistConfig::Lan(std::move(name));
    return c;
  }
  static SerfConfig Wan(std::string name) {
    SerfConfig c;
    c.memberlist = MemberlistConfig::Wan(std::move(name));
    return c;
  }
};

enum class MemberStatus : uint8_t { kAlive, kLeaving, kLeft, kFailed };
std::string_view MemberStatusName(MemberStatus s);

struct Member {
  std::string name;
  Address addr;
  TagMap tags;
  MemberStatus status = MemberStatus::kAlive;
  uint64_t status_ltime = 0;
  Time leave_time;  // when it became failed or left
};

struct QueryParams {
  std::vector<std::string> filter_nodes;
  TagMap filter_tags;  // tag -> regular expression
  bool request_ack = false;
  Duration timeout = absl::ZeroDuration();  // zero: the default for the cluster size
  // Each responder also sends its ack and response through this many random other members
  // (Serf's RelayFactor; 0 as Serf's default), at most kQueryRelayFactorMax.
  int relay_factor = 0;
};

// Bounds a query's relay factor, ours and remote ones: each relay adds two datagrams per
// responder (Serf leaves its uint8 unbounded; 5 is far beyond what a lossy LAN needs).
inline constexpr int kQueryRelayFactorMax = 5;

struct QueryResult {
  uint64_t ltime = 0;
  uint32_t id = 0;
  absl::btree_set<std::string> acks;
  absl::btree_map<std::string, std::string> responses;
};

// Counters for tests (per node, ordered).
struct SerfStats {
  absl::btree_map<std::string, uint64_t> events;       // by type
  absl::btree_map<std::string, uint64_t> failed_seen;  // member-failed events, by member
  absl::btree_map<std::string, uint64_t> user_delivered;  // "name@ltime" -> deliveries
  uint64_t user_duplicates_dropped = 0;
  uint64_t messages_rejected = 0;  // Serf messages from the network over a bound of limits.h
  uint64_t coordinates_rejected = 0;  // ack payloads that did not parse or were out of bounds
};

class Serf final : private MemberlistDelegate {
 public:
  Serf(SerfConfig config, Address self_addr, uint64_t seed, Logger log);

  // Memberlist's calling convention: the input time first, the batch last, and each entry
  // point requests its next wake-up through the batch before it returns.
  void Start(Time now, Effects* out);
  // Serf's restore from its snapshot (before Start): the clocks witness the previous life's
  // times, and user events and queries at or before them are ignored (Serf's eventMinTime and
  // queryMinTime), so a restart does not hand out again what it handled before.
  void RestoreClocks(uint64_t member_ltime, uint64_t event_ltime, uint64_t query_ltime);
  void Join(Time now, const std::vector<Address>& seeds, Effects* out);
  void Leave(Time now, Effects* out);  // graceful: intent, memberlist leave, then shutdown
  // Serf's RemoveFailedNode (Consul's force-leave): a leave intent on behalf of `node`, so a
  // failed member becomes left at once everywhere instead of after reconnect_timeout; an alive
  // one refutes it. With `prune` a failed or left member is also forgotten here at once
  // (reaped, "member-reap") instead of after tombstone_timeout. An unknown name is not an
  // error (Consul answers 200); our own name is.
  absl::Status ForceLeave(Time now, const std::string& node, bool prune, Effects* out);
  void HandleMessage(Time now, const MessageInput& message, Effects* out);
  void Tick(Time now, Effects* out);
  void HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out);
  // Replaces this node's tags; they travel in every alive message, so their encoding is
  // bounded by memberlist's meta_bytes_max (InvalidArgument beyond it).
  absl::Status SetTags(Time now, TagMap tags, Effects* out);
  absl::Status UserEvent(Time now, std::string name, std::string payload, bool coalesce, Effects* out);
  // Starts a query; `done` runs at its deadline with what came back.
  using QueryDone = std::function<void(const QueryResult&)>;
  absl::StatusOr<uint32_t> Query(Time now, std::string name, std::string payload, const QueryParams& params,
                                 QueryDone done, Effects* out);
  // Adds a timer to this node's queue (the one memberlist runs), for the host machine's own
  // deadlines: it counts towards the wake-up the next entry point requests.
  void AddTimer(Time at, TimerQueue::Fn fn) { memberlist_.timers().Add(at, std::move(fn)); }

  const absl::btree_map<std::string, Member>& members() const { return members_; }
  // Moves whenever a member may have become alive or changed its tags (every member event,
  // and a join intent bringing a leaving member back): a caller that derives something from
  // the alive members' tags need not look again while it stands still.
  uint64_t members_version() const { return members_version_; }
  const Member* member(const std::string& name) const;
  int NumAliveMembers() const;
  Memberlist& memberlist() { return memberlist_; }
  const Memberlist& memberlist() const { return memberlist_; }
  const SerfStats& stats() const { return stats_; }
  const SerfConfig& config() const { return config_; }
  uint64_t member_ltime() const { return clock_.Time(); }
  uint64_t event_ltime() const { return event_clock_.Time(); }
  // User events older than this are ignored: a joining node does not replay the cluster's
  // history (Serf's eventJoinIgnore). For checkers of exactly-once delivery.
  uint64_t event_min_time() const { return event_min_time_; }
  uint64_t query_ltime() const { return query_clock_.Time(); }
  bool shut_down() const { return memberlist_.shut_down(); }
  Duration DefaultQueryTimeout() const;
  // Network coordinates (Serf's GetCoordinate, GetCachedCoordinate): ours, and the last one
  // each member's ack carried (null: none heard, or coordinates disabled). The cache holds
  // members only, and forgets one when it is reaped.
  const Coordinate& coordinate() const { return coordinates_.coordinate(); }
  const Coordinate* cached_coordinate(const std::string& name) const;
  const CoordinateClient& coordinate_client() const { return coordinates_; }
  bool coordinates_enabled() const { return !config_.disable_coordinates; }

 private:
  // MemberlistDelegate.
  std::string NodeMeta() override;
  void NotifyMsg(std::string_view payload, const Address& from) override;
  std::vector<std::string> GetBroadcasts(size_t overhead, size_t bytes_max) override;
  std::string LocalState(bool join) override;
  void MergeRemoteState(std::string_view state, bool join) override;
  void NotifyJoin(const NodeState& node) override;
  void NotifyLeave(const NodeState& node) override;
  void NotifyUpdate(const NodeState& node) override;
  std::string AckPayload() override;
  void NotifyPingComplete(const NodeState& node, Duration rtt, std::string_view payload) override;
  void ForgetCoordinate(const std::string& name);

  struct Intent {
    uint64_t ltime = 0;
    bool leave = false;
  };
  struct SeenEvents {
    uint64_t ltime = 0;
    std::vector<std::pair<std::string, std::string>> events;  // name, payload
  };
  struct PendingQuery {
    QueryResult result;
    QueryDone done;
  };
  struct RunningHandler {
    uint64_t query_ltime = 0;
    uint32_t query_id = 0;
    Address origin_addr;
    int relay_factor = 0;
  };

  // The scope of one entry point: memberlist's (its timers are ours), so the wake-up requested
  // when it ends counts the timers this level added too.
  [[nodiscard]] Memberlist::Entry Enter(Time now, Effects* out) {
    now_ = now;
    out_ = out;
    return Memberlist::Entry(&memberlist_, now, out);
  }
  bool HandleJoinIntent(const proto::gossip::JoinIntent& j);
  bool HandleLeaveIntent(const proto::gossip::LeaveIntent& l);
  bool HandleUserEvent(const proto::gossip::UserEvent& e);
  bool HandleQuery(const proto::gossip::Query& q);
  void HandleQueryResponse(const proto::gossip::QueryResponse& r);
  // An ack or response to the asker at `to`: directly, and through `relay_factor` random
  // other alive members (Serf's relayResponse).
  void SendQueryResponse(const Address& to, int relay_factor, const proto::gossip::SerfMessage& m);
  // A copy that came to us as a relay: forwarded to its asker if that is a member alive.
  void ForwardRelayed(const proto::gossip::QueryResponse& r);
  void QueueSerf(std::string key, const proto::gossip::SerfMessage& m);
  void SendSerf(const Address& to, const proto::gossip::SerfMessage& m);
  void Publish(SerfEvent event, const RunningHandler* query = nullptr);
  void PublishMember(const std::string& type, const Member& m);
  void DeliverUser(const proto::gossip::UserEvent& e);
  void FlushCoalesced();
  void ScheduleReap(Time at);
  void Reap();
  void ScheduleReconnect(Time at);
  void Reconnect();
  void RememberIntent(const std::string& node, Intent intent);
  static TagMap DecodeTags(const std::string& meta);

  SerfConfig config_;
  Address self_addr_;
  Logger log_;
  Memberlist memberlist_;
  BroadcastQueue broadcasts_;               // join intents and user events
  BroadcastQueue query_leave_broadcasts_;   // queries and leave intents (Serf's queryBroadcasts)
  std::vector<std::vector<EventFilter>> handler_filters_;
  Time now_;
  LogThrottle unparsable_log_;  // strangers' garbage: one line a second
  Effects* out_ = nullptr;

  LamportClock clock_;
  LamportClock event_clock_;
  LamportClock query_clock_;
  uint64_t event_min_time_ = 0;
  uint64_t query_min_time_ = 0;
  absl::btree_map<std::string, Member> members_;
  uint64_t members_version_ = 0;  // see members_version()
  absl::btree_map<std::string, Intent> recent_intents_;
  std::vector<SeenEvents> event_buffer_;
  std::vector<std::vector<std::pair<uint64_t, uint32_t>>> query_buffer_;  // (ltime, id) per slot
  absl::btree_map<std::pair<uint64_t, uint32_t>, PendingQuery> pending_queries_;
  absl::btree_map<uint64_t, RunningHandler> running_handlers_;  // process id -> query
  absl::btree_map<std::string, proto::gossip::UserEvent> coalesced_;
  Time coalesce_start_;
  Time coalesce_last_;
  bool coalesce_timer_armed_ = false;
  uint64_t next_process_id_ = 1;
  bool leaving_ = false;
  SerfStats stats_;
  CoordinateClient coordinates_;
  absl::btree_map<std::string, Coordinate> coordinate_cache_;  // by member name
};

}  // namespace muster::gossip
