// A Raft consensus node, pure (sans-I/O): inputs go in through a few doors (Step for a
// message, Tick for time, WriteDurable for a finished sync, Propose/ReadIndex/... for the
// host), and everything the host must do comes out in one Ready batch.
//
// Ready's ordering rules (on top of core/seam/effects.h):
//  - effects.writes carry term, vote and log entries (sync = true). Every message whose
//    meaning depends on them (votes, acknowledgements) has after_write_id set, so it
//    leaves only once they are durable. A leader's own entries count towards commit only
//    once durable (WriteDurable).
//  - `restore` (if set) must be loaded into the state machine before `committed` is applied.
//  - `committed` holds entries that are committed and durable on this node, in index order;
//    the host applies them all (applied index = the last one handed out). They point into
//    Raft's log (no copy per entry) and stay valid while the host applies them, also when
//    applying calls Propose, ProposeBatch, ReadIndex, ChangeMembership or TransferLeadership
//    (appends never move entries: RaftLog keeps a std::deque). Compact, Step, Receive, Tick
//    and WriteDurable may free them: apply first (committed_entries_test).
//  - `reads` are ReadIndex results: serve the read once applied >= index.
//
// Never: read a clock, draw randomness other than from its own seeded Rng, or iterate a
// hash map into an output.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/buggify.h"
#include "core/base/log.h"
#include "core/base/node_id.h"
#include "core/base/rng.h"
#include "core/base/time.h"
#include "core/base/timer_queue.h"
#include "core/raft/log.h"
#include "core/raft/progress.h"
#include "core/seam/channel.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "core/seam/storage_view.h"
#include "proto/raft_pb.h"

namespace muster::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };

// The most heartbeat rounds whose send time a leader keeps. Only the quorum-confirmed round
// and the ones after it can still matter (LeaseStart reads the confirmed one's time); the
// unconfirmed tail grows only while no quorum answers (one round per heartbeat and per
// ReadIndex). Past the limit the oldest unconfirmed times are forgotten, and a round whose
// time is gone leases from the newest kept round before it: an earlier start, a shorter
// lease, never a longer one.
inline constexpr size_t kHeartbeatRoundsKeptMax = 64;
// ReadIndex requests waiting for a quorum's heartbeat answer. Bounded for a leader that keeps
// leading without a quorum (check-quorum off): past it, ReadIndex is refused as UNAVAILABLE.
inline constexpr size_t kPendingReadsMax = 4096;
// Log writes issued but not yet durable (the host's fsyncs lag). Past it a leader refuses
// proposals (UNAVAILABLE, retry later) and a follower drops appends (the leader resends), so
// a stalled disk holds memory flat instead of queueing without end.
inline constexpr size_t kLogWritesInFlightMax = 4096;
std::string_view RoleName(Role role);

struct RaftOptions {
  NodeId id;
  Address address;
  Duration heartbeat_interval = absl::Milliseconds(50);
  // Elections time out after a random duration in [election_timeout, 2 * election_timeout).
  Duration election_timeout = absl::Milliseconds(500);
  // Leader lease (see LeaseRead): strictly shorter than election_timeout.
  Duration lease_duration = absl::Milliseconds(400);
  bool pre_vote = true;
  bool check_quorum = true;
  size_t inflight_msgs_max = 256;
  uint64_t inflight_bytes_max = 32 << 20;
  uint64_t msg_bytes_max = 1 << 20;
  uint64_t snapshot_chunk_bytes = 64 << 10;
  // A snapshot being received may grow to this many bytes; chunks past it are dropped and
  // the transfer starts over (a forged stream must not fill memory).
  uint64_t snapshot_bytes_max = uint64_t{1} << 30;
  // Asked before a received snapshot replaces the log: the host checks that the data is a
  // state its machine can load at meta.index(). An error drops the snapshot (the leader sends
  // it again). Empty: every snapshot is accepted.
  std::function<absl::Status(const pb::SnapshotMeta& meta, std::string_view data)> validate_snapshot;
  // kDatagram: appends and snapshot chunks are also cut to kDatagramPayloadBytesMax, and a
  // message that still does not fit goes over the stream (see Raft::SendPayload).
  Channel channel = Channel::kStream;

  // BUGGIFY (core/base/buggify.h): worst-but-legal choices at marked sites; off by default
  // (seed 0), switched on by the simulator's swarm.
  BuggifyOptions buggify;

