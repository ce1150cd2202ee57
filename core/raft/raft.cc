#include "core/raft/raft.h"

#include <algorithm>

#include "core/base/check.h"
#include "google/protobuf/io/coded_stream.h"

namespace muster::raft {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kFollower: return "Follower";
    case Role::kPreCandidate: return "PreCandidate";
    case Role::kCandidate: return "Candidate";
    case Role::kLeader: return "Leader";
  }
  return "?";
}

namespace {
bool IsVoteRequest(pb::MessageType t) { return t == pb::MSG_VOTE || t == pb::MSG_PRE_VOTE; }
bool FromLeader(pb::MessageType t) { return t == pb::MSG_APP || t == pb::MSG_HEARTBEAT || t == pb::MSG_SNAP; }
NodeId From(const pb::Message& m) { return NodeId{m.from()}; }
}  // namespace

// ---------------------------------------------------------------------------------------
// Construction and recovery.

Raft::Raft(RaftOptions options, const StorageView* storage, uint64_t seed, Time now, Logger log)
    : opts_(std::move(options)), logger_(std::move(log)), rng_(seed), buggify_(opts_.buggify) {
  MUSTER_CHECK(opts_.id.valid(), "raft needs a node id");
  MUSTER_CHECK(opts_.lease_duration < opts_.election_timeout, "lease must be shorter than the election timeout");
  MUSTER_CHECK(opts_.heartbeat_interval < opts_.election_timeout);
  log_.Recover(storage);
  if (storage != nullptr) {
    if (auto hs_bytes = storage->Get(kHardStateKey)) {
      pb::HardState hs;
      MUSTER_CHECK(hs.ParseFromString(*hs_bytes), "corrupt hard state");
      term_ = hs.term();
      vote_ = NodeId{hs.vote()};
      commit_ = hs.commit();
    }
  }
  // The log may end before a commit index persisted lazily alongside a torn write.
  commit_ = std::clamp(commit_, log_.snapshot_index(), log_.last_index());
  // A torn write can keep a new leader's entries without the hard state of its term, which the
  // write puts last (raft_sim seeds 2905 and 5899: log's last term 12 over current term 11,
  // caught by CheckInvariants). Holding an entry of term T means we heard from T's leader, so
  // we are in term T; the vote is empty, which is safe, because a vote in T leaves only after
  // the hard state naming T is durable, so none was sent.
  if (log_.last_term() > term_) {
    term_ = log_.last_term();
    vote_ = NodeId{};
  }
  persisted_commit_ = commit_;
  applied_ = log_.snapshot_index();
  durable_index_ = log_.last_index();
  pending_restore_ = log_.snapshot_index() > 0;
  for (uint64_t i = log_.first_index(); i <= log_.last_index(); ++i) {
    const pb::Entry& e = log_.At(i);
    if (e.type() != pb::ENTRY_CONFIG) continue;
    pb::Configuration c;
    MUSTER_CHECK(c.ParseFromString(e.data()), "corrupt configuration entry ", i);
    config_entries_[i] = std::move(c);
  }
  // A restarted server may have heard from a leader just before it went down, and that
  // leader's lease counts on it not voting for a while: treat the start as leader contact.
  // A brand-new server (term 0) has promised nothing.
  leader_contact_ = term_ > 0 ? now : absl::InfinitePast();
  RecomputeConfiguration(now);
  ResetElectionDeadline(now);
  logger_.Debug(now, "initial configuration: index=", config_index_, " servers=", config_.servers_size(),
               " term=", term_, " last_index=", log_.last_index(), " commit=", commit_);
}

// ---------------------------------------------------------------------------------------
// Inputs.

void Raft::Tick(Time now, Ready* out) {
  out_ = out;
  timer_now_ = now;
  timers_.RunDue(now);
  Finish(now, out);
}

// Each role keeps only its own timers pending (the role transitions cancel the others), so
// the guards below are a second line.
void Raft::OnElectionTimeout() {
  const Time now = timer_now_;
  if (role_ == Role::kLeader) return;
  if (IsVoter(opts_.id)) {
    logger_.Warn(now, "heartbeat timeout reached, starting election: last-leader=", ToString(leader_));
    StartElection(now, opts_.pre_vote, /*transfer=*/false);
  } else {
    ResetElectionDeadline(now);
  }
}

void Raft::OnHeartbeatDue() {
  const Time now = timer_now_;
  if (role_ != Role::kLeader) return;
  BroadcastHeartbeat(now);
  timers_.Reset(&heartbeat_timer_, now + opts_.heartbeat_interval, [this] { OnHeartbeatDue(); });
}

void Raft::OnCheckQuorumDue() {
  const Time now = timer_now_;
  if (role_ != Role::kLeader) return;
  timers_.Reset(&check_quorum_timer_, now + opts_.election_timeout, [this] { OnCheckQuorumDue(); });
  if (opts_.check_quorum) CheckQuorum(now);
}

void Raft::OnVoteResendDue() {
  const Time now = timer_now_;
  if (role_ != Role::kCandidate && role_ != Role::kPreCandidate) return;
  // Another timer due in this tick can only be the election timeout (a candidate has no
  // other): the new election asks everyone anyway.
  if (std::optional<Time> next = timers_.Next(); next.has_value() && *next <= now) return;
  if (buggify_.Fire("raft.vote.delay_resend")) {
    // A resend is only against loss.
    timers_.Reset(&vote_resend_timer_, now + opts_.heartbeat_interval, [this] { OnVoteResendDue(); });
  } else {
    SendVoteRequests(now);
  }
}

void Raft::OnTransferTimeout() {
  const Time now = timer_now_;
  if (role_ != Role::kLeader || !transfer_target_.valid()) return;
  logger_.Warn(now, "leadership transfer to ", ToString(transfer_target_), " timed out");
  transfer_target_ = NodeId{};
}

absl::Status Raft::Receive(Time now, std::string_view payload, Ready* out) {
  pb::Message m;
  if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::InvalidArgumentError("malformed raft message");
  }
  if (m.to() != opts_.id.value) return absl::InvalidArgumentError("raft message for another node");
  Step(now, std::move(m), out);
  return absl::OkStatus();
}

void Raft::Step(Time now, pb::Message m, Ready* out) {
  out_ = out;
  if (m.term() > term_) {
    if (IsVoteRequest(m.type()) && !m.transfer() && opts_.check_quorum &&
        (role_ == Role::kLeader || now < leader_contact_ + opts_.election_timeout)) {
      // Leader stickiness: while a leader is known to be alive, a higher-term vote request
      // (say from a partitioned or removed server) must not depose it. The leader lease
      // rests on this rule.
      logger_.Info(now, "ignoring ", m.type() == pb::MSG_PRE_VOTE ? "pre-vote" : "vote", " request from ",
                   ToString(From(m)), " for term ", m.term(),
                   role_ == Role::kLeader ? ": this node leads" : ": a leader was heard from within the election timeout");
      Finish(now, out);
      return;
    }
    if (m.type() == pb::MSG_PRE_VOTE || (m.type() == pb::MSG_PRE_VOTE_RESP && !m.reject())) {
      // A pre-vote (or a grant of one) changes no term.
    } else if (opts_.unsafe_keep_role_on_higher_term && role_ == Role::kLeader) {
      // Rule for all servers: a higher term makes a leader a follower. (Off: it takes the
      // term and goes on leading in it.)
      term_ = m.term();
      vote_ = NodeId{};
      hard_dirty_ = true;
    } else {
      BecomeFollower(now, m.term(), FromLeader(m.type()) ? From(m) : NodeId{});
    }
  } else if (m.term() < term_) {
    // Figure 2, both receivers' rule 1: reply false if term < currentTerm. (Off: handled as if
    // of our term.)
    if (m.type() == pb::MSG_APP && opts_.unsafe_accept_stale_term_append) {
      HandleAppend(now, m);
      Finish(now, out);
      return;
    }
    if (IsVoteRequest(m.type()) && opts_.unsafe_grant_stale_term_vote) {
      HandleVoteRequest(now, m);
      Finish(now, out);
      return;
    }
    if (m.type() == pb::MSG_APP || m.type() == pb::MSG_HEARTBEAT) {
      // A stale leader: tell it our term so it steps down (it may have been partitioned
      // while we moved on without it). Always, as in the paper: etcd answers only with
      // check-quorum or pre-vote and otherwise counts on vote requests reaching the stale
      // leader, but a candidate sends those only to the voters of *its* configuration,
      // which may not include the stale leader (sim seed 20152: a leader stuck forever in
      // term 13 while the others were at 54).
      pb::Message r;
      r.set_type(pb::MSG_APP_RESP);
      r.set_to(m.from());
      r.set_index(0);
      r.set_reject(true);
      Send(std::move(r), m.from_address(), /*needs_durable=*/true);
    } else if (IsVoteRequest(m.type())) {
      // Reject with our term, so a candidate stuck in an old term learns the current one
      // (it may never hear from us otherwise: we may not count it as a voter).
      pb::Message r;
      r.set_type(m.type() == pb::MSG_PRE_VOTE ? pb::MSG_PRE_VOTE_RESP : pb::MSG_VOTE_RESP);
      r.set_to(m.from());
      r.set_reject(true);
      Send(std::move(r), m.from_address(), true);
    }
    Finish(now, out);
    return;
  }

  if (IsVoteRequest(m.type())) {
    HandleVoteRequest(now, m);
  } else {
    switch (role_) {
      case Role::kFollower: StepFollower(now, m); break;
      case Role::kPreCandidate:
      case Role::kCandidate: StepCandidate(now, m); break;
      case Role::kLeader: StepLeader(now, m); break;
    }
  }
  Finish(now, out);
}

