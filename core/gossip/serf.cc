#include "core/gossip/serf.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "core/gossip/limits.h"
#include "core/gossip/query_filter.h"
#include "core/base/portable_math.h"

namespace muster::gossip {

namespace pb = ::muster::proto::gossip;

std::string_view MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kAlive: return "alive";
    case MemberStatus::kLeaving: return "leaving";
    case MemberStatus::kLeft: return "left";
    case MemberStatus::kFailed: return "failed";
  }
  MUSTER_UNREACHABLE();
}

namespace {

EventMember ToEventMember(const Member& m) { return EventMember{m.name, m.addr, m.tags}; }

// A remote query's relay factor, bounded (it multiplies what we send for it).
int RelayFactorOf(const pb::Query& q) {
  return static_cast<int>(std::min<uint32_t>(q.relay_factor(), kQueryRelayFactorMax));
}

// RE2, linear time (query_filter.h); a malformed or oversized filter matches nothing.
bool TagsMatch(const TagMap& tags, const pb::Query& q) { return TagFiltersMatch(tags, q); }

SerfLimits LimitsOf(const SerfConfig& c) {
  return SerfLimits{c.user_event_bytes_max, c.query_bytes_max, c.query_response_bytes_max};
}

}  // namespace

Serf::Serf(SerfConfig config, Address self_addr, uint64_t seed, Logger log)
    : config_(std::move(config)),
      self_addr_(self_addr),
      log_(log),
      memberlist_(config_.memberlist, std::move(self_addr), seed, this, log.Child("memberlist")),
      coordinates_(config_.coordinate, seed ^ 0xc002d) {
  MUSTER_CHECK(config_.event_buffer > 0 && config_.query_buffer > 0);
  // Whatever the size limits let through must fit one datagram with its wrapping: the
  // Serf message's other fields (Lamport time, id, flags; a response's sender name) and the
  // User, Message and Packet framing, under kSerfFramingBytesMax in all.
  constexpr size_t kSerfFramingBytesMax = 48;
  const size_t datagram = config_.memberlist.datagram_bytes_max;
  MUSTER_CHECK_LE(config_.query_bytes_max + kSerfFramingBytesMax, datagram);
  MUSTER_CHECK_LE(config_.user_event_bytes_max + kSerfFramingBytesMax, datagram);
  MUSTER_CHECK_LE(config_.query_response_bytes_max + kNodeNameBytesMax + kSerfFramingBytesMax, datagram);
  event_buffer_.resize(config_.event_buffer);
  query_buffer_.resize(config_.query_buffer);
  for (const EventHandlerSpec& h : config_.handlers) {
    auto filters = ParseEventFilters(h.filter);
    MUSTER_CHECK(filters.ok(), "bad handler filter: ", filters.status().ToString());
    handler_filters_.push_back(*std::move(filters));
  }
}

// ---------------------------------------------------------------------------------------
// Lifecycle and requests

void Serf::Start(Time now, Effects* out) {
  auto entry = Enter(now, out);
  memberlist_.Start(now, out);
  ScheduleReap(now + config_.reap_interval);
  ScheduleReconnect(now + config_.reconnect_interval);
}

void Serf::RestoreClocks(uint64_t member_ltime, uint64_t event_ltime, uint64_t query_ltime) {
  clock_.Witness(member_ltime);
  event_clock_.Witness(event_ltime);
  query_clock_.Witness(query_ltime);
  event_min_time_ = std::max(event_min_time_, event_ltime + 1);
  query_min_time_ = std::max(query_min_time_, query_ltime + 1);
}

void Serf::Join(Time now, const std::vector<Address>& seeds, Effects* out) {
  auto entry = Enter(now, out);
  if (leaving_) return;
  // Announce with a fresh Lamport time, so an older leave intent of ours loses.
  pb::SerfMessage m;
  m.mutable_join()->set_ltime(clock_.Increment());
  m.mutable_join()->set_node(config_.memberlist.name);
  HandleJoinIntent(m.join());
  QueueSerf(absl::StrCat("intent:", config_.memberlist.name), m);
  memberlist_.Join(now, seeds, out);
}