  // Bug injection: each switch turns off one rule of Raft's Figure 2 or of the single-server
  // membership changes (Ongaro's thesis, 4.1), at the one `if` that enforces it, and a test
  // proves the simulator's checkers then fail (the kill matrix in README.md). Never set
  // outside tests.
  // Persistence (Figure 2, "updated on stable storage before responding to RPCs"):
  bool unsafe_reply_before_persist = false;       // votes leave before the vote is durable
  bool unsafe_campaign_before_persist = false;    // vote requests leave before term and self-vote are durable
  bool unsafe_ack_append_before_persist = false;  // a follower acknowledges entries before they are durable
  bool unsafe_ack_before_durable = false;         // leader counts its own entries before sync
  // RequestVote receiver:
  bool unsafe_grant_stale_term_vote = false;  // rule 1: a vote request of an older term is not rejected
  bool unsafe_vote_twice_in_term = false;     // rule 2: grant although already voted for another this term
  bool unsafe_vote_ignores_log = false;       // rule 2: grant to a candidate whose log is behind ours
  // AppendEntries receiver:
  bool unsafe_accept_stale_term_append = false;  // rule 1: an append of an older term is not rejected
  bool unsafe_skip_log_matching_check = false;   // rule 2: prevLogIndex/prevLogTerm not checked
  bool unsafe_truncate_without_conflict = false; // rule 3: truncate after the append even where entries match
  bool unsafe_commit_past_last_new = false;      // rule 5: commit = min(leaderCommit, last log index)
  // Rules for all servers, candidates and leaders:
  bool unsafe_keep_role_on_higher_term = false;      // a leader/candidate takes a higher term but keeps its role
  bool unsafe_count_nonvoter_votes = false;          // non-voters asked for votes, and their grants count
  bool unsafe_count_nonvoter_acks = false;           // non-voters' matches count toward commit
  bool unsafe_leader_drops_uncommitted_tail = false; // Leader Append-Only: a new leader deletes its uncommitted tail
  bool unsafe_commit_previous_term = false;          // count replicas of old-term entries (Figure 8)
  // Single-server membership changes:
  bool unsafe_config_change_before_noop = false;  // membership change before own-term commit
  bool unsafe_concurrent_config_change = false;   // a new change while one is uncommitted
  bool unsafe_keep_config_on_truncate = false;    // a truncated configuration entry stays in effect
};

struct ReadState {
  uint64_t context = 0;
  uint64_t index = 0;
};

struct Ready {
  Effects effects;
  std::optional<pb::SnapshotMeta> restore;  // load raft.snapshot_data() into the state machine
  std::vector<const pb::Entry*> committed;
  std::vector<ReadState> reads;
};

struct PeerStatus {
  NodeId id;
  Address address;
  bool voter = false;
  uint64_t match = 0;
  uint64_t next = 0;
  std::string_view state;
  Time last_contact;  // when the leader last heard from it (the leader itself: not set)
};

struct Status {
  NodeId id;
  Role role = Role::kFollower;
  uint64_t term = 0;
  NodeId vote;
  NodeId leader;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  // Leader: heartbeat rounds whose send time is still kept (for the lease and ReadIndex);
  // at most kHeartbeatRoundsKeptMax.
  size_t heartbeat_rounds_kept = 0;
  std::vector<PeerStatus> peers;  // leader only, by id
};

enum class ConfChange { kAddVoter, kAddNonVoter, kPromote, kRemove };

// What CheckInvariants compares between two consecutive steps of one Raft object (one life).
struct RaftInvariantState {
  uint64_t term = 0;
  NodeId vote;
  NodeId leader;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t snapshot_index = 0;
};

class Raft {
 public:
  // Recovers term, vote, commit, snapshot and log from `storage` (may be null for a new node).
  Raft(RaftOptions options, const StorageView* storage, uint64_t seed, Time now, Logger log);
  // The timers' callbacks hold `this`.
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // --- inputs -------------------------------------------------------------------------
  void Tick(Time now, Ready* out);
  void Step(Time now, pb::Message m, Ready* out);
  // Parses and steps; malformed payloads are dropped (an operating error, not a crash).
  absl::Status Receive(Time now, std::string_view payload, Ready* out);
  void WriteDurable(Time now, uint64_t write_id, Ready* out);
  // The seam's inputs that are raft's own (a tick, a message, a durable write), dispatched to
  // the three doors above; false for the others (requests, process exits), which the machine
  // hosting raft handles itself.
  bool HandleInput(const Input& input, Ready* out);