void Raft::WriteDurable(Time now, uint64_t write_id, Ready* out) {
  out_ = out;
  last_durable_ = std::max(last_durable_, write_id);
  while (!pending_appends_.empty() && pending_appends_.front().write_id <= write_id) {
    durable_index_ = pending_appends_.front().last_index;
    pending_appends_.pop_front();
  }
  if (role_ == Role::kLeader && MaybeCommit(now)) BroadcastAppend(now, false);
  Finish(now, out);
}

// ---------------------------------------------------------------------------------------
// Host requests.

absl::Status Raft::Bootstrap(Time now, const pb::Configuration& configuration, Ready* out) {
  out_ = out;
  if (log_.last_index() != 0 || term_ != 0) {
    Finish(now, out);
    return absl::FailedPreconditionError("bootstrap only works on a node with no state");
  }
  pb::Entry e;
  e.set_term(1);
  e.set_index(1);
  e.set_type(pb::ENTRY_CONFIG);
  e.set_data(configuration.SerializeAsString());
  log_.Append(e, Write(true));
  log_dirty_ = true;
  config_entries_[1] = configuration;
  term_ = 1;
  hard_dirty_ = true;
  RecomputeConfiguration(now);
  logger_.Info(now, "bootstrapped with ", configuration.servers_size(), " servers");
  Finish(now, out);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Raft::Propose(Time now, std::string data, Ready* out) {
  out_ = out;
  absl::Status status;
  if (role_ != Role::kLeader) {
    status = absl::UnavailableError(absl::StrCat("not the leader; leader is ", ToString(leader_)));
  } else if (transfer_target_.valid()) {
    status = absl::UnavailableError("leadership transfer in progress");
  } else if (pending_appends_.size() >= kLogWritesInFlightMax) {
    status = absl::UnavailableError("too many log writes waiting for the disk");
  } else {
    AppendAsLeader(now, pb::ENTRY_NORMAL, std::move(data));
  }
  const uint64_t index = log_.last_index();
  Finish(now, out);
  if (!status.ok()) return status;
  return index;
}

absl::Status Raft::ProposeBatch(Time now, std::vector<std::string> data, Ready* out) {
  out_ = out;
  absl::Status status;
  if (role_ != Role::kLeader) {
    status = absl::UnavailableError("not the leader");
  } else if (transfer_target_.valid()) {
    status = absl::UnavailableError("leadership transfer in progress");
  } else if (pending_appends_.size() >= kLogWritesInFlightMax) {
    status = absl::UnavailableError("too many log writes waiting for the disk");
  } else {
    StorageWrite* w = Write(true);
    w->ops.reserve(w->ops.size() + data.size() + 1);
    for (std::string& d : data) AppendAsLeader(now, pb::ENTRY_NORMAL, std::move(d));
  }
  Finish(now, out);
  return status;
}

absl::Status Raft::ChangeMembership(Time now, ConfChange change, NodeId server, const Address& address, Ready* out) {
  out_ = out;
  auto fail = [&](absl::Status s) {
    Finish(now, out);
    return s;
  };
  if (role_ != Role::kLeader) return fail(absl::UnavailableError("not the leader"));
  // The single-server change rule (Ongaro 2015): a new leader must commit an entry of its
  // own term before changing the configuration, or two overlapping changes across a leader
  // change can produce two disjoint majorities.
  if (!CommittedOwnTerm() && !opts_.unsafe_config_change_before_noop) {
    return fail(absl::UnavailableError("leader has not committed an entry of its term yet"));
  }
  // One change at a time (thesis 4.1): the next waits until the last one committed, so any two
  // configurations in effect differ by one server and their majorities overlap.
  if (config_index_ > commit_ && !opts_.unsafe_concurrent_config_change) {
    return fail(absl::UnavailableError("a configuration change is in progress"));
  }
  if (transfer_target_.valid()) return fail(absl::UnavailableError("leadership transfer in progress"));
  if (pending_appends_.size() >= kLogWritesInFlightMax) {
    return fail(absl::UnavailableError("too many log writes waiting for the disk"));
  }
  pb::Configuration next = config_;
  pb::Server* found = nullptr;
  for (pb::Server& s : *next.mutable_servers()) {
    if (s.id() == server.value) found = &s;
  }
  switch (change) {
    case ConfChange::kAddVoter:
    case ConfChange::kAddNonVoter: {
      if (found != nullptr) {
        if (change == ConfChange::kAddNonVoter && found->voter()) {
          return fail(absl::InvalidArgumentError("server is already a voter"));
        }
        found->set_voter(change == ConfChange::kAddVoter);
        if (!address.empty()) found->set_address(address);
      } else {
        pb::Server* s = next.add_servers();
        s->set_id(server.value);
        s->set_address(address);
        s->set_voter(change == ConfChange::kAddVoter);
      }
      break;
    }
    case ConfChange::kPromote:
      if (found == nullptr) return fail(absl::NotFoundError("no such server"));
      found->set_voter(true);
      break;
    case ConfChange::kRemove: {
      if (found == nullptr) return fail(absl::NotFoundError("no such server"));
      auto* servers = next.mutable_servers();
      servers->erase(std::remove_if(servers->begin(), servers->end(),
                                    [&](const pb::Server& s) { return s.id() == server.value; }),
                     servers->end());
      break;
    }
  }
  std::sort(next.mutable_servers()->begin(), next.mutable_servers()->end(),
            [](const pb::Server& a, const pb::Server& b) { return a.id() < b.id(); });
  size_t voters = 0;
  for (const pb::Server& s : next.servers()) voters += s.voter() ? 1 : 0;
  if (voters == 0) return fail(absl::InvalidArgumentError("a configuration needs a voter"));
  AppendAsLeader(now, pb::ENTRY_CONFIG, next.SerializeAsString());
  Finish(now, out);
  return absl::OkStatus();
}

absl::Status Raft::TransferLeadership(Time now, NodeId target, Ready* out) {
  out_ = out;
  absl::Status status;
  if (role_ != Role::kLeader) {
    status = absl::UnavailableError("not the leader");
  } else if (target == opts_.id || !IsVoter(target)) {
    status = absl::InvalidArgumentError("transfer target must be another voter");
  } else if (transfer_target_.valid()) {
    status = absl::UnavailableError("leadership transfer already in progress");
  } else {
    transfer_target_ = target;
    timers_.Reset(&transfer_timer_, now + opts_.election_timeout, [this] { OnTransferTimeout(); });
    lease_void_ = true;  // the target's election bypasses stickiness: our lease is void
    logger_.Info(now, "starting leadership transfer to ", ToString(target));
    Progress& pr = progress_.at(target);
    if (pr.match == log_.last_index()) {
      pb::Message m;
      m.set_type(pb::MSG_TIMEOUT_NOW);
      m.set_to(target.value);
      Send(std::move(m), FindServer(target)->address(), false);
    } else {
      SendAppend(now, target, pr, true);
    }
  }
  Finish(now, out);
  return status;
}

absl::Status Raft::ReadIndex(Time now, uint64_t context, Ready* out) {
  out_ = out;
  absl::Status status;
  if (role_ != Role::kLeader) {
    status = absl::UnavailableError("not the leader");
  } else if (!CommittedOwnTerm()) {
    // Until its no-op commits, a new leader does not know the commit index.
    status = absl::UnavailableError("leader has not committed an entry of its term yet");
  } else if (VoterCount() == 1 && IsVoter(opts_.id)) {
    out->reads.push_back({context, commit_});
  } else if (reads_.size() >= kPendingReadsMax) {
    status = absl::UnavailableError("too many reads waiting for a quorum");
  } else {
    reads_.push_back({context, commit_, round_ + 1});
    MUSTER_CHECK_LE(reads_.size(), kPendingReadsMax);
    BroadcastHeartbeat(now);
  }
  Finish(now, out);
  return status;
}

// Lease reads. A follower refuses to vote for anyone else until election_timeout has passed
// since it last heard from the leader (stickiness, in Step), and at start-up. A quorum
// acknowledged heartbeat round R, sent at LeaseStart(); each of them received it after that
// time, so no other leader can be elected before LeaseStart() + election_timeout as measured
// by those followers. We serve reads until LeaseStart() + lease_duration only.
//
// UNSAFE when clocks drift: if a follower's clock runs faster than the leader's by more than
// (election_timeout - lease_duration) / election_timeout (20% with the defaults), a new
// leader can be elected while this one still serves reads from its lease. Also unsafe
// without check_quorum (no stickiness) and after a leadership transfer (TimeoutNow bypasses
// stickiness), so both disable the lease here.
absl::StatusOr<uint64_t> Raft::LeaseRead(Time now) const {
  if (role_ != Role::kLeader) return absl::UnavailableError("not the leader");
  if (!opts_.check_quorum || lease_void_ || transfer_target_.valid()) {
    return absl::UnavailableError("no lease");
  }
  if (!CommittedOwnTerm()) return absl::UnavailableError("leader has not committed an entry of its term yet");
  if (VoterCount() == 1 && IsVoter(opts_.id)) return commit_;
  const Time start = LeaseStart();
  if (start == absl::InfinitePast() || now >= start + opts_.lease_duration) {
    return absl::UnavailableError("lease expired");
  }
  return commit_;
}

absl::Status Raft::Compact(Time now, uint64_t index, std::string data, Ready* out) {
  out_ = out;
  absl::Status status;
  if (index > applied_) {
    status = absl::InvalidArgumentError("cannot snapshot beyond the applied index");
  } else if (index <= log_.snapshot_index()) {
    status = absl::FailedPreconditionError("log already compacted there");
  } else {
    pb::SnapshotMeta meta;
    meta.set_index(index);
    meta.set_term(*log_.Term(index));
    auto it = config_entries_.upper_bound(index);
    if (it != config_entries_.begin()) {
      *meta.mutable_configuration() = std::prev(it)->second;
    } else {
      *meta.mutable_configuration() = log_.snapshot_meta().configuration();
    }
    log_.Compact(std::move(meta), std::move(data), Write(true));
    config_entries_.erase(config_entries_.begin(), config_entries_.upper_bound(index));
    logger_.Info(now, "compacted log through index ", index);
  }
  Finish(now, out);
  return status;
}

void Raft::Campaign(Time now, Ready* out) {
  out_ = out;
  if (role_ != Role::kLeader && IsVoter(opts_.id)) StartElection(now, opts_.pre_vote, false);
  Finish(now, out);
}

// ---------------------------------------------------------------------------------------
// Role transitions.

void Raft::ResetElectionDeadline(Time now) {
  Time deadline = now + opts_.election_timeout +
                  rng_.UniformDuration(absl::ZeroDuration(), opts_.election_timeout - absl::Nanoseconds(1));
  // The shortest timeout allowed: elections collide more (the draw above still happens, so
  // rng_ stays in step).
  if (buggify_.Fire("raft.election.shortest_timeout")) deadline = now + opts_.election_timeout;
  timers_.Reset(&election_timer_, deadline, [this] { OnElectionTimeout(); });
}

void Raft::BecomeFollower(Time now, uint64_t term, NodeId leader) {
  MUSTER_CHECK(term >= term_, "terms never go backwards");
  const Role old = role_;
  if (term > term_) {
    term_ = term;
    vote_ = NodeId{};
    hard_dirty_ = true;
  }
  role_ = Role::kFollower;
  leader_ = leader;
  log_matches_leader_ = false;
  if (leader.valid()) leader_contact_ = now;
  progress_.clear();
  reads_.clear();
  votes_.clear();
  transfer_target_ = NodeId{};
  timers_.Cancel(heartbeat_timer_);
  timers_.Cancel(check_quorum_timer_);
  timers_.Cancel(vote_resend_timer_);
  timers_.Cancel(transfer_timer_);
  ResetElectionDeadline(now);
  if (old != Role::kFollower) logger_.Info(now, "entering Follower state: term=", term_, " leader=", ToString(leader_));
}

void Raft::StartElection(Time now, bool pre_vote, bool transfer) {
  if (!IsVoter(opts_.id)) return;
  if (pre_vote) {
    BecomePreCandidate(now);
  } else {
    BecomeCandidate(now);
  }
  election_transfer_ = transfer;
  Count(opts_.id, true);
  SendVoteRequests(now);
  if (Granted() >= Quorum()) {
    if (role_ == Role::kPreCandidate) {
      StartElection(now, false, false);  // pre-vote won (single voter): the real election
    } else {
      BecomeLeader(now);
    }
  }
}

// To every voter that has not answered yet: at the start of an election, and again every
// heartbeat interval while it lasts (requests and answers may be lost; a voter that already
// granted us this term grants again).
void Raft::SendVoteRequests(Time now) {
  pb::Message m;
  m.set_type(role_ == Role::kPreCandidate ? pb::MSG_PRE_VOTE : pb::MSG_VOTE);
  m.set_term(role_ == Role::kPreCandidate ? term_ + 1 : term_);
  m.set_index(log_.last_index());
  m.set_log_term(log_.last_term());
  m.set_transfer(election_transfer_);
  for (const pb::Server& s : config_.servers()) {
    if (s.id() == opts_.id.value || votes_.count(NodeId{s.id()}) > 0) continue;
    // Only voters elect (non-voters are asked, and counted, with the rule off: see Granted).
    if (!s.voter() && !opts_.unsafe_count_nonvoter_votes) continue;
    pb::Message r = m;
    r.set_to(s.id());
    // A vote request carries our new term and self-vote: both must be durable first (Figure 2:
    // persistent state is on stable storage before the RPC).
    Send(std::move(r), s.address(), role_ == Role::kCandidate && !opts_.unsafe_campaign_before_persist);
  }
  timers_.Reset(&vote_resend_timer_, now + opts_.heartbeat_interval, [this] { OnVoteResendDue(); });
}

void Raft::BecomePreCandidate(Time now) {
  role_ = Role::kPreCandidate;
  leader_ = NodeId{};
  votes_.clear();
  ResetElectionDeadline(now);
  logger_.Info(now, "entering PreCandidate state: term=", term_);
}

void Raft::BecomeCandidate(Time now) {
  role_ = Role::kCandidate;
  term_ += 1;
  vote_ = opts_.id;
  hard_dirty_ = true;
  leader_ = NodeId{};
  votes_.clear();
  ResetElectionDeadline(now);
  logger_.Info(now, "entering Candidate state: term=", term_);
}

void Raft::BecomeLeader(Time now) {
  MUSTER_CHECK(role_ == Role::kCandidate, "only a candidate becomes leader");
  logger_.Info(now, "Election won. Tally: ", Granted());
  // Leader Append-Only (Figure 3): a leader never deletes its entries, committed or not: one
  // past its commit index may be committed already by an earlier leader.
  // (Off: it drops the tail past its commit index; kept from dropping configurations, so the
  // damage is to entries, not to who is in the cluster.)
  if (opts_.unsafe_leader_drops_uncommitted_tail && log_.last_index() > commit_ && config_index_ <= commit_) {
    TruncateLogAfter(commit_);
  }
  role_ = Role::kLeader;
  leader_ = opts_.id;
  progress_.clear();
  reads_.clear();
  round_sent_.clear();
  round_ = 0;
  transfer_target_ = NodeId{};
  lease_void_ = false;
  for (const pb::Server& s : config_.servers()) {
    if (s.id() == opts_.id.value) continue;
    auto [it, inserted] = progress_.try_emplace(NodeId{s.id()}, log_.last_index() + 1, opts_.inflight_msgs_max,
                                                opts_.inflight_bytes_max);
    it->second.voter = s.voter();
    it->second.recent_active = true;
    it->second.last_progress = now;
    it->second.last_contact = now;
  }
  timers_.Cancel(election_timer_);
  timers_.Cancel(vote_resend_timer_);
  timers_.Cancel(transfer_timer_);
  timers_.Reset(&heartbeat_timer_, now + opts_.heartbeat_interval, [this] { OnHeartbeatDue(); });
  timers_.Reset(&check_quorum_timer_, now + opts_.election_timeout, [this] { OnCheckQuorumDue(); });
  logger_.Info(now, "entering Leader state: term=", term_);
  // Commit an entry of our own term: it commits every earlier entry with it (Figure 8),
  // and it must precede any configuration change.
  AppendAsLeader(now, pb::ENTRY_NOOP, "");
  BroadcastAppend(now, true);
}

void Raft::Count(NodeId from, bool granted) { votes_.try_emplace(from, granted); }

size_t Raft::Granted() const {
  size_t n = 0;
  for (const auto& [id, granted] : votes_) {
    // Only voters' grants count toward an election.
    if (granted && (IsVoter(id) || opts_.unsafe_count_nonvoter_votes)) ++n;
  }
  return n;
}

size_t Raft::Rejected() const {
  size_t n = 0;
  for (const auto& [id, granted] : votes_) n += (!granted && IsVoter(id)) ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------------------
// Step functions.

void Raft::HandleVoteRequest(Time now, const pb::Message& m) {
  const bool pre = m.type() == pb::MSG_PRE_VOTE;
  const NodeId candidate = From(m);
  bool can_vote = vote_ == candidate || (!vote_.valid() && !leader_.valid()) || (pre && m.term() > term_);
  // Figure 2, RequestVote rule 2: one vote per term (votedFor is null or candidateId).
  if (opts_.unsafe_vote_twice_in_term && !pre) can_vote = true;
  // ... and only for a candidate whose log is at least as up-to-date as ours (5.4.1).
  bool log_ok = m.log_term() > log_.last_term() ||
                (m.log_term() == log_.last_term() && m.index() >= log_.last_index());
  if (opts_.unsafe_vote_ignores_log) log_ok = true;
  pb::Message r;
  r.set_type(pre ? pb::MSG_PRE_VOTE_RESP : pb::MSG_VOTE_RESP);
  r.set_to(m.from());
  if (can_vote && log_ok) {
    if (!pre) {
      vote_ = candidate;
      hard_dirty_ = true;
      ResetElectionDeadline(now);
    }
    // A granted pre-vote answers in the candidate's future term, so it does not look stale.
    r.set_term(m.term());
    logger_.Info(now, pre ? "pre-vote" : "vote", " granted to ", ToString(candidate), " for term ", m.term());
  } else {
    r.set_reject(true);
    logger_.Debug(now, "rejecting ", pre ? "pre-vote" : "vote", " request from ", ToString(candidate), " for term ", m.term());
  }
  Send(std::move(r), m.from_address(), /*needs_durable=*/!pre && !opts_.unsafe_reply_before_persist);
}

void Raft::StepFollower(Time now, pb::Message& m) {
  switch (m.type()) {
    case pb::MSG_APP:
    case pb::MSG_HEARTBEAT:
    case pb::MSG_SNAP:
      // One leader per term (Raft's election safety): a second sender claiming leadership of
      // the term we follow is not a leader but forged or broken input, dropped (the decoder
      // fuzzer's 'leader changed within term 3 from n3 to n464').
      if (leader_.valid() && From(m) != leader_) {
        logger_.Warn(now, "dropped a ", pb::MessageType_Name(m.type()), " from ", ToString(From(m)),
                     ": this node follows ", ToString(leader_), " in term ", term_);
        break;
      }
      leader_ = From(m);
      leader_contact_ = now;
      ResetElectionDeadline(now);
      if (m.type() == pb::MSG_APP) HandleAppend(now, m);
      if (m.type() == pb::MSG_HEARTBEAT) HandleHeartbeat(now, m);
      if (m.type() == pb::MSG_SNAP) HandleSnapshotChunk(now, m);
      break;
    case pb::MSG_TIMEOUT_NOW:
      if (IsVoter(opts_.id)) {
        logger_.Info(now, "received TimeoutNow from ", ToString(From(m)), ", starting election");
        StartElection(now, /*pre_vote=*/false, /*transfer=*/true);
      }
      break;
    default:
      break;
  }
}

void Raft::StepCandidate(Time now, pb::Message& m) {
  switch (m.type()) {
    case pb::MSG_APP:
    case pb::MSG_HEARTBEAT:
    case pb::MSG_SNAP:
      BecomeFollower(now, m.term(), From(m));
      StepFollower(now, m);
      return;
    case pb::MSG_PRE_VOTE_RESP:
    case pb::MSG_VOTE_RESP: {
      const bool mine = (role_ == Role::kPreCandidate) == (m.type() == pb::MSG_PRE_VOTE_RESP);
      if (!mine) return;
      Count(From(m), !m.reject());
      if (Granted() >= Quorum()) {
        if (role_ == Role::kPreCandidate) {
          StartElection(now, false, false);  // pre-vote passed: the real election
        } else {
          BecomeLeader(now);
        }
      } else if (Rejected() >= Quorum()) {
        BecomeFollower(now, term_, NodeId{});
      }
      return;
    }
    default:
      return;
  }
}

void Raft::StepLeader(Time now, const pb::Message& m) {
  auto it = progress_.find(From(m));
  if (it == progress_.end()) return;  // not (or no longer) in the configuration
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.last_contact = now;
  switch (m.type()) {
    case pb::MSG_APP_RESP:
      HandleAppendResponse(now, m, pr);
      break;
    case pb::MSG_HEARTBEAT_RESP:
      HandleHeartbeatResponse(now, m, pr);
      break;
    case pb::MSG_SNAP_RESP:
      // One stream per follower: only the answer to the chunk in flight (its sequence
      // number echoed in `context`) moves it. Answering every response let each duplicate
      // start one more parallel stream of the same snapshot (issue 10 item 5: 357 KB sent
      // for a 3.6 KB snapshot under 50% duplication, and growing).
      if (pr.state == Progress::State::kSnapshot && m.index() == pr.snap_index &&
          m.index() == log_.snapshot_index() && m.context() == pr.snap_seq) {
        pr.snap_offset = m.chunk_offset();
        pr.last_progress = now;
        SendSnapshotChunk(now, From(m), pr);
      }
      break;
    case pb::MSG_APP:
    case pb::MSG_HEARTBEAT:
    case pb::MSG_SNAP:
      logger_.Warn(now, "two leaders in term ", term_, ": ", ToString(From(m)), " and this node");
      break;
    default:
      break;
  }
}

// An append is untrusted bytes until it passes this: its entries continue m.index() one by
// one, their terms never decrease, start at or after m.log_term() and stay within the
// message's term, configuration entries parse, and none would overwrite an entry we know is
// committed. A correct leader always passes (Figure 2's log matching and leader completeness);
// anything else would trip the log's invariant checks, so it is dropped here instead (found by
// the decoder fuzzer: entry 177 after index 1 aborted the node).
absl::Status Raft::ValidateAppend(const pb::Message& m) const {
  uint64_t expect_index = m.index() + 1;
  uint64_t prev_term = m.log_term();
  for (const pb::Entry& e : m.entries()) {
    if (e.index() != expect_index) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e.index(), " where ", expect_index, " belongs"));
    }
    if (e.term() < prev_term || e.term() > m.term()) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e.index(), " has term ", e.term()));
    }
    if (e.index() > log_.snapshot_index() && e.index() <= commit_ && e.index() <= log_.last_index() &&
        !log_.MatchTerm(e.index(), e.term())) {
      return absl::InvalidArgumentError(absl::StrCat("entry ", e.index(), " would overwrite a committed entry"));
    }
    if (e.type() == pb::ENTRY_CONFIG) {
      pb::Configuration c;
      if (!c.ParseFromString(e.data())) return absl::InvalidArgumentError("configuration entry does not parse");
    }
    prev_term = e.term();
    ++expect_index;
  }
  return absl::OkStatus();
}