void Serf::Leave(Time now, Effects* out) {
  auto entry = Enter(now, out);
  if (leaving_) return;
  leaving_ = true;
  pb::SerfMessage m;
  m.mutable_leave()->set_ltime(clock_.Increment());
  m.mutable_leave()->set_node(config_.memberlist.name);
  HandleLeaveIntent(m.leave());
  QueueSerf(absl::StrCat("intent:", config_.memberlist.name), m);
  memberlist_.Leave(now, out);
  // Keep gossiping for a while so the goodbye spreads, then go quiet.
  memberlist_.timers().Add(now + config_.leave_propagate_delay, [this] { memberlist_.Shutdown(); });
}

absl::Status Serf::ForceLeave(Time now, const std::string& node, bool prune, Effects* out) {
  auto entry = Enter(now, out);
  if (node == config_.memberlist.name) return absl::InvalidArgumentError("cannot force-leave this agent itself");
  if (node.empty() || node.size() > kNodeNameBytesMax) {
    return absl::InvalidArgumentError("force-leave: bad node name");
  }
  if (!members_.contains(node)) return absl::OkStatus();
  pb::SerfMessage m;
  m.mutable_leave()->set_ltime(clock_.Increment());
  m.mutable_leave()->set_node(node);
  HandleLeaveIntent(m.leave());
  QueueSerf(absl::StrCat("intent:", node), m);
  auto it = members_.find(node);
  if (prune && it != members_.end() &&
      (it->second.status == MemberStatus::kLeft || it->second.status == MemberStatus::kFailed)) {
    Member gone = it->second;
    members_.erase(it);
    memberlist_.Forget(node);
    ForgetCoordinate(node);
    PublishMember("member-reap", gone);
  }
  return absl::OkStatus();
}

void Serf::HandleMessage(Time now, const MessageInput& message, Effects* out) {
  auto entry = Enter(now, out);
  memberlist_.HandleMessage(now, message, out);
}

void Serf::Tick(Time now, Effects* out) {
  auto entry = Enter(now, out);
  memberlist_.Tick(now, out);
}

absl::Status Serf::SetTags(Time now, TagMap tags, Effects* out) {
  auto entry = Enter(now, out);
  TagMap old = std::move(config_.tags);
  config_.tags = std::move(tags);
  if (NodeMeta().size() > config_.memberlist.meta_bytes_max) {
    config_.tags = std::move(old);
    return absl::InvalidArgumentError(
        absl::StrCat("tags exceed ", config_.memberlist.meta_bytes_max, " bytes encoded"));
  }
  memberlist_.UpdateMeta(now, out);
  return absl::OkStatus();
}

absl::Status Serf::UserEvent(Time now, std::string name, std::string payload, bool coalesce, Effects* out) {
  auto entry = Enter(now, out);
  if (name.size() + payload.size() > config_.user_event_bytes_max) {
    return absl::InvalidArgumentError(absl::StrCat("user event exceeds the ", config_.user_event_bytes_max,
                                                   "-byte limit"));
  }
  if (leaving_) return absl::FailedPreconditionError("leaving");
  pb::SerfMessage m;
  pb::UserEvent* e = m.mutable_user_event();
  e->set_ltime(event_clock_.Time());
  event_clock_.Increment();
  e->set_name(std::move(name));
  e->set_payload(std::move(payload));
  e->set_coalesce(coalesce);
  HandleUserEvent(*e);
  QueueSerf("", m);
  return absl::OkStatus();
}

Duration Serf::DefaultQueryTimeout() const {
  // ceil(log10(N + 1)), serf's DefaultQueryTimeout scale, in integers.
  int scale = DecimalDigits(static_cast<uint64_t>(std::max(0, memberlist_.EstNumNodes())));
  return config_.memberlist.gossip_interval * config_.query_timeout_mult * std::max(1, scale);
}