  // Writes the initial configuration as entry 1 (term 1). Only on an empty node.
  absl::Status Bootstrap(Time now, const pb::Configuration& configuration, Ready* out);
  // Leader only: appends a command; returns its index. Replicated at the end of the call.
  absl::StatusOr<uint64_t> Propose(Time now, std::string data, Ready* out);
  absl::Status ProposeBatch(Time now, std::vector<std::string> data, Ready* out);
  absl::Status ChangeMembership(Time now, ConfChange change, NodeId server, const Address& address, Ready* out);
  absl::Status TransferLeadership(Time now, NodeId target, Ready* out);
  // Linearizable read: the result comes back in Ready::reads once a quorum confirmed
  // this node still leads.
  absl::Status ReadIndex(Time now, uint64_t context, Ready* out);
  // Lease read: the commit index if this leader's lease holds at `now`, else an error.
  absl::StatusOr<uint64_t> LeaseRead(Time now) const;
  // The state machine took a snapshot at `index` (<= applied): compact the log behind it.
  absl::Status Compact(Time now, uint64_t index, std::string data, Ready* out);
  // Campaigns now (used by tests and by an operator "force election").
  void Campaign(Time now, Ready* out);

  // --- observation --------------------------------------------------------------------
  Status GetStatus() const;

  // Per-node invariants, as LogCabin's RaftConsensusInvariants: CheckInvariants() of one
  // state, CheckTransition() of the change since `before` (the same object's previous step):
  // the term never goes back; within a term the vote and the known leader are set at most
  // once; commit, applied and the snapshot index never go back. An error names the broken
  // rule; simulations run both after every step and fail the seed with it.
  absl::Status CheckInvariants() const;
  RaftInvariantState InvariantState() const;
  static absl::Status CheckTransition(const RaftInvariantState& before, const RaftInvariantState& after);
  Role role() const { return role_; }
  uint64_t term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  // A follower's last contact with its leader that counts for stale reads (Consul's
  // X-Consul-LastContact): the last append or heartbeat of the leader's term after which this
  // follower's log matched the leader's and held every entry the leader had committed when it
  // sent it. So a stale read's state is at most that old (plus applying): stricter than
  // hashicorp/raft's LastContact, which any accepted heartbeat refreshes, also one reaching a
  // deposed leader whose log the new leader's appends do not match (cut off one way, its
  // rejections never arrive) and which falls ever further behind. InfinitePast before the
  // first since start.
  Time leader_log_contact() const { return leader_log_contact_; }
  uint64_t commit() const { return commit_; }
  uint64_t applied() const { return applied_; }
  uint64_t durable_index() const { return durable_index_; }
  const RaftLog& log() const { return log_; }
  const pb::Configuration& configuration() const { return config_; }
  // The log index of the configuration in effect (0 before any).
  uint64_t configuration_index() const { return config_index_; }
  NodeId id() const { return opts_.id; }
  const RaftOptions& options() const { return opts_; }
  // True once the leader has committed an entry of its own term.
  bool CommittedOwnTerm() const;
  // BUGGIFY's record: which marked sites fired, how often (a swarm test shows each is reached).
  const Buggify& buggify() const { return buggify_; }

 private:
  struct PendingRead {
    uint64_t context;
    uint64_t index;
    uint64_t round;
  };
  struct PendingAppend {
    uint64_t write_id;
    uint64_t last_index;
  };

  // Role transitions.
  void BecomeFollower(Time now, uint64_t term, NodeId leader);
  void BecomePreCandidate(Time now);
  void BecomeCandidate(Time now);
  void BecomeLeader(Time now);
  void StartElection(Time now, bool pre_vote, bool transfer);
  void SendVoteRequests(Time now);
  void ResetElectionDeadline(Time now);
  // Timer callbacks (run by Tick through timers_, at timer_now_).
  void OnElectionTimeout();
  void OnHeartbeatDue();
  void OnCheckQuorumDue();
  void OnVoteResendDue();
  void OnTransferTimeout();

  // Step functions per role.
  void StepFollower(Time now, pb::Message& m);
  void StepCandidate(Time now, pb::Message& m);
  void StepLeader(Time now, const pb::Message& m);
  void HandleVoteRequest(Time now, const pb::Message& m);
  absl::Status ValidateAppend(const pb::Message& m) const;
  void HandleAppend(Time now, pb::Message& m);
  void HandleHeartbeat(Time now, const pb::Message& m);
  void HandleSnapshotChunk(Time now, const pb::Message& m);
  void HandleAppendResponse(Time now, const pb::Message& m, Progress& pr);
  void HandleHeartbeatResponse(Time now, const pb::Message& m, Progress& pr);