bool Raft::HandleInput(const Input& input, Ready* out) {
  if (std::holds_alternative<TickInput>(input.what)) {
    Tick(input.now, out);
  } else if (const auto* m = std::get_if<MessageInput>(&input.what)) {
    Receive(input.now, m->payload, out).IgnoreError();  // malformed: dropped (and logged)
  } else if (const auto* w = std::get_if<WriteDurableInput>(&input.what)) {
    WriteDurable(input.now, w->write_id, out);
  } else {
    return false;
  }
  return true;
}

void Raft::HandleAppend(Time now, pb::Message& m) {
  if (absl::Status s = ValidateAppend(m); !s.ok()) {
    logger_.Warn(now, "dropped an append from ", m.from(), ": ", s.message());
    return;
  }
  if (m.entries_size() > 0 && pending_appends_.size() >= kLogWritesInFlightMax) {
    logger_.Debug(now, "dropped an append: ", pending_appends_.size(), " log writes wait for the disk");
    return;  // the leader resends once we answer again
  }
  pb::Message r;
  r.set_type(pb::MSG_APP_RESP);
  r.set_to(m.from());
  if (m.index() < commit_) {
    r.set_index(commit_);
    Send(std::move(r), m.from_address(), true);
    return;
  }
  // Figure 2, AppendEntries rule 2: reply false unless our log holds prevLogIndex with
  // prevLogTerm (the induction step of Log Matching).
  bool prev_matches = log_.MatchTerm(m.index(), m.log_term());
  if (opts_.unsafe_skip_log_matching_check && m.index() <= log_.last_index() &&
      log_.Term(m.index()).value_or(0) <= m.log_term()) {
    prev_matches = true;  // (only where the log's terms stay non-decreasing: a mismatch, not a crash)
  }
  if (!prev_matches) {
    // Conflict hint: the last index whose term is <= the leader's term at m.index(), so the
    // leader can skip a whole term of mismatching entries per round trip.
    uint64_t hint = log_.FindConflictByTerm(std::min(m.index(), log_.last_index()), m.log_term());
    uint64_t hint_term = log_.Term(hint).value_or(0);
    if (m.index() > 0 && buggify_.Fire("raft.append.no_conflict_hint")) {
      // No fast back-off: the leader steps back one entry per round trip (always correct).
      hint = m.index() - 1;
      hint_term = 0;
    }
    r.set_reject(true);
    r.set_index(m.index());
    r.set_reject_hint(hint);
    r.set_hint_term(hint_term);
    log_matches_leader_ = false;
    Send(std::move(r), m.from_address(), true);
    return;
  }
  log_matches_leader_ = true;
  const uint64_t last_new = m.index() + m.entries_size();
  // Contact for stale reads: now our log holds, as the leader's, all it had committed.
  if (m.commit() <= last_new) leader_log_contact_ = now;
  bool truncated = false;
  if (m.entries_size() > 0) {
    StorageWrite* w = Write(true);
    w->ops.reserve(w->ops.size() + m.entries_size() + 2);
  }
  for (pb::Entry& e : *m.mutable_entries()) {
    const uint64_t index = e.index();
    if (index <= log_.snapshot_index()) continue;  // covered by our snapshot: committed
    if (index <= log_.last_index()) {
      if (log_.MatchTerm(index, e.term())) continue;
      MUSTER_CHECK(index > commit_, "leader overwrites committed entry ", index);
      TruncateLogAfter(index - 1);
      truncated = true;
    }
    if (e.type() == pb::ENTRY_CONFIG) {
      pb::Configuration c;
      MUSTER_CHECK(c.ParseFromString(e.data()), "corrupt configuration entry");
      config_entries_[index] = std::move(c);
      truncated = true;
    }
    log_.Append(std::move(e), Write(true));
    log_dirty_ = true;
  }
  // Figure 2, AppendEntries rule 3: truncate only on a conflict. Our entries past the
  // append's may match the leader's (this append is old, reordered or cut short by
  // msg_bytes_max), and we may have acknowledged them: they stay.
  if (opts_.unsafe_truncate_without_conflict && last_new < log_.last_index() && last_new >= commit_) {
    TruncateLogAfter(last_new);
    truncated = true;
  }
  if (truncated) RecomputeConfiguration(now);
  // Rule 5: commitIndex = min(leaderCommit, index of last new entry). Entries past it have not
  // been checked against the leader's log: they may be an old term's, never committed.
  const uint64_t commit_max = opts_.unsafe_commit_past_last_new ? log_.last_index() : last_new;
  commit_ = std::max(commit_, std::min(m.commit(), commit_max));
  r.set_index(last_new);
  // Acknowledged entries must be durable first (Figure 2: "updated on stable storage before
  // responding"): the leader counts this answer toward commit.
  Send(std::move(r), m.from_address(), /*needs_durable=*/!opts_.unsafe_ack_append_before_persist);
}