absl::StatusOr<uint32_t> Serf::Query(Time now, std::string name, std::string payload, const QueryParams& params,
                                     QueryDone done, Effects* out) {
  auto entry = Enter(now, out);
  if (name.size() + payload.size() > config_.query_bytes_max) {
    return absl::InvalidArgumentError(absl::StrCat("query exceeds the ", config_.query_bytes_max, "-byte limit"));
  }
  if (leaving_) return absl::FailedPreconditionError("leaving");
  pb::SerfMessage m;
  pb::Query* q = m.mutable_query();
  q->set_origin(config_.memberlist.name);
  q->set_origin_addr(self_addr_);
  for (const std::string& n : params.filter_nodes) q->add_filter_nodes(n);
  for (const auto& [k, v] : params.filter_tags) {
    pb::Tag* t = q->add_filter_tags();
    t->set_key(k);
    t->set_value(v);
  }
  q->set_request_ack(params.request_ack);
  if (params.relay_factor < 0 || params.relay_factor > kQueryRelayFactorMax) {
    return absl::InvalidArgumentError(absl::StrCat("relay factor beyond 0..", kQueryRelayFactorMax));
  }
  q->set_relay_factor(static_cast<uint32_t>(params.relay_factor));
  Duration timeout = params.timeout > absl::ZeroDuration() ? params.timeout : DefaultQueryTimeout();
  q->set_timeout_ms(absl::ToInt64Milliseconds(timeout));
  q->set_name(std::move(name));
  q->set_payload(std::move(payload));
  // Filters and the encoded size are checked before anything is spent (a Lamport time, a
  // random id), with the Lamport time the query will carry and the longest id: a query over
  // the bounds would abort no one now, but it would never fit a datagram (issue 10 item 2).
  q->set_ltime(query_clock_.Time());
  q->set_id(UINT32_MAX);
  if (absl::Status s = CheckQuery(*q, LimitsOf(config_)); !s.ok()) return s;
  if (absl::StatusOr<TagFilters> filters = TagFilters::Compile(*q); !filters.ok()) return filters.status();
  query_clock_.Increment();
  q->set_id(static_cast<uint32_t>(memberlist_.rng().Next()));
  auto key = std::make_pair(q->ltime(), q->id());
  PendingQuery pending;
  pending.result.ltime = q->ltime();
  pending.result.id = q->id();
  pending.done = std::move(done);
  pending_queries_.emplace(key, std::move(pending));
  memberlist_.timers().Add(now + timeout, [this, key] {
    auto it = pending_queries_.find(key);
    if (it == pending_queries_.end()) return;
    PendingQuery p = std::move(it->second);
    pending_queries_.erase(it);
    if (p.done) p.done(p.result);
  });
  HandleQuery(*q);
  // By gossip only, as Serf: the query broadcast queue sends it RetransmitLimit times from
  // here and from every member that receives it. A unicast to every member cost this node
  // N - 1 datagrams (N = 500: 511 copies, 18.9 KB from the origin; issue 10 item 14).
  QueueSerf("", m);
  return key.second;
}

void Serf::HandleProcessExit(Time now, const ProcessExitedInput& exit, Effects* out) {
  auto entry = Enter(now, out);
  auto it = running_handlers_.find(exit.process_id);
  if (it == running_handlers_.end()) return;
  RunningHandler h = std::move(it->second);
  running_handlers_.erase(it);
  if (exit.exit_code != 0 || exit.timed_out) return;  // a failed handler does not answer
  pb::SerfMessage m;
  pb::QueryResponse* r = m.mutable_query_response();
  r->set_ltime(h.query_ltime);
  r->set_id(h.query_id);
  r->set_from(config_.memberlist.name);
  r->set_payload(exit.output.substr(0, config_.query_response_bytes_max));
  SendQueryResponse(h.origin_addr, h.relay_factor, m);
}