  // Leader machinery.
  bool SendAppend(Time now, NodeId to, Progress& pr, bool send_if_empty);
  // Sends the chunk at pr.snap_offset: a new one (a new sequence number), or the one in
  // flight again (`resend`, same number, so only one of the answers moves the stream).
  void SendSnapshotChunk(Time now, NodeId to, Progress& pr, bool resend = false);
  void BroadcastAppend(Time now, bool send_if_empty);
  void BroadcastHeartbeat(Time now);
  bool MaybeCommit(Time now);
  void ReleaseReads();
  void PruneRounds();
  void AppendAsLeader(Time now, pb::EntryType type, std::string data);
  void CheckQuorum(Time now);
  Time LeaseStart() const;

  // Configuration.
  void ApplyConfiguration(Time now, const pb::Configuration& config);
  void RecomputeConfiguration(Time now);
  const pb::Server* FindServer(NodeId id) const;
  bool IsVoter(NodeId id) const;
  size_t VoterCount() const;
  size_t Quorum() const { return VoterCount() / 2 + 1; }

  // Output plumbing.
  void Send(pb::Message m, const Address& to, bool needs_durable);
  void SendPayload(std::string payload, const Address& to, bool needs_durable);
  StorageWrite* Write(bool sync);
  uint64_t Barrier();
  void Flush(Time now);
  void Finish(Time now, Ready* out);
  void TruncateTracking(uint64_t index);
  // Drops the entries after `index` (its durable tracking and configurations with them).
  void TruncateLogAfter(uint64_t index);
  void PersistHardState(bool sync);
  void Count(NodeId from, bool granted);
  size_t Granted() const;
  size_t Rejected() const;

  RaftOptions opts_;
  Logger logger_;
  Rng rng_;
  Buggify buggify_;  // apart from rng_: switching BUGGIFY on shifts none of raft's own draws
  RaftLog log_;
  Ready* out_ = nullptr;  // the batch being built by the current input

  // Persistent state (HardState) and volatile state, as in Figure 2.
  Role role_ = Role::kFollower;
  uint64_t term_ = 0;
  NodeId vote_;
  NodeId leader_;
  uint64_t commit_ = 0;
  uint64_t applied_ = 0;

  // Configuration: the latest one in the log (effective when appended).
  pb::Configuration config_;
  uint64_t config_index_ = 0;
  absl::btree_map<uint64_t, pb::Configuration> config_entries_;  // config entries in the log

  // Timers (core/base/timer_queue.h): Tick runs the due ones, and the earliest pending one is
  // the batch's wake-up. Each id names the pending timer of its kind (0: none).
  TimerQueue timers_;
  Time timer_now_;                   // the `now` of the Tick running timers_
  uint64_t election_timer_ = 0;      // not leading: campaign (a non-voter: wait again)
  uint64_t heartbeat_timer_ = 0;     // leader: a heartbeat round
  uint64_t check_quorum_timer_ = 0;  // leader: step down without a quorum's contact
  uint64_t vote_resend_timer_ = 0;   // (pre-)candidate: ask silent voters again
  uint64_t transfer_timer_ = 0;      // leader transferring: give the transfer up
  Time leader_contact_;  // last time a leader was heard from (or the start)
  Time leader_log_contact_ = absl::InfinitePast();  // see leader_log_contact()
  bool log_matches_leader_ = false;  // an append of the current leader was accepted since the last rejection

  // Candidate.
  absl::btree_map<NodeId, bool> votes_;
  bool election_transfer_ = false;

  // Leader.
  absl::btree_map<NodeId, Progress> progress_;  // every server but this one
  NodeId transfer_target_;
  bool lease_void_ = false;  // set once a transfer may have let another leader in
  uint64_t snap_seq_ = 0;    // last snapshot chunk sequence number, across followers
  uint64_t round_ = 0;       // heartbeat round
  absl::btree_map<uint64_t, Time> round_sent_;
  std::deque<PendingRead> reads_;

  // Durability bookkeeping.
  uint64_t next_write_id_ = 1;
  std::optional<StorageWrite> open_write_;
  bool log_dirty_ = false;    // the open write changes the log
  bool hard_dirty_ = false;   // term or vote changed: persist with sync
  uint64_t persisted_commit_ = 0;
  uint64_t last_sync_issued_ = 0;
  uint64_t last_durable_ = 0;
  uint64_t durable_index_ = 0;  // the log prefix known durable
  std::deque<PendingAppend> pending_appends_;
  bool pending_restore_ = false;

  // Follower: a snapshot being received in chunks.
  pb::SnapshotMeta recv_snap_;
  std::string recv_data_;
};

}  // namespace muster::raft