void Raft::HandleHeartbeat(Time now, const pb::Message& m) {
  // The leader sends min(match, commit): entries we acknowledged, so in our log.
  commit_ = std::max(commit_, std::min(m.commit(), log_.last_index()));
  // Contact for stale reads when our log matches the leader's (an append of its was taken)
  // and holds all it had committed (the heartbeat's index, 0 from a leader that sends none).
  if (log_matches_leader_ && commit_ >= m.index()) leader_log_contact_ = now;
  pb::Message r;
  r.set_type(pb::MSG_HEARTBEAT_RESP);
  r.set_to(m.from());
  r.set_context(m.context());
  // Not yet shown consistent with this leader (just started, or it changed): asks for an
  // append, which a caught-up follower would otherwise not get until the next write.
  if (!log_matches_leader_) r.set_reject(true);
  Send(std::move(r), m.from_address(), true);
}

void Raft::HandleSnapshotChunk(Time now, const pb::Message& m) {
  const pb::SnapshotMeta& meta = m.snapshot();
  // A leader's snapshot holds entries of its term or earlier; one claiming a later term is
  // forged, and would leave our log ahead of our term (the fuzzer, through CheckInvariants:
  // "log's last term 65 > current term 3").
  if (meta.term() > m.term()) {
    logger_.Warn(now, "dropped a snapshot from ", ToString(From(m)), " of term ", meta.term(), " in term ", m.term());
    return;
  }
  pb::Message r;
  r.set_to(m.from());
  if (meta.index() <= commit_) {
    recv_data_.clear();
    r.set_type(pb::MSG_APP_RESP);
    r.set_index(commit_);
    Send(std::move(r), m.from_address(), true);
    return;
  }
  if (m.chunk_offset() == 0) {
    recv_snap_ = meta;
    recv_data_.clear();
  }
  const bool same = recv_snap_.index() == meta.index() && recv_snap_.term() == meta.term();
  r.set_context(m.context());  // MSG_SNAP_RESP: which chunk this answers
  if (!same || m.chunk_offset() != recv_data_.size()) {
    r.set_type(pb::MSG_SNAP_RESP);
    r.set_index(meta.index());
    r.set_chunk_offset(same ? recv_data_.size() : 0);
    Send(std::move(r), m.from_address(), false);
    return;
  }
  if (pending_appends_.size() >= kLogWritesInFlightMax) return;  // the leader resends
  if (recv_data_.size() + m.chunk().size() > opts_.snapshot_bytes_max) {
    logger_.Warn(now, "dropped a snapshot from ", m.from(), " past snapshot_bytes_max (", opts_.snapshot_bytes_max, ")");
    recv_data_.clear();
    recv_snap_.Clear();
    return;
  }
  recv_data_.append(m.chunk());
  if (!m.chunk_last()) {
    r.set_type(pb::MSG_SNAP_RESP);
    r.set_index(meta.index());
    r.set_chunk_offset(recv_data_.size());
    Send(std::move(r), m.from_address(), false);
    return;
  }
  if (log_.MatchTerm(meta.index(), meta.term())) {
    // We hold the snapshot's last entry: just learn that it is committed.
    commit_ = meta.index();
    logger_.Info(now, "fast-forwarded commit to snapshot index ", meta.index());
  } else if (absl::Status valid = opts_.validate_snapshot ? opts_.validate_snapshot(meta, recv_data_) : absl::OkStatus();
             !valid.ok()) {
    logger_.Warn(now, "dropped a snapshot from ", m.from(), " at index ", meta.index(), ": ", valid.message());
    recv_data_.clear();
    recv_snap_.Clear();
    return;
  } else {
    logger_.Info(now, "installing snapshot: index=", meta.index(), " term=", meta.term(), " bytes=", recv_data_.size());
    TruncateTracking(meta.index() > 0 ? meta.index() - 1 : 0);
    log_.Restore(meta, std::move(recv_data_), Write(true));
    log_dirty_ = true;
    config_entries_.clear();
    commit_ = meta.index();
    applied_ = meta.index();
    pending_restore_ = true;
    RecomputeConfiguration(now);
  }
  recv_data_.clear();
  recv_snap_.Clear();
  r.set_type(pb::MSG_APP_RESP);
  r.set_index(meta.index());
  Send(std::move(r), m.from_address(), true);
}