const Member* Serf::member(const std::string& name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

int Serf::NumAliveMembers() const {
  int n = 0;
  for (const auto& [name, m] : members_) n += m.status == MemberStatus::kAlive;
  return n;
}

// ---------------------------------------------------------------------------------------
// Memberlist delegate

std::string Serf::NodeMeta() {
  pb::Tags tags;
  for (const auto& [k, v] : config_.tags) {
    pb::Tag* t = tags.add_tags();
    t->set_key(k);
    t->set_value(v);
  }
  return tags.SerializeAsString();
}

TagMap Serf::DecodeTags(const std::string& meta) {
  TagMap out;
  pb::Tags tags;
  if (!tags.ParseFromString(meta)) return out;
  for (const pb::Tag& t : tags.tags()) out[t.key()] = t.value();
  return out;
}

void Serf::NotifyMsg(std::string_view payload, const Address& from) {
  pb::SerfMessage m;
  if (!m.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    std::string note;
    if (unparsable_log_.Allow(now_, &note)) log_.Warn(now_, "dropping unparsable serf message from ", from, note);
    return;
  }
  // Bounded as a local request would be: what we accept we also pass on (limits.h).
  if (absl::Status s = CheckSerfMessage(m, LimitsOf(config_)); !s.ok()) {
    stats_.messages_rejected++;
    log_.Warn(now_, "dropping a serf message from ", from, ": ", s.message());
    return;
  }
  bool rebroadcast = false;
  std::string key;
  switch (m.body_case()) {
    case pb::SerfMessage::kJoin:
      rebroadcast = HandleJoinIntent(m.join());
      key = absl::StrCat("intent:", m.join().node());
      break;
    case pb::SerfMessage::kLeave:
      rebroadcast = HandleLeaveIntent(m.leave());
      key = absl::StrCat("intent:", m.leave().node());
      break;
    case pb::SerfMessage::kUserEvent: rebroadcast = HandleUserEvent(m.user_event()); break;
    case pb::SerfMessage::kQuery: rebroadcast = HandleQuery(m.query()); break;
    case pb::SerfMessage::kQueryResponse:
      if (m.query_response().relay_to().empty()) {
        HandleQueryResponse(m.query_response());
      } else {
        ForwardRelayed(m.query_response());
      }
      break;
    case pb::SerfMessage::BODY_NOT_SET: break;
  }
  if (rebroadcast) QueueSerf(key, m);
}

std::vector<std::string> Serf::GetBroadcasts(size_t overhead, size_t bytes_max) {
  const int n = memberlist_.EstNumNodes();
  const int mult = config_.memberlist.retransmit_mult;
  std::vector<std::string> out =
      query_leave_broadcasts_.Take(overhead, bytes_max, mult, n, config_.query_leave_transmits_min);
  size_t used = 0;
  for (const std::string& m : out) used += overhead + m.size();
  MUSTER_CHECK_LE(used, bytes_max);
  for (std::string& m : broadcasts_.Take(overhead, bytes_max - used, mult, n)) out.push_back(std::move(m));
  return out;
}

std::string Serf::LocalState(bool join) {
  pb::SerfState s;
  s.set_ltime(clock_.Time());
  for (const auto& [name, m] : members_) {
    pb::MemberLTime* ml = s.add_status_ltimes();
    ml->set_name(name);
    ml->set_ltime(m.status_ltime);
    if (m.status == MemberStatus::kLeft || m.status == MemberStatus::kLeaving) s.add_left_members(name);
  }
  s.set_event_ltime(event_clock_.Time());
  // Recent user events ride along (anti-entropy for events), oldest first.
  absl::btree_map<uint64_t, const SeenEvents*> recent;
  for (const SeenEvents& seen : event_buffer_) {
    if (!seen.events.empty()) recent[seen.ltime] = &seen;
  }
  for (const auto& [ltime, seen] : recent) {
    for (const auto& [name, payload] : seen->events) {
      pb::UserEvent* e = s.add_events();
      e->set_ltime(ltime);
      e->set_name(name);
      e->set_payload(payload);
    }
  }
  s.set_query_ltime(query_clock_.Time());
  return s.SerializeAsString();
}

void Serf::MergeRemoteState(std::string_view state, bool join) {
  pb::SerfState s;
  if (!s.ParseFromArray(state.data(), static_cast<int>(state.size()))) return;
  if (absl::Status st = CheckSerfState(s, LimitsOf(config_)); !st.ok()) {
    stats_.messages_rejected++;
    log_.Warn(now_, "dropping a push-pull's serf state: ", st.message());
    return;
  }
  if (s.ltime() > 0) clock_.Witness(s.ltime() - 1);
  absl::btree_set<std::string> left(s.left_members().begin(), s.left_members().end());
  for (const pb::MemberLTime& ml : s.status_ltimes()) {
    if (left.contains(ml.name())) {
      pb::LeaveIntent l;
      l.set_ltime(ml.ltime());
      l.set_node(ml.name());
      HandleLeaveIntent(l);
    } else {
      pb::JoinIntent j;
      j.set_ltime(ml.ltime());
      j.set_node(ml.name());
      HandleJoinIntent(j);
    }
  }
  // A joining node does not replay the cluster's old events (Serf's eventJoinIgnore).
  if (join && event_min_time_ == 0 && event_clock_.Time() <= 1) {
    event_min_time_ = s.event_ltime();
  }
  if (s.event_ltime() > 0) event_clock_.Witness(s.event_ltime() - 1);
  for (const pb::UserEvent& e : s.events()) HandleUserEvent(e);
  if (s.query_ltime() > 0) query_clock_.Witness(s.query_ltime() - 1);
}

void Serf::NotifyJoin(const NodeState& node) {
  Member& m = members_[node.name];
  const bool existed = !m.name.empty();
  m.name = node.name;
  m.addr = node.addr;
  m.tags = DecodeTags(node.meta);
  m.status = MemberStatus::kAlive;
  auto it = recent_intents_.find(node.name);
  if (it != recent_intents_.end()) {
    if (it->second.ltime > m.status_ltime) {
      m.status_ltime = it->second.ltime;
      if (it->second.leave) m.status = MemberStatus::kLeaving;
    }
    recent_intents_.erase(it);
  }
  (void)existed;
  PublishMember("member-join", m);
}

void Serf::NotifyLeave(const NodeState& node) {
  auto it = members_.find(node.name);
  if (it == members_.end()) return;
  Member& m = it->second;
  // Already left (its leave intent came first): the goodbye adds nothing.
  if (m.status == MemberStatus::kLeft) return;
  // A failed member learned left keeps its failure time, as Serf's forced leave does: the
  // tombstone counts from when it went away.
  if (m.status != MemberStatus::kFailed) m.leave_time = now_;
  if (node.state == MemberState::kLeft || m.status == MemberStatus::kLeaving) {
    m.status = MemberStatus::kLeft;
    PublishMember("member-leave", m);
  } else {
    m.status = MemberStatus::kFailed;
    stats_.failed_seen[m.name]++;
    PublishMember("member-failed", m);
  }
}

void Serf::NotifyUpdate(const NodeState& node) {
  auto it = members_.find(node.name);
  if (it == members_.end()) return;
  it->second.addr = node.addr;
  it->second.tags = DecodeTags(node.meta);
  PublishMember("member-update", it->second);
}

// ---------------------------------------------------------------------------------------
// Intents

void Serf::RememberIntent(const std::string& node, Intent intent) {
  auto it = recent_intents_.find(node);
  if (it != recent_intents_.end() && it->second.ltime >= intent.ltime) return;
  recent_intents_[node] = intent;
  // Bounded: forget the alphabetically first ones beyond the cap (rare: needs that many
  // intents about members we never heard of).
  while (static_cast<int>(recent_intents_.size()) > config_.recent_intents_max) {
    recent_intents_.erase(recent_intents_.begin());
  }
}

bool Serf::HandleJoinIntent(const pb::JoinIntent& j) {
  clock_.Witness(j.ltime());
  auto it = members_.find(j.node());
  if (it == members_.end()) {
    auto rit = recent_intents_.find(j.node());
    if (rit != recent_intents_.end() && rit->second.ltime >= j.ltime()) return false;
    RememberIntent(j.node(), Intent{j.ltime(), false});
    return true;
  }
  Member& m = it->second;
  // Lamport order of intents: only a newer intent changes a member's status.
  if (j.ltime() == m.status_ltime || (j.ltime() < m.status_ltime && !config_.unsafe_intents_ignore_ltime)) {
    return false;
  }
  m.status_ltime = j.ltime();
  if (m.status == MemberStatus::kLeaving) {
    m.status = MemberStatus::kAlive;
    members_version_++;
  }
  return true;
}

bool Serf::HandleLeaveIntent(const pb::LeaveIntent& l) {
  clock_.Witness(l.ltime());
  auto it = members_.find(l.node());
  if (it == members_.end()) {
    auto rit = recent_intents_.find(l.node());
    if (rit != recent_intents_.end() && rit->second.ltime >= l.ltime()) return false;
    RememberIntent(l.node(), Intent{l.ltime(), true});
    return true;
  }
  Member& m = it->second;
  // A goodbye of ours while we are not leaving is a previous life's. It is refuted below also
  // at the same Lamport time as our latest intent (Serf skips that tie): a restarted node's
  // join can draw its old goodbye's time, and peers holding the goodbye then kept it leaving
  // for good (swarm seeds 356 and 2960).
  const bool ours = l.node() == config_.memberlist.name && !leaving_;
  const bool tie_of_ours = ours && l.ltime() == m.status_ltime;
  // Lamport order of intents: only a newer intent changes a member's status.
  if (!tie_of_ours &&
      (l.ltime() == m.status_ltime || (l.ltime() < m.status_ltime && !config_.unsafe_intents_ignore_ltime))) {
    return false;
  }
  if (ours) {
    // Someone replayed an old leave of ours: refute with a newer join intent.
    pb::SerfMessage refute;
    refute.mutable_join()->set_ltime(clock_.Increment());
    refute.mutable_join()->set_node(l.node());
    m.status_ltime = refute.join().ltime();
    QueueSerf(absl::StrCat("intent:", l.node()), refute);
    return false;
  }
  m.status_ltime = l.ltime();
  switch (m.status) {
    case MemberStatus::kAlive: m.status = MemberStatus::kLeaving; break;
    case MemberStatus::kFailed:
      // It left after all: a failed member whose goodbye arrives late is left, not failed.
      m.status = MemberStatus::kLeft;
      PublishMember("member-leave", m);
      break;
    default: break;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// User events

bool Serf::HandleUserEvent(const pb::UserEvent& e) {
  event_clock_.Witness(e.ltime());
  if (e.ltime() < event_min_time_) return false;
  const uint64_t buffer = config_.event_buffer;
  const uint64_t cur = event_clock_.Time();
  if (cur > buffer && e.ltime() < cur - buffer) return false;  // too old to deduplicate
  SeenEvents& seen = event_buffer_[e.ltime() % buffer];
  if (seen.ltime == e.ltime()) {
    for (const auto& [name, payload] : seen.events) {
      if (name == e.name() && payload == e.payload()) {
        // De-duplication by Lamport time: an event seen at its time is delivered once. (The
        // unsafe switch delivers it again but still does not pass it on, so runs stay bounded.)
        if (config_.unsafe_user_events_no_dedup) DeliverUser(e);
        stats_.user_duplicates_dropped++;
        return false;
      }
    }
  } else {
    seen.ltime = e.ltime();
    seen.events.clear();
  }
  if (static_cast<int>(seen.events.size()) >= config_.events_per_ltime_max) {
    stats_.messages_rejected++;
    return false;
  }
  seen.events.emplace_back(e.name(), e.payload());
  if (e.coalesce() && config_.user_coalesce_period > absl::ZeroDuration()) {
    auto it = coalesced_.find(e.name());
    if (it == coalesced_.end() || it->second.ltime() < e.ltime()) coalesced_[e.name()] = e;
    if (!coalesce_timer_armed_) {
      coalesce_timer_armed_ = true;
      coalesce_start_ = now_;
      coalesce_last_ = now_;
      Duration first = config_.user_quiescent_period > absl::ZeroDuration()
                           ? std::min(config_.user_quiescent_period, config_.user_coalesce_period)
                           : config_.user_coalesce_period;
      memberlist_.timers().Add(now_ + first, [this] { FlushCoalesced(); });
    }
    coalesce_last_ = now_;
  } else {
    DeliverUser(e);
  }
  return true;
}

void Serf::FlushCoalesced() {
  Time quiet_at = config_.user_quiescent_period > absl::ZeroDuration()
                      ? coalesce_last_ + config_.user_quiescent_period
                      : coalesce_start_ + config_.user_coalesce_period;
  Time flush_at = std::min(quiet_at, coalesce_start_ + config_.user_coalesce_period);
  if (now_ < flush_at) {
    memberlist_.timers().Add(flush_at, [this] { FlushCoalesced(); });
    return;
  }
  coalesce_timer_armed_ = false;
  auto events = std::move(coalesced_);
  coalesced_.clear();
  for (const auto& [name, e] : events) DeliverUser(e);
}

void Serf::DeliverUser(const pb::UserEvent& e) {
  stats_.user_delivered[absl::StrCat(e.name(), "@", e.ltime())]++;
  SerfEvent ev;
  ev.type = "user";
  ev.name = e.name();
  ev.payload = e.payload();
  ev.ltime = e.ltime();
  Publish(std::move(ev));
}

// ---------------------------------------------------------------------------------------
// Queries

bool Serf::HandleQuery(const pb::Query& q) {
  query_clock_.Witness(q.ltime());
  if (q.ltime() < query_min_time_) return false;
  const uint64_t buffer = config_.query_buffer;
  const uint64_t cur = query_clock_.Time();
  if (cur > buffer && q.ltime() < cur - buffer) return false;
  auto& slot = query_buffer_[q.ltime() % buffer];
  if (!slot.empty() && slot.front().first != q.ltime()) slot.clear();
  for (const auto& seen : slot) {
    if (seen.second == q.id()) return false;
  }
  if (static_cast<int>(slot.size()) >= config_.queries_per_ltime_max) {
    stats_.messages_rejected++;
    return false;
  }
  slot.emplace_back(q.ltime(), q.id());
  // Filters decide whether we answer, not whether we pass it on.
  if (q.filter_nodes_size() > 0) {
    bool named = false;
    for (const std::string& n : q.filter_nodes()) named |= n == config_.memberlist.name;
    if (!named) return true;
  }
  if (!TagsMatch(config_.tags, q)) return true;
  if (q.request_ack()) {
    pb::SerfMessage ack;
    pb::QueryResponse* r = ack.mutable_query_response();
    r->set_ltime(q.ltime());
    r->set_id(q.id());
    r->set_from(config_.memberlist.name);
    r->set_ack(true);
    SendQueryResponse(q.origin_addr(), RelayFactorOf(q), ack);
  }
  SerfEvent ev;
  ev.type = "query";
  ev.name = q.name();
  ev.payload = q.payload();
  ev.ltime = q.ltime();
  ev.query_id = q.id();
  RunningHandler h{q.ltime(), q.id(), q.origin_addr(), RelayFactorOf(q)};
  Publish(std::move(ev), &h);
  return true;
}

void Serf::SendQueryResponse(const Address& to, int relay_factor, const pb::SerfMessage& m) {
  SendSerf(to, m);
  if (relay_factor <= 0 || to == self_addr_) return;
  // Relays: alive members other than us and the asker, a uniform sample (members_ is
  // ordered, the draw is our Rng's: deterministic).
  std::vector<const Member*> candidates;
  for (const auto& [name, member] : members_) {
    if (member.status != MemberStatus::kAlive || name == config_.memberlist.name || member.addr == to) continue;
    candidates.push_back(&member);
  }
  const size_t take = std::min<size_t>(relay_factor, candidates.size());
  Rng& rng = memberlist_.rng();
  for (size_t i = 0; i < take; ++i) {
    std::swap(candidates[i], candidates[i + rng.Uniform(candidates.size() - i)]);
    pb::SerfMessage relayed = m;
    relayed.mutable_query_response()->set_relay_to(to);
    memberlist_.SendUser(now_, candidates[i]->addr, relayed.SerializeAsString(), out_);
  }
}

void Serf::ForwardRelayed(const pb::QueryResponse& r) {
  // Only to a member we know alive: a relay that forwarded anywhere would let one spoofed
  // datagram aim our traffic at any address.
  const Address& to = r.relay_to();
  const bool known = std::any_of(members_.begin(), members_.end(), [&](const auto& kv) {
    return kv.second.status == MemberStatus::kAlive && kv.second.addr == to;
  });
  if (!known) {
    log_.Debug(now_, "dropping a relayed query response for ", to.substr(0, 64), ", not a member");
    return;
  }
  pb::SerfMessage forward;
  *forward.mutable_query_response() = r;
  forward.mutable_query_response()->clear_relay_to();
  SendSerf(to, forward);
}

void Serf::HandleQueryResponse(const pb::QueryResponse& r) {
  auto it = pending_queries_.find(std::make_pair(r.ltime(), r.id()));
  if (it == pending_queries_.end()) return;
  if (r.ack()) {
    it->second.result.acks.insert(r.from());
  } else {
    it->second.result.responses.emplace(r.from(), r.payload());  // first answer wins
  }
}

// ---------------------------------------------------------------------------------------
// Events out

void Serf::PublishMember(const std::string& type, const Member& m) {
  members_version_++;
  SerfEvent ev;
  ev.type = type;
  ev.members.push_back(ToEventMember(m));
  Publish(std::move(ev));
}

void Serf::Publish(SerfEvent event, const RunningHandler* query) {
  stats_.events[event.type]++;
  log_.Debug(now_, "event ", event.type, " ", event.name);
  out_->events.push_back(ToSeamEvent(event));
  for (size_t i = 0; i < config_.handlers.size(); ++i) {
    if (!FilterMatches(handler_filters_[i], event)) continue;
    ProcessStart p;
    p.id = next_process_id_++;
    p.command = config_.handlers[i].command;
    p.env = EventEnv(event, config_.memberlist.name, config_.tags);
    p.stdin_data = EventStdin(event);
    if (query != nullptr) running_handlers_.emplace(p.id, *query);
    out_->processes.push_back(std::move(p));
  }
}

void Serf::QueueSerf(std::string key, const pb::SerfMessage& m) {
  pb::Message wrapped;
  wrapped.mutable_user()->set_payload(m.SerializeAsString());
  // Queries and leaves have their own queue, with a floor on their transmissions
  // (query_leave_transmits_min); an intent replaces older news about its node in either.
  const bool rare = m.has_query() || m.has_leave();
  if (!key.empty()) (rare ? broadcasts_ : query_leave_broadcasts_).Forget(key);
  (rare ? query_leave_broadcasts_ : broadcasts_).Queue(std::move(key), wrapped.SerializeAsString());
}

void Serf::SendSerf(const Address& to, const pb::SerfMessage& m) {
  if (to == self_addr_) {
    // Our own answer to our own query: no network round trip.
    if (m.body_case() == pb::SerfMessage::kQueryResponse) HandleQueryResponse(m.query_response());
    return;
  }
  memberlist_.SendUser(now_, to, m.SerializeAsString(), out_);
}

// ---------------------------------------------------------------------------------------
// Reap and reconnect

void Serf::ScheduleReap(Time at) {
  memberlist_.timers().Add(at, [this] {
    ScheduleReap(now_ + config_.reap_interval);
    Reap();
  });
}

void Serf::Reap() {
  std::vector<std::string> gone;
  for (const auto& [name, m] : members_) {
    if (m.status == MemberStatus::kFailed && now_ - m.leave_time > config_.reconnect_timeout) gone.push_back(name);
    if (m.status == MemberStatus::kLeft && now_ - m.leave_time > config_.tombstone_timeout) gone.push_back(name);
  }
  for (const std::string& name : gone) {
    Member m = members_.at(name);
    members_.erase(name);
    memberlist_.Forget(name);
    ForgetCoordinate(name);
    PublishMember("member-reap", m);
  }
}

void Serf::ScheduleReconnect(Time at) {
  memberlist_.timers().Add(at, [this] {
    ScheduleReconnect(now_ + config_.reconnect_interval);
    Reconnect();
  });
}

void Serf::Reconnect() {
  std::vector<const Member*> failed;
  for (const auto& [name, m] : members_) {
    if (m.status == MemberStatus::kFailed) failed.push_back(&m);
  }
  if (failed.empty() || leaving_) return;
  // As Serf: the more of the cluster is failed, the likelier we try (prob = failed / alive).
  double prob = static_cast<double>(failed.size()) / std::max(1, NumAliveMembers());
  Rng& rng = memberlist_.rng();
  if (rng.UniformDouble() > prob) return;
  const Member* m = failed[rng.Uniform(failed.size())];
  log_.Info(now_, "attempting reconnect to ", m->name, " ", m->addr);
  memberlist_.Join(now_, {m->addr}, out_);
}

// ---------------------------------------------------------------------------------------
// Network coordinates (Serf's pingDelegate)

std::string Serf::AckPayload() {
  if (config_.disable_coordinates) return {};
  const Coordinate& c = coordinates_.coordinate();
  pb::Coordinate p;
  for (double x : c.vec) p.add_vec(x);
  p.set_error(c.error);
  p.set_adjustment(c.adjustment);
  p.set_height(c.height);
  return p.SerializeAsString();
}

void Serf::NotifyPingComplete(const NodeState& node, Duration rtt, std::string_view payload) {
  // A node of before coordinates (or with them off) acks without one: nothing to learn.
  if (config_.disable_coordinates || payload.empty()) return;
  pb::Coordinate p;
  if (!p.ParseFromArray(payload.data(), static_cast<int>(payload.size())) ||
      p.vec_size() > config_.coordinate.dimensionality) {
    stats_.coordinates_rejected++;
    return;
  }
  Coordinate c;
  c.vec.assign(p.vec().begin(), p.vec().end());
  c.error = p.error();
  c.adjustment = p.adjustment();
  c.height = p.height();
  if (absl::Status s = coordinates_.Update(node.name, c, rtt); !s.ok()) {
    stats_.coordinates_rejected++;
    std::string note;
    if (unparsable_log_.Allow(now_, &note)) log_.Warn(now_, "rejected coordinate from ", node.name, ": ", s.message(), note);
    return;
  }
  // Only members are cached, so the cache is bounded by the member table.
  if (members_.contains(node.name)) coordinate_cache_[node.name] = std::move(c);
}

const Coordinate* Serf::cached_coordinate(const std::string& name) const {
  if (config_.disable_coordinates) return nullptr;
  if (name == config_.memberlist.name) return &coordinates_.coordinate();
  auto it = coordinate_cache_.find(name);
  return it == coordinate_cache_.end() ? nullptr : &it->second;
}

void Serf::ForgetCoordinate(const std::string& name) {
  coordinate_cache_.erase(name);
  coordinates_.ForgetNode(name);
}

}  // namespace muster::gossip