void Raft::HandleAppendResponse(Time now, const pb::Message& m, Progress& pr) {
  const NodeId peer = From(m);
  // A correct follower never acknowledges past what we sent; a forged answer that did would
  // move its match (and our commit arithmetic) beyond our log.
  if (m.index() > log_.last_index()) {
    logger_.Warn(now, "dropped an append response from ", ToString(peer), " for index ", m.index(),
                 " past our last ", log_.last_index());
    return;
  }
  if (m.reject()) {
    uint64_t next_probe = m.reject_hint();
    if (m.hint_term() > 0) next_probe = log_.FindConflictByTerm(m.reject_hint(), m.hint_term());
    // Probe again from the last known match, re-sending entries the follower may hold: its
    // log past the append may then differ from ours (Figure 2's AppendEntries rules 3 and 5).
    if (buggify_.Fire("raft.append.probe_from_match")) next_probe = pr.match;
    if (pr.MaybeDecrTo(m.index(), next_probe)) {
      logger_.Debug(now, "append to ", ToString(peer), " rejected at ", m.index(), "; probing from ", pr.next);
      if (pr.state == Progress::State::kReplicate) {
        pr.state = Progress::State::kProbe;
        pr.probe_sent = false;
        pr.inflights.Reset();
      }
      SendAppend(now, peer, pr, true);
    }
    return;
  }
  const bool was_paused = pr.Paused();
  if (!pr.MaybeUpdate(m.index(), now)) {
    if (pr.state == Progress::State::kReplicate) pr.inflights.FreeLE(m.index());
    return;
  }
  switch (pr.state) {
    case Progress::State::kProbe:
      pr.BecomeReplicate(now);
      logger_.Info(now, "pipelining replication to peer ", ToString(peer), ": match=", pr.match);
      break;
    case Progress::State::kSnapshot:
      if (pr.match >= pr.snap_index) {
        pr.BecomeReplicate(now);
        logger_.Info(now, "peer ", ToString(peer), " restored snapshot; pipelining replication: match=", pr.match);
      }
      break;
    case Progress::State::kReplicate:
      pr.inflights.FreeLE(m.index());
      break;
  }
  if (MaybeCommit(now)) {
    BroadcastAppend(now, false);
  } else if (was_paused) {
    SendAppend(now, peer, pr, false);
  }
  while (SendAppend(now, peer, pr, false)) {
  }
  if (peer == transfer_target_ && pr.match == log_.last_index()) {
    pb::Message t;
    t.set_type(pb::MSG_TIMEOUT_NOW);
    t.set_to(peer.value);
    Send(std::move(t), FindServer(peer)->address(), false);
    logger_.Info(now, "sent TimeoutNow to ", ToString(peer));
  }
}

void Raft::HandleHeartbeatResponse(Time now, const pb::Message& m, Progress& pr) {
  const NodeId peer = From(m);
  pr.acked_round = std::max(pr.acked_round, m.context());
  ReleaseReads();
  PruneRounds();
  if (pr.state == Progress::State::kSnapshot) {
    if (now - pr.snap_sent >= opts_.heartbeat_interval) {
      SendSnapshotChunk(now, peer, pr, /*resend=*/true);  // the chunk or its answer may be lost
    }
    return;
  }
  if (pr.match < log_.last_index()) {
    if (pr.state == Progress::State::kReplicate && now - pr.last_progress >= 2 * opts_.heartbeat_interval) {
      // Nothing acknowledged for a while although entries are outstanding: messages were
      // lost. Go back to probing from the last known match.
      pr.BecomeProbe(now);
    }
    if (pr.state == Progress::State::kProbe) pr.probe_sent = false;
    SendAppend(now, peer, pr, true);
  } else if (pr.commit_sent < commit_ || m.reject()) {
    // (reject: a follower whose log has not yet taken an append of ours; see HandleHeartbeat.)
    SendAppend(now, peer, pr, true);
  }
}

// ---------------------------------------------------------------------------------------
// Leader machinery.

bool Raft::SendAppend(Time now, NodeId to, Progress& pr, bool send_if_empty) {
  if (pr.Paused()) return false;
  const uint64_t prev = pr.next - 1;
  const std::optional<uint64_t> prev_term = log_.Term(prev);
  if (!prev_term.has_value()) {
    // The entries this follower needs are compacted away: send the snapshot instead.
    pr.BecomeSnapshot(log_.snapshot_index(), now);
    logger_.Info(now, "sending snapshot to ", ToString(to), ": index=", log_.snapshot_index(), " bytes=",
                 log_.snapshot_data().size());
    SendSnapshotChunk(now, to, pr);
    return false;
  }
  std::vector<const pb::Entry*> entries;
  if (pr.next <= log_.last_index()) log_.Slice(pr.next, log_.last_index(), opts_.msg_bytes_max, &entries);
  // A batch of one although more fit: more messages, more partial appends.
  if (entries.size() > 1 && buggify_.Fire("raft.append.batch_of_one")) entries.resize(1);
  if (entries.empty() && !send_if_empty && pr.commit_sent >= commit_) return false;
  pb::Message m;
  m.set_type(pb::MSG_APP);
  m.set_to(to.value);
  m.set_index(prev);
  m.set_log_term(*prev_term);
  m.set_commit(commit_);
  m.set_from(opts_.id.value);
  m.set_from_address(opts_.address);
  m.set_term(term_);
  // Entries are encoded straight from the log, not copied into the message: a repeated
  // field's encoding is the concatenation of its elements' (tag, length, bytes).
  std::string payload = m.SerializeAsString();
  if (opts_.channel == Channel::kDatagram) {
    // Only as many entries as fit in one datagram (at least one: a single entry too big
    // for a datagram goes over the stream, see SendPayload).
    size_t total = payload.size(), fit = 0;
    for (const pb::Entry* e : entries) {
      const size_t size = e->ByteSizeLong();
      total += 1 + google::protobuf::io::CodedOutputStream::VarintSize32(static_cast<uint32_t>(size)) + size;
      if (fit > 0 && total > kDatagramPayloadBytesMax) break;
      ++fit;
    }
    entries.resize(fit);
  }
  uint64_t bytes = 0;
  for (const pb::Entry* e : entries) {
    const size_t size = e->ByteSizeLong();
    uint8_t header[1 + 5];
    header[0] = (pb::Message::kEntriesFieldNumber << 3) | 2;
    uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), header + 1);
    payload.append(reinterpret_cast<const char*>(header), end - header);
    const size_t at = payload.size();
    payload.resize(at + size);
    e->SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(&payload[at]));
    bytes += e->data().size();
  }
  pr.commit_sent = std::max(pr.commit_sent, commit_);
  if (pr.state == Progress::State::kReplicate) {
    if (!entries.empty()) {
      pr.next = entries.back()->index() + 1;
      pr.inflights.Add(entries.back()->index(), bytes);
    }
  } else {
    pr.probe_sent = true;
  }
  SendPayload(std::move(payload), FindServer(to)->address(), false);
  return !entries.empty();
}

void Raft::SendSnapshotChunk(Time now, NodeId to, Progress& pr, bool resend) {
  if (pr.snap_index != log_.snapshot_index()) {  // compacted again meanwhile: start over
    pr.snap_index = log_.snapshot_index();
    pr.snap_offset = 0;
    resend = false;
  }
  if (!resend) pr.snap_seq = ++snap_seq_;
  pr.snap_sent = now;
  const std::string& data = log_.snapshot_data();
  const uint64_t offset = std::min<uint64_t>(pr.snap_offset, data.size());
  pb::Message m;
  m.set_type(pb::MSG_SNAP);
  m.set_to(to.value);
  m.set_from(opts_.id.value);
  m.set_from_address(opts_.address);
  m.set_term(term_);
  *m.mutable_snapshot() = log_.snapshot_meta();
  m.set_chunk_offset(offset);
  m.set_context(pr.snap_seq);
  uint64_t chunk_bytes_max = opts_.snapshot_chunk_bytes;
  if (opts_.channel == Channel::kDatagram) {
    // What is left of a datagram after the rest of the message: `chunk` costs a 2-byte tag
    // and a length of at most 3 bytes, `chunk_last` 3 bytes. If the snapshot's metadata
    // alone leaves no room, the chunk goes over the stream (SendPayload).
    const uint64_t rest = m.ByteSizeLong() + 2 + 3 + 3;
    if (rest < kDatagramPayloadBytesMax) chunk_bytes_max = std::min(chunk_bytes_max, kDatagramPayloadBytesMax - rest);
  }
  uint64_t len = std::min<uint64_t>(chunk_bytes_max, data.size() - offset);
  // A 1-byte chunk: the longest stream, the most resumptions by offset.
  if (len > 1 && buggify_.Fire("raft.snapshot.one_byte_chunk")) len = 1;
  m.set_chunk(data.substr(offset, len));
  m.set_chunk_last(offset + len == data.size());
  Send(std::move(m), FindServer(to)->address(), false);
}

void Raft::BroadcastAppend(Time now, bool send_if_empty) {
  // New entries wait for the next heartbeat's answers (HandleHeartbeatResponse sends what a
  // peer lacks): a heartbeat-only round, replication at its slowest.
  if (!send_if_empty && buggify_.Fire("raft.append.wait_for_heartbeat")) return;
  for (auto& [id, pr] : progress_) {
    bool first = true;
    while (SendAppend(now, id, pr, send_if_empty && first)) first = false;
  }
}

void Raft::BroadcastHeartbeat(Time now) {
  round_ += 1;
  round_sent_[round_] = now;
  for (auto& [id, pr] : progress_) {
    pb::Message m;
    m.set_type(pb::MSG_HEARTBEAT);
    m.set_to(id.value);
    m.set_commit(std::min(pr.match, commit_));
    m.set_index(commit_);  // the leader's own: a follower holding it counts this as contact
    m.set_context(round_);
    Send(std::move(m), FindServer(id)->address(), false);
  }
  PruneRounds();
}

// The highest heartbeat round acknowledged by a quorum of voters (this node acks all).
static uint64_t QuorumRound(const absl::btree_map<NodeId, Progress>& progress, bool self_voter,
                            uint64_t round, size_t quorum) {
  std::vector<uint64_t> acked;
  if (self_voter) acked.push_back(round);
  for (const auto& [id, pr] : progress) {
    if (pr.voter) acked.push_back(pr.acked_round);
  }
  if (acked.size() < quorum) return 0;
  std::sort(acked.begin(), acked.end(), std::greater<uint64_t>());
  return acked[quorum - 1];
}

void Raft::ReleaseReads() {
  const uint64_t confirmed = QuorumRound(progress_, IsVoter(opts_.id), round_, Quorum());
  while (!reads_.empty() && reads_.front().round <= confirmed) {
    out_->reads.push_back({reads_.front().context, reads_.front().index});
    reads_.pop_front();
  }
}

// Only the quorum-confirmed round and later ones are read (LeaseStart, ReleaseReads).
// Pruning below the lowest round acknowledged by *every* voter let one voter that was down
// pin the record forever (issue 10 item 1: 144,000 rounds after an hour of heartbeats and
// reads with one voter of three down).
void Raft::PruneRounds() {
  const uint64_t confirmed = QuorumRound(progress_, IsVoter(opts_.id), round_, Quorum());
  // Keep the newest round at or below the confirmed one: the lease starts at its time.
  auto floor = round_sent_.upper_bound(confirmed);
  if (floor != round_sent_.begin()) round_sent_.erase(round_sent_.begin(), std::prev(floor));
  // No quorum answers: forget the oldest unconfirmed rounds (see kHeartbeatRoundsKeptMax).
  while (round_sent_.size() > kHeartbeatRoundsKeptMax) round_sent_.erase(std::next(round_sent_.begin()));
  MUSTER_CHECK_LE(round_sent_.size(), kHeartbeatRoundsKeptMax, "heartbeat rounds kept");
}

// The send time of the quorum-confirmed round, or of the newest kept round before it when
// its own was forgotten (an earlier time: a shorter lease, so still safe).
Time Raft::LeaseStart() const {
  const uint64_t confirmed = QuorumRound(progress_, IsVoter(opts_.id), round_, Quorum());
  auto it = round_sent_.upper_bound(confirmed);
  if (confirmed == 0 || it == round_sent_.begin()) return absl::InfinitePast();
  return std::prev(it)->second;
}

bool Raft::MaybeCommit(Time now) {
  std::vector<uint64_t> matches;
  if (IsVoter(opts_.id)) matches.push_back(opts_.unsafe_ack_before_durable ? log_.last_index() : durable_index_);
  for (const auto& [id, pr] : progress_) {
    // Only voters' matches count toward commit (a non-voter is not in any majority).
    if (pr.voter || opts_.unsafe_count_nonvoter_acks) matches.push_back(pr.match);
  }
  const size_t quorum = Quorum();
  if (matches.size() < quorum) return false;
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  const uint64_t candidate = matches[quorum - 1];
  if (candidate <= commit_) return false;
  // Figure 8: only an entry of the current term is committed by counting replicas; older
  // entries commit with it.
  if (log_.Term(candidate) != term_ && !opts_.unsafe_commit_previous_term) return false;
  commit_ = candidate;
  return true;
}

void Raft::AppendAsLeader(Time now, pb::EntryType type, std::string data) {
  pb::Entry e;
  e.set_term(term_);
  e.set_index(log_.last_index() + 1);
  e.set_type(type);
  e.set_data(std::move(data));
  const uint64_t index = e.index();
  if (type == pb::ENTRY_CONFIG) {
    pb::Configuration c;
    MUSTER_CHECK(c.ParseFromString(e.data()));
    config_entries_[index] = std::move(c);
  }
  log_.Append(std::move(e), Write(true));
  log_dirty_ = true;
  if (type == pb::ENTRY_CONFIG) RecomputeConfiguration(now);
}

void Raft::CheckQuorum(Time now) {
  size_t active = IsVoter(opts_.id) ? 1 : 0;
  for (auto& [id, pr] : progress_) {
    if (pr.voter && pr.recent_active) active++;
    pr.recent_active = false;
  }
  if (active < Quorum()) {
    logger_.Warn(now, "failed to contact quorum of nodes, stepping down: active=", active, " quorum=", Quorum());
    BecomeFollower(now, term_, NodeId{});
  }
}

bool Raft::CommittedOwnTerm() const { return log_.Term(commit_) == term_; }

// ---------------------------------------------------------------------------------------
// Configuration.

void Raft::RecomputeConfiguration(Time now) {
  if (!config_entries_.empty()) {
    config_index_ = config_entries_.rbegin()->first;
    config_ = config_entries_.rbegin()->second;
  } else {
    config_index_ = log_.snapshot_index();
    config_ = log_.snapshot_meta().configuration();
  }
  if (role_ == Role::kLeader) {
    for (auto it = progress_.begin(); it != progress_.end();) {
      it = FindServer(it->first) == nullptr ? progress_.erase(it) : std::next(it);
    }
    for (const pb::Server& s : config_.servers()) {
      if (s.id() == opts_.id.value) continue;
      auto [it, inserted] = progress_.try_emplace(NodeId{s.id()}, log_.last_index(), opts_.inflight_msgs_max,
                                                  opts_.inflight_bytes_max);
      if (inserted) {
        it->second.recent_active = true;
        it->second.last_progress = now;
        it->second.last_contact = now;
        it->second.acked_round = round_;
      }
      it->second.voter = s.voter();
    }
  }
  logger_.Debug(now, "configuration at index ", config_index_, ": ", config_.ShortDebugString());
}

const pb::Server* Raft::FindServer(NodeId id) const {
  for (const pb::Server& s : config_.servers()) {
    if (s.id() == id.value) return &s;
  }
  return nullptr;
}

bool Raft::IsVoter(NodeId id) const {
  const pb::Server* s = FindServer(id);
  return s != nullptr && s->voter();
}

size_t Raft::VoterCount() const {
  size_t n = 0;
  for (const pb::Server& s : config_.servers()) n += s.voter() ? 1 : 0;
  return n;
}

// ---------------------------------------------------------------------------------------
// Output plumbing.

StorageWrite* Raft::Write(bool sync) {
  if (!open_write_.has_value()) {
    open_write_.emplace();
    open_write_->id = next_write_id_++;
  }
  open_write_->sync = open_write_->sync || sync;
  return &*open_write_;
}

uint64_t Raft::Barrier() {
  if (open_write_.has_value() || hard_dirty_) return Write(true)->id;
  return last_sync_issued_ > last_durable_ ? last_sync_issued_ : 0;
}

void Raft::Send(pb::Message m, const Address& to, bool needs_durable) {
  m.set_from(opts_.id.value);
  m.set_from_address(opts_.address);
  if (m.term() == 0) m.set_term(term_);
  SendPayload(m.SerializeAsString(), to, needs_durable);
}

// Over the datagram channel every message must fit in kDatagramPayloadBytesMax (io/ cannot
// send more, and the simulator fails any machine that tries). Appends and snapshot chunks
// are cut to fit; what still cannot fit (one entry or a snapshot's metadata larger than a
// datagram) goes over the stream instead, as memberlist sends its large push-pull over TCP.
void Raft::SendPayload(std::string payload, const Address& to, bool needs_durable) {
  OutboundMessage out;
  out.to = to;
  out.channel = payload.size() <= kDatagramPayloadBytesMax ? opts_.channel : Channel::kStream;
  out.after_write_id = needs_durable ? Barrier() : 0;
  out.payload = std::move(payload);
  out_->effects.messages.push_back(std::move(out));
}

void Raft::TruncateTracking(uint64_t index) {
  durable_index_ = std::min(durable_index_, index);
  for (PendingAppend& p : pending_appends_) p.last_index = std::min(p.last_index, index);
}

void Raft::TruncateLogAfter(uint64_t index) {
  log_.TruncateAfter(index, Write(true));
  log_dirty_ = true;
  TruncateTracking(index);
  // A configuration takes effect when appended, so it is undone when truncated (thesis 4.1):
  // the caller recomputes the configuration.
  if (!opts_.unsafe_keep_config_on_truncate) {
    config_entries_.erase(config_entries_.upper_bound(index), config_entries_.end());
  }
}

void Raft::Flush(Time now) {
  if (!open_write_.has_value() && !hard_dirty_) return;
  StorageWrite* w = Write(hard_dirty_);
  pb::HardState hs;
  hs.set_term(term_);
  hs.set_vote(vote_.value);
  hs.set_commit(commit_);
  w->Put(std::string(kHardStateKey), hs.SerializeAsString());
  persisted_commit_ = commit_;
  if (log_dirty_) {
    MUSTER_CHECK(w->sync, "log writes are synced");
    pending_appends_.push_back({w->id, log_.last_index()});
    // Proposals, appends, snapshots and configuration changes stop at kLogWritesInFlightMax;
    // only a new leader's no-op (one per won election) and a bootstrap can pass it.
    MUSTER_CHECK_LE(pending_appends_.size(), kLogWritesInFlightMax + 64, "log writes in flight");
    if (opts_.unsafe_ack_before_durable) durable_index_ = log_.last_index();
  }
  if (w->sync) last_sync_issued_ = w->id;
  out_->effects.writes.push_back(std::move(*w));
  open_write_.reset();
  log_dirty_ = false;
  hard_dirty_ = false;
}

void Raft::Finish(Time now, Ready* out) {
  MUSTER_CHECK(out_ == out);
  if (role_ == Role::kLeader) {
    BroadcastAppend(now, false);
    // A single voter commits as soon as its own write is durable.
    if (MaybeCommit(now)) BroadcastAppend(now, false);
    if (config_index_ <= commit_ && !IsVoter(opts_.id)) {
      // Our removal is committed; the commit index already went out with the appends
      // MaybeCommit triggered, so the others learn it.
      logger_.Info(now, "removed from the configuration; stepping down");
      BecomeFollower(now, term_, NodeId{});
    }
  }
  Flush(now);
  if (pending_restore_) {
    out->restore = log_.snapshot_meta();
    pending_restore_ = false;
  }
  const uint64_t hi = std::min(commit_, durable_index_);
  for (uint64_t i = applied_ + 1; i <= hi; ++i) out->committed.push_back(&log_.At(i));
  applied_ = std::max(applied_, hi);
  if (std::optional<Time> wake = timers_.Next()) out->effects.WakeAt(*wake);
  out_ = nullptr;
}

// ---------------------------------------------------------------------------------------
// Observation.

absl::Status Raft::CheckInvariants() const {
  auto fail = [&](auto... what) { return absl::InternalError(absl::StrCat(ToString(opts_.id), ": ", what...)); };
  const uint64_t last = log_.last_index();
  if (log_.snapshot_index() > commit_) return fail("snapshot index ", log_.snapshot_index(), " > commit ", commit_);
  if (commit_ > last) return fail("commit ", commit_, " > last log index ", last);
  if (applied_ > commit_) return fail("applied ", applied_, " > commit ", commit_);
  if (log_.last_term() > term_) return fail("log's last term ", log_.last_term(), " > current term ", term_);
  if (vote_.valid() && term_ == 0) return fail("a vote in term 0");
  if (role_ == Role::kLeader && leader_ != opts_.id) return fail("leader that does not know itself as leader");
  if (role_ == Role::kCandidate && vote_ != opts_.id) return fail("candidate that did not vote for itself");
  if (round_sent_.size() > kHeartbeatRoundsKeptMax) return fail(round_sent_.size(), " heartbeat rounds kept");
  if (reads_.size() > kPendingReadsMax) return fail(reads_.size(), " reads pending");
  // The configuration in effect is the newest one in the log (thesis 4.1): every remembered
  // configuration is a configuration entry still in the log, and the newest of them rules.
  for (const auto& [index, config] : config_entries_) {
    if (index <= log_.snapshot_index() || index > last || log_.At(index).type() != pb::ENTRY_CONFIG) {
      return fail("configuration remembered at index ", index, ", which holds no configuration entry");
    }
  }
  if (!config_entries_.empty() && config_index_ != config_entries_.rbegin()->first) {
    return fail("configuration in effect from index ", config_index_, ", not the newest at ", config_entries_.rbegin()->first);
  }
  if (config_entries_.empty() && config_index_ > log_.snapshot_index()) {
    return fail("configuration in effect from index ", config_index_, ", past the snapshot's with none in the log");
  }
  if (role_ == Role::kLeader) {
    for (const auto& [peer, pr] : progress_) {
      if (pr.match > last) return fail("peer ", ToString(peer), " matched ", pr.match, " past our last ", last);
      if (pr.next == 0 || pr.next > last + 1) return fail("peer ", ToString(peer), " next ", pr.next, " (last ", last, ")");
    }
  }
  return absl::OkStatus();
}

RaftInvariantState Raft::InvariantState() const {
  return RaftInvariantState{term_, vote_, leader_, commit_, applied_, log_.snapshot_index()};
}

absl::Status Raft::CheckTransition(const RaftInvariantState& before, const RaftInvariantState& after) {
  auto fail = [](auto... what) { return absl::InternalError(absl::StrCat(what...)); };
  if (after.term < before.term) return fail("term went back from ", before.term, " to ", after.term);
  if (after.term == before.term) {
    if (before.vote.valid() && after.vote != before.vote) {
      return fail("vote changed within term ", after.term, " from ", ToString(before.vote), " to ", ToString(after.vote));
    }
    // (Stepping down within a term may forget the leader; it may never name another.)
    if (before.leader.valid() && after.leader.valid() && after.leader != before.leader) {
      return fail("leader changed within term ", after.term, " from ", ToString(before.leader), " to ",
                  ToString(after.leader));
    }
  }
  if (after.commit < before.commit) return fail("commit went back from ", before.commit, " to ", after.commit);
  if (after.applied < before.applied) return fail("applied went back from ", before.applied, " to ", after.applied);
  if (after.snapshot_index < before.snapshot_index) {
    return fail("snapshot index went back from ", before.snapshot_index, " to ", after.snapshot_index);
  }
  return absl::OkStatus();
}

Status Raft::GetStatus() const {
  Status s;
  s.id = opts_.id;
  s.role = role_;
  s.term = term_;
  s.vote = vote_;
  s.leader = leader_;
  s.commit = commit_;
  s.applied = applied_;
  s.first_index = log_.first_index();
  s.last_index = log_.last_index();
  s.heartbeat_rounds_kept = round_sent_.size();
  for (const pb::Server& srv : config_.servers()) {
    PeerStatus p;
    p.id = NodeId{srv.id()};
    p.address = srv.address();
    p.voter = srv.voter();
    if (p.id == opts_.id) {
      p.match = durable_index_;
      p.next = log_.last_index() + 1;
      p.state = "self";
    } else if (auto it = progress_.find(p.id); it != progress_.end()) {
      p.match = it->second.match;
      p.next = it->second.next;
      p.state = StateName(it->second.state);
      p.last_contact = it->second.last_contact;
    } else {
      p.state = "unknown";
    }
    s.peers.push_back(std::move(p));
  }
  return s;
}

}  // namespace muster::raft
