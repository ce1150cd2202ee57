#include "core/gossip/memberlist.h"

#include <algorithm>
#include "absl/strings/str_cat.h"

#include "core/base/check.h"
#include "core/base/portable_math.h"
#include "core/gossip/limits.h"

namespace muster::gossip {

namespace pb = ::muster::proto::gossip;

std::string_view MemberStateName(MemberState s) {
  switch (s) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  MUSTER_UNREACHABLE();
}

namespace {

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

pb::MemberState ToProto(MemberState s) {
  switch (s) {
    case MemberState::kAlive: return pb::STATE_ALIVE;
    case MemberState::kSuspect: return pb::STATE_SUSPECT;
    case MemberState::kDead: return pb::STATE_DEAD;
    case MemberState::kLeft: return pb::STATE_LEFT;
  }
  MUSTER_UNREACHABLE();
}

bool DeadOrLeft(const NodeState& n) { return n.state == MemberState::kDead || n.state == MemberState::kLeft; }

// Per message inside a Packet: a one-byte tag and a length varint (<= 2 bytes under 16 KiB).
constexpr size_t kPackOverhead = 3;

}  // namespace

size_t PackedSize(size_t size) { return 1 + VarintSize(size) + size; }

std::string PackMessages(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) {
    out.push_back(static_cast<char>(0x0a));  // field 1, length-delimited
    AppendVarint(out, m.size());
    out.append(m);
  }
  return out;
}

Memberlist::Memberlist(MemberlistConfig config, Address self_addr, uint64_t seed,
                       MemberlistDelegate* delegate, Logger log)
    : config_(std::move(config)),
      self_addr_(std::move(self_addr)),
      delegate_(delegate),
      log_(std::move(log)),
      rng_(seed),
      awareness_(config_.lifeguard ? config_.awareness_max_multiplier : 1) {
  MUSTER_CHECK(!config_.name.empty(), "memberlist needs a node name");
  MUSTER_CHECK(config_.probe_timeout <= config_.probe_interval, "probe timeout beyond the interval");
  MUSTER_CHECK(delegate_ != nullptr);
  // Our own name and address go into every message we send, under the same bounds as
  // everyone else's (limits.h).
  MUSTER_CHECK_LE(config_.name.size(), kNodeNameBytesMax, "node name too long");
  MUSTER_CHECK_LE(self_addr_.size(), kAddressBytesMax, "address too long");
  MUSTER_CHECK_LE(config_.datagram_bytes_max, kDatagramPayloadBytesMax);
}

Memberlist::Entry::Entry(Memberlist* ml, Time now, Effects* out) : ml_(ml) {
  ml_->entry_depth_++;
  ml_->now_ = now;
  ml_->out_ = out;
}

Memberlist::Entry::~Entry() {
  if (--ml_->entry_depth_ > 0) return;
  if (std::optional<Time> next = ml_->timers_.Next()) ml_->out_->WakeAt(*next);
}

// ---------------------------------------------------------------------------------------
// Lifecycle

void Memberlist::Start(Time now, Effects* out) {
  Entry entry(this, now, out);
  pb::Alive a;
  a.set_incarnation(++incarnation_);
  a.set_node(config_.name);
  a.set_addr(self_addr_);
  a.set_meta(delegate_->NodeMeta());
  MUSTER_CHECK_LE(a.meta().size(), config_.meta_bytes_max, "node meta too large");
  AliveNode(a, /*bootstrap=*/true);
  // Stagger the periodic work so nodes started together do not tick in lockstep.
  ScheduleProbe(now + rng_.UniformDuration(absl::ZeroDuration(), config_.probe_interval));
  ScheduleGossip(now + rng_.UniformDuration(absl::ZeroDuration(), config_.gossip_interval));
  SchedulePushPull(now + rng_.UniformDuration(absl::ZeroDuration(), config_.push_pull_interval));
}

void Memberlist::Join(Time now, const std::vector<Address>& seeds, Effects* out) {
  Entry entry(this, now, out);
  if (shutdown_) return;
  for (const Address& seed : seeds) {
    if (seed == self_addr_) continue;
    if (seed.size() > kAddressBytesMax) {
      log_.Warn(now_, "not joining through an address of ", seed.size(), " bytes (at most ", kAddressBytesMax, ")");
      continue;
    }
    SendPushPull(seed, /*join=*/true, /*reply=*/false);
  }
}

void Memberlist::Leave(Time now, Effects* out) {
  Entry entry(this, now, out);
  if (leaving_ || shutdown_) return;
  leaving_ = true;
  auto it = nodes_.find(config_.name);
  MUSTER_CHECK(it != nodes_.end());
  pb::Dead d;
  d.set_incarnation(it->second.incarnation);
  d.set_node(config_.name);
  d.set_from(config_.name);
  // By gossip only, as memberlist: the goodbye goes out RetransmitLimit times from here and
  // from every member that hears it (a unicast to every member cost N - 1 datagrams from
  // this node; issue 10 item 14). A member this epidemic misses has Serf's leave intent
  // (spread with a floor on its transmissions) and so takes our death for a leave.
  DeadNode(d);
}

void Memberlist::Shutdown() {
  shutdown_ = true;
  timers_.Clear();
  probe_.reset();
  relays_.clear();
  suspicions_.clear();
}

void Memberlist::Tick(Time now, Effects* out) {
  Entry entry(this, now, out);
  if (shutdown_) return;
  timers_.RunDue(now);
}

void Memberlist::UpdateMeta(Time now, Effects* out) {
  Entry entry(this, now, out);
  if (shutdown_ || leaving_) return;
  NodeState& self = nodes_.at(config_.name);
  pb::Alive a;
  a.set_incarnation(++incarnation_);
  a.set_node(config_.name);
  a.set_addr(self_addr_);
  a.set_meta(delegate_->NodeMeta());
  MUSTER_CHECK_LE(a.meta().size(), config_.meta_bytes_max, "node meta too large");
  self.incarnation = a.incarnation();
  std::string old_meta = self.meta;
  self.meta = a.meta();
  pb::Message m;
  *m.mutable_alive() = a;
  Broadcast(config_.name, m);
  if (old_meta != self.meta) delegate_->NotifyUpdate(self);
}

void Memberlist::SendUser(Time now, const Address& to, std::string payload, Effects* out) {
  Entry entry(this, now, out);
  if (shutdown_) return;
  pb::Message m;
  m.mutable_user()->set_payload(std::move(payload));
  SendDatagram(to, m);
}

void Memberlist::Forget(const std::string& name) {
  if (name == config_.name) return;
  CancelSuspicion(name);
  auto it = nodes_.find(name);
  if (it != nodes_.end()) EraseNode(it);
  broadcasts_.Forget(name);
}

void Memberlist::EraseNode(absl::btree_map<std::string, NodeState>::iterator it) {
  MUSTER_CHECK(it->first != config_.name, "never forget ourselves");
  auto a = addr_names_.find(it->second.addr);
  if (a != addr_names_.end() && a->second == it->first) addr_names_.erase(a);
  if (!DeadOrLeft(it->second)) --num_alive_;
  // Out of the probe order too, so a member that comes back is inserted once, not twice.
  auto pos = std::find(probe_order_.begin(), probe_order_.end(), it->first);
  if (pos != probe_order_.end()) {
    if (static_cast<size_t>(pos - probe_order_.begin()) < probe_index_) probe_index_--;
    probe_order_.erase(pos);
  }
  nodes_.erase(it);
}

void Memberlist::ScheduleDeadRemoval(const std::string& name) {
  timers_.Add(now_ + config_.gossip_to_the_dead_time, [this, name] {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || !DeadOrLeft(it->second) || it->first == config_.name) return;
    // It came back and went again since: the later death's own timer removes it.
    if (now_ - it->second.state_change < config_.gossip_to_the_dead_time) return;
    // Its dead message may still be queued; it finishes its transmissions (news about a
    // member we no longer list is harmless to the receivers, who drop or apply it).
    CancelSuspicion(name);
    EraseNode(it);
  });
}

const NodeState* Memberlist::Node(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<const NodeState*> Memberlist::Nodes() const {
  std::vector<const NodeState*> v;
  v.reserve(nodes_.size());
  for (const auto& [name, n] : nodes_) v.push_back(&n);
  return v;
}

absl::Status Memberlist::CheckInvariants() const {
  auto fail = [&](auto... what) { return absl::InternalError(absl::StrCat(config_.name, ": ", what...)); };
  if (probe_order_.size() != nodes_.size()) {
    return fail(probe_order_.size(), " in the probe order for ", nodes_.size(), " members");
  }
  if (probe_index_ > probe_order_.size()) return fail("probe cursor ", probe_index_, " past ", probe_order_.size());
  if (static_cast<int>(nodes_.size()) > config_.members_max) return fail(nodes_.size(), " members over members_max");
  if (!nodes_.empty() && !nodes_.contains(config_.name)) return fail("we are not among our members");
  if (suspicions_.size() > nodes_.size()) return fail(suspicions_.size(), " suspicions for ", nodes_.size(), " members");
  if (addr_names_.size() > nodes_.size()) return fail(addr_names_.size(), " addresses for ", nodes_.size(), " members");
  if (refuted_to_.size() > kRefutedToMax || unknown_synced_.size() > kUnknownSyncedMax) return fail("a rate-limit memory over its bound");
  if (num_alive_ < 0 || num_alive_ > static_cast<int>(nodes_.size())) return fail("alive count ", num_alive_);
  if (nodes_.size() <= 64 && num_alive_ != CountAlive()) {
    return fail("cached alive count ", num_alive_, " vs ", CountAlive(), " counted");
  }
  return absl::OkStatus();
}

int Memberlist::CountAlive() const {
  int n = 0;
  for (const auto& [name, s] : nodes_) n += !DeadOrLeft(s);
  return n;
}

void Memberlist::SetState(NodeState& node, MemberState state) {
  const bool was_alive = !DeadOrLeft(node);
  node.state = state;
  const int delta = static_cast<int>(!DeadOrLeft(node)) - static_cast<int>(was_alive);
  num_alive_ += delta;
  if (delta != 0) last_view_change_ = now_;
  MUSTER_CHECK_LE(0, num_alive_);
}

// ---------------------------------------------------------------------------------------
// Probing

void Memberlist::ScheduleProbe(Time at) {
  timers_.Add(at, [this] { OnProbeTick(); });
}

void Memberlist::OnProbeTick() {
  ScheduleProbe(now_ + config_.probe_interval);
  if (probe_.has_value()) {
    probe_due_ = true;  // start as soon as the running probe ends (as a Go ticker would)
    return;
  }
  StartProbe();
}

void Memberlist::StartProbe() {
  probe_due_ = false;
  // Round robin over a shuffled order; reshuffle at the end of each round.
  const NodeState* target = nullptr;
  for (size_t checked = 0; checked <= probe_order_.size() && target == nullptr; ++checked) {
    if (probe_index_ >= probe_order_.size()) {
      // Drop forgotten members, then shuffle (Fisher-Yates with our Rng).
      std::erase_if(probe_order_, [this](const std::string& n) { return !nodes_.contains(n); });
      for (size_t i = probe_order_.size(); i > 1; --i) {
        std::swap(probe_order_[i - 1], probe_order_[rng_.Uniform(i)]);
      }
      probe_index_ = 0;
      if (probe_order_.empty()) return;
    }
    auto it = nodes_.find(probe_order_[probe_index_++]);
    if (it == nodes_.end() || it->first == config_.name || DeadOrLeft(it->second)) continue;
    target = &it->second;
  }
  if (target == nullptr) return;

  Probe p;
  p.seq = next_seq_++;
  p.target = target->name;
  p.sent = now_;
  stats_.probes++;
  const pb::Message ping = PingMessage(p.seq, target->name);
  // Lifeguard's buddy system: tell a suspect member directly, so it can refute at once.
  pb::Message suspect;
  if (config_.lifeguard && target->state == MemberState::kSuspect) {
    suspect.mutable_suspect()->set_incarnation(target->incarnation);
    suspect.mutable_suspect()->set_node(target->name);
    suspect.mutable_suspect()->set_from(config_.name);
  }
  const Address to = target->addr;
  p.stage_timer = timers_.Add(now_ + config_.probe_timeout, [this] { OnProbeStage(); });
  // The whole probe (indirect and stream attempts included) is stretched by local health;
  // the first timeout is not, as waiting longer does not help a lost datagram through.
  p.end_timer = timers_.Add(now_ + awareness_.ScaleTimeout(config_.probe_interval), [this] { OnProbeEnd(); });
  probe_ = std::move(p);
  SendDatagram(to, ping, suspect.body_case() == pb::Message::BODY_NOT_SET ? nullptr : &suspect);
}

void Memberlist::OnProbeStage() {
  MUSTER_CHECK(probe_.has_value());
  probe_->indirect = true;
  auto it = nodes_.find(probe_->target);
  if (it == nodes_.end()) return;
  const NodeState& target = it->second;
  auto peers = RandomNodes(config_.indirect_checks, [&](const NodeState& n) {
    return n.name != config_.name && n.name != target.name && n.state == MemberState::kAlive;
  });
  for (const NodeState* peer : peers) {
    pb::Message m;
    pb::IndirectPing* req = m.mutable_indirect_ping();
    req->set_seq(probe_->seq);
    req->set_target(target.name);
    req->set_target_addr(target.addr);
    req->set_source(config_.name);
    req->set_nack(config_.lifeguard);
    if (config_.lifeguard) probe_->expected_nacks++;
    SendDatagram(peer->addr, m);
  }
  if (config_.stream_fallback_ping) {
    SendStream(target.addr, PingMessage(probe_->seq, target.name));
  }
}

void Memberlist::OnProbeEnd() {
  MUSTER_CHECK(probe_.has_value());
  stats_.probes_failed++;
  // Lifeguard: missing nacks from relays we expect to be healthy mean *we* are slow.
  int delta = probe_->expected_nacks > 0 ? probe_->expected_nacks - probe_->nacks : 1;
  awareness_.ApplyDelta(delta);
  std::string target = probe_->target;
  FinishProbe();
  auto it = nodes_.find(target);
  if (it != nodes_.end() && !DeadOrLeft(it->second)) {
    // A target already suspect gets our own failed probe as a confirmation.
    log_.Info(now_, "suspect ", target, " has failed, no acks received");
    if (it->second.state == MemberState::kAlive) stats_.suspected[target]++;
    pb::Suspect s;
    s.set_incarnation(it->second.incarnation);
    s.set_node(target);
    s.set_from(config_.name);
    SuspectNode(s);
  }
  if (probe_due_ && !shutdown_) StartProbe();
}

void Memberlist::FinishProbe() {
  timers_.Cancel(probe_->stage_timer);
  timers_.Cancel(probe_->end_timer);
  probe_.reset();
}

void Memberlist::OnAck(uint32_t seq, std::string_view payload, Channel channel) {
  if (probe_.has_value() && probe_->seq == seq) {
    // A direct answer within the probe timeout measures the round trip (memberlist calls
    // its ping delegate only there): the level above feeds it to its network coordinate.
    if (!probe_->indirect && channel == Channel::kDatagram) {
      if (auto it = nodes_.find(probe_->target); it != nodes_.end()) {
        delegate_->NotifyPingComplete(it->second, now_ - probe_->sent, payload);
      }
    }
    // Any ack, direct, relayed by an indirect probe or over the stream fallback, is a
    // successful probe and improves local health (memberlist's probeNode sets
    // awarenessDelta = -1 once the ping is out; only its failure path raises it).
    awareness_.ApplyDelta(-1);
    FinishProbe();
    if (probe_due_) StartProbe();
    return;
  }
  auto it = relays_.find(seq);
  if (it == relays_.end()) return;
  Relay relay = std::move(it->second);
  relays_.erase(it);
  timers_.Cancel(relay.timer);
  SendDatagram(relay.source, AckMessage(relay.source_seq, /*direct=*/false));
}

void Memberlist::OnNack(uint32_t seq) {
  if (probe_.has_value() && probe_->seq == seq) probe_->nacks++;
}

// ---------------------------------------------------------------------------------------
// Gossip and push-pull

void Memberlist::ScheduleGossip(Time at) {
  timers_.Add(at, [this] {
    ScheduleGossip(now_ + config_.gossip_interval);
    Gossip();
  });
}

void Memberlist::Gossip() {
  auto targets = RandomNodes(config_.gossip_nodes, [&](const NodeState& n) {
    if (n.name == config_.name) return false;
    switch (n.state) {
      case MemberState::kAlive:
      case MemberState::kSuspect: return true;
      case MemberState::kDead: return now_ - n.state_change <= config_.gossip_to_the_dead_time;
      case MemberState::kLeft: return false;
    }
    return false;
  });
  for (const NodeState* n : targets) {
    std::vector<std::string> msgs =
        broadcasts_.Take(kPackOverhead, config_.datagram_bytes_max, config_.retransmit_mult, EstNumNodes());
    size_t used = 0;
    for (const auto& m : msgs) used += PackedSize(m.size());
    if (used < config_.datagram_bytes_max) {
      for (std::string& m : delegate_->GetBroadcasts(kPackOverhead, config_.datagram_bytes_max - used)) {
        msgs.push_back(std::move(m));
      }
    }
    if (msgs.empty()) return;
    Emit(n->addr, Channel::kDatagram, PackMessages(msgs));
  }
}

void Memberlist::SchedulePushPull(Time at) {
  timers_.Add(at, [this] { PushPullTick(); });
}

void Memberlist::PushPullTick() {
  // memberlist's pushPullScale: beyond 32 members, back off logarithmically.
  Duration interval = config_.push_pull_interval;
  int n = EstNumNodes();
  if (n > 32) interval *= CeilLog2(static_cast<uint64_t>(n)) - 5 + 1;  // ceil(log2(n) - log2(32)) + 1
  // +-25% jitter: nodes started together would otherwise push-pull in step, in bursts.
  SchedulePushPull(now_ + interval * (0.75 + 0.5 * rng_.UniformDouble()));
  auto peers = RandomNodes(1, [&](const NodeState& s) {
    return s.name != config_.name && s.state == MemberState::kAlive;
  });
  if (peers.empty()) return;
  SendPushPull(peers[0]->addr, /*join=*/false, /*reply=*/false);
}

void Memberlist::SendPushPull(const Address& to, bool join, bool reply) {
  pb::Message m;
  pb::PushPull* pp = m.mutable_push_pull();
  pp->set_join(join);
  pp->set_reply(reply);
  pp->set_from(config_.name);
  for (const auto& [name, n] : nodes_) {
    pb::PushNode* pn = pp->add_nodes();
    pn->set_name(n.name);
    pn->set_addr(n.addr);
    pn->set_meta(n.meta);
    pn->set_incarnation(n.incarnation);
    pn->set_state(ToProto(n.state));
  }
  pp->set_user_state(delegate_->LocalState(join));
  SendStream(to, m);
}

void Memberlist::HandlePushPull(const pb::PushPull& pp, const Address& from) {
  // Merge first, then reply: the reply then carries any refutation the merge caused, so a
  // healed partition learns both sides' new incarnations in one exchange.
  for (const pb::PushNode& pn : pp.nodes()) {
    switch (pn.state()) {
      case pb::STATE_ALIVE: {
        pb::Alive a;
        a.set_incarnation(pn.incarnation());
        a.set_node(pn.name());
        a.set_addr(pn.addr());
        a.set_meta(pn.meta());
        AliveNode(a, false);
        break;
      }
      case pb::STATE_LEFT: {
        pb::Dead d;
        d.set_incarnation(pn.incarnation());
        d.set_node(pn.name());
        d.set_from(pn.name());
        DeadNode(d);
        break;
      }
      default: {
        // A remote "dead" only makes us suspect: the member may still refute.
        pb::Suspect s;
        s.set_incarnation(pn.incarnation());
        s.set_node(pn.name());
        s.set_from(pp.from());
        SuspectNode(s);
        break;
      }
    }
  }
  delegate_->MergeRemoteState(pp.user_state(), pp.join());
  if (!pp.reply()) {
    SendPushPull(from, pp.join(), /*reply=*/true);
  } else if (pp.join()) {
    join_replies_++;
  }
}

// ---------------------------------------------------------------------------------------
// Messages

void Memberlist::HandleMessage(Time now, const MessageInput& message, Effects* out) {
  Entry entry(this, now, out);
  if (shutdown_) return;
  pb::Packet packet;
  if (!packet.ParseFromString(message.payload)) {
    std::string note;
    if (unparsable_log_.Allow(now_, &note)) log_.Warn(now_, "dropping unparsable packet from ", message.from, note);
    return;
  }
  for (const pb::Message& m : packet.messages()) HandleOne(m, message.from, message.channel);
  MaybeSyncWithStranger(message.from);
}

void Memberlist::AnswerStaleAccusation(uint64_t incarnation, const Address& from) {
  // An accusation older than our current incarnation: we refuted it already, but the
  // sender has not heard (the refutation's epidemic can miss a node, which would then let
  // its suspicion run out). Tell the sender directly.
  if (incarnation >= incarnation_) return;
  SendOwnAlive(from);
}

void Memberlist::TellAccuser(const std::string& accuser) {
  // The accuser holds the suspicion whose timer would declare us dead. The refutation's
  // epidemic reaches it with high probability, not certainty (each update goes out only
  // ~retransmit_mult * log N times, and in a small pool all of them can go elsewhere:
  // seen in simulation after a 2.4 s stall). One direct datagram closes that gap.
  auto it = nodes_.find(accuser);
  if (it == nodes_.end() || DeadOrLeft(it->second)) return;
  SendOwnAlive(it->second.addr);
}

void Memberlist::SendOwnAlive(const Address& to) {
  if (leaving_ || to == self_addr_) return;
  auto last = refuted_to_.find(to);
  if (last != refuted_to_.end() && now_ - last->second < config_.probe_interval) return;
  // The rate limit's memory: one entry per address that sent stale news about us. Forgetting
  // them all at the bound at worst lets one extra refutation go to each.
  if (refuted_to_.size() >= kRefutedToMax) refuted_to_.clear();
  refuted_to_[to] = now_;
  MUSTER_CHECK_LE(refuted_to_.size(), kRefutedToMax);
  const NodeState& self = nodes_.at(config_.name);
  pb::Message m;
  pb::Alive* a = m.mutable_alive();
  a->set_incarnation(self.incarnation);
  a->set_node(config_.name);
  a->set_addr(self_addr_);
  a->set_meta(self.meta);
  // Alone, without piggybacked gossip: piggybacking would spend one of the queued copy's
  // few transmissions on a member that gets it here anyway.
  Emit(to, Channel::kDatagram, PackMessages({m.SerializeAsString()}));
}

void Memberlist::MaybeSyncWithStranger(const Address& from) {
  // A packet from someone we do not know as alive: the epidemic that announces members
  // misses a node now and then (each update goes out only ~retransmit_mult * log N times).
  // Instead of waiting for the periodic push-pull, sync with the sender now. This also
  // speeds up rejoins after a restart and healing after a partition.
  if (leaving_ || shutdown_ || from == self_addr_) return;
  auto it = addr_names_.find(from);
  if (it != addr_names_.end()) {
    auto n = nodes_.find(it->second);
    // Alive, suspect or left (a goodbye is final until the member announces itself anew).
    if (n != nodes_.end() && n->second.state != MemberState::kDead && n->second.addr == from) return;
  }
  auto last = unknown_synced_.find(from);
  if (last != unknown_synced_.end() && now_ - last->second < 2 * config_.probe_interval) return;
  if (unknown_synced_.size() >= kUnknownSyncedMax) unknown_synced_.clear();
  unknown_synced_[from] = now_;
  SendPushPull(from, /*join=*/false, /*reply=*/false);
}

void Memberlist::MaybeSyncOnMemberCount(uint32_t peer_members, const Address& from) {
  // The epidemic misses a node now and then: at N = 500 about one (node, newcomer) pair per
  // run, which otherwise waits for a periodic push-pull (150 s apart at that size). A peer
  // that knows more members than we do, once our own view has settled, is worth one
  // push-pull (also when the peer is the one behind, on a death: it learns from our state).
  if (peer_members == 0 || leaving_ || shutdown_ || from == self_addr_) return;
  if (static_cast<int64_t>(peer_members) <= NumAlive()) return;
  // Only once our own view has settled: right after we learned of a join or a death the
  // counts differ for a second or two anyway, until the epidemic has reached everyone.
  if (now_ - last_view_change_ < 2 * config_.probe_interval) return;
  if (now_ - last_count_sync_ < config_.count_sync_interval) return;
  last_count_sync_ = now_;
  stats_.count_syncs++;
  SendPushPull(from, /*join=*/false, /*reply=*/false);
}

pb::Message Memberlist::PingMessage(uint32_t seq, const std::string& target) const {
  pb::Message m;
  m.mutable_ping()->set_seq(seq);
  m.mutable_ping()->set_target(target);
  m.mutable_ping()->set_source(config_.name);
  m.mutable_ping()->set_members(NumAlive());
  return m;
}

pb::Message Memberlist::AckMessage(uint32_t seq, bool direct) {
  pb::Message m;
  m.mutable_ack()->set_seq(seq);
  m.mutable_ack()->set_members(NumAlive());
  if (direct) {
    std::string payload = delegate_->AckPayload();
    if (payload.size() <= kAckPayloadBytesMax) {
      m.mutable_ack()->set_payload(std::move(payload));
    } else {
      // Our own delegate's mistake: the ack goes without it rather than be refused.
      log_.Warn(now_, "ack payload of ", payload.size(), " bytes over ", kAckPayloadBytesMax, ": not sent");
    }
  }
  return m;
}

void Memberlist::HandleOne(const pb::Message& m, const Address& from, Channel channel) {
  // Names, addresses and meta end up in our own datagrams (every ping, suspect and
  // indirect ping about a member): bounded here, or one crafted alive would make every
  // member build a datagram over the limit (issue 10 item 2).
  if (absl::Status s = CheckMessage(m, config_.meta_bytes_max); !s.ok()) {
    stats_.messages_rejected++;
    log_.Warn(now_, "dropping a message from ", from, ": ", s.message());
    return;
  }
  switch (m.body_case()) {
    case pb::Message::kPing:
      MaybeSyncOnMemberCount(m.ping().members(), from);
      HandlePing(m.ping(), from, channel);
      break;
    case pb::Message::kIndirectPing: HandleIndirectPing(m.indirect_ping(), from); break;
    case pb::Message::kAck:
      MaybeSyncOnMemberCount(m.ack().members(), from);
      OnAck(m.ack().seq(), m.ack().payload(), channel);
      break;
    case pb::Message::kNack: OnNack(m.nack().seq()); break;
    case pb::Message::kAlive: AliveNode(m.alive(), false); break;
    case pb::Message::kSuspect:
      if (m.suspect().node() == config_.name) AnswerStaleAccusation(m.suspect().incarnation(), from);
      SuspectNode(m.suspect());
      break;
    case pb::Message::kDead:
      if (m.dead().node() == config_.name) AnswerStaleAccusation(m.dead().incarnation(), from);
      DeadNode(m.dead());
      break;
    case pb::Message::kPushPull: HandlePushPull(m.push_pull(), from); break;
    case pb::Message::kUser: delegate_->NotifyMsg(m.user().payload(), from); break;
    case pb::Message::BODY_NOT_SET: break;
  }
}

void Memberlist::HandlePing(const pb::Ping& ping, const Address& from, Channel channel) {
  if (!ping.target().empty() && ping.target() != config_.name) return;  // meant for someone else
  const pb::Message ack = AckMessage(ping.seq(), /*direct=*/true);
  if (channel == Channel::kStream) {
    SendStream(from, ack);
  } else {
    SendDatagram(from, ack);
  }
}

void Memberlist::HandleIndirectPing(const pb::IndirectPing& req, const Address& from) {
  uint32_t seq = next_seq_++;
  Relay relay;
  relay.source = from;
  relay.source_seq = req.seq();
  relay.nack = req.nack();
  relay.timer = timers_.Add(now_ + config_.probe_timeout, [this, seq] {
    auto it = relays_.find(seq);
    if (it == relays_.end()) return;
    if (it->second.nack) {
      pb::Message nack;
      nack.mutable_nack()->set_seq(it->second.source_seq);
      Address to = it->second.source;
      relays_.erase(it);
      SendDatagram(to, nack);
    } else {
      relays_.erase(it);
    }
  });
  relays_.emplace(seq, std::move(relay));
  SendDatagram(req.target_addr(), PingMessage(seq, req.target()));
}

// ---------------------------------------------------------------------------------------
// State transitions

void Memberlist::AliveNode(const pb::Alive& a, bool bootstrap) {
  const bool is_local = a.node() == config_.name;
  if (is_local && leaving_) return;  // no resurrection while we say goodbye
  auto it = nodes_.find(a.node());
  const bool is_new = it == nodes_.end();
  if (is_new && static_cast<int>(nodes_.size()) >= config_.members_max) {
    if (stats_.members_refused_full++ == 0) {
      log_.Warn(now_, "member table full (", config_.members_max, "): not adding ", a.node());
    }
    return;
  }
  if (is_new) {
    NodeState fresh;
    fresh.name = a.node();
    fresh.addr = a.addr();
    fresh.state = MemberState::kDead;
    fresh.state_change = now_;
    it = nodes_.emplace(a.node(), std::move(fresh)).first;
    addr_names_[a.addr()] = a.node();
    // A random place in the probe order, so new members are probed soon but not in join
    // order: appended, then swapped with a random slot, as memberlist's aliveNode does. O(1):
    // a vector insert was O(N), quadratic for a push-pull naming thousands of new members.
    size_t pos = rng_.Uniform(probe_order_.size() + 1);
    probe_order_.push_back(a.node());
    std::swap(probe_order_[pos], probe_order_.back());
  } else if (it->second.addr != a.addr() && !MayMoveAddress(it->second)) {
    log_.Warn(now_, "conflicting address for ", a.node(), ": ", it->second.addr, " vs ", a.addr(), " (",
              Absl(MemberStateName(it->second.state)), ")");
    ++stats_.name_conflicts;
    if (is_local && a.addr().size() <= kAddressBytesMax) stats_.self_name_claimed_by = a.addr();
    return;
  }
  NodeState& state = it->second;
  // Incarnation order: news about another member counts only if newer than what we hold;
  // dead is final for an incarnation (only a higher one brings a member back).
  const bool revives_same = config_.unsafe_revive_dead_same_incarnation && DeadOrLeft(state) &&
                            a.incarnation() == state.incarnation;
  const bool older_applied = config_.unsafe_accept_older_incarnation && a.incarnation() < state.incarnation;
  if (!is_local && !is_new && a.incarnation() <= state.incarnation && !revives_same && !older_applied) return;
  if (is_local && a.incarnation() < state.incarnation) return;

  CancelSuspicion(a.node());
  const MemberState old_state = state.state;
  const std::string old_meta = state.meta;
  if (is_local && !bootstrap) {
    if (a.incarnation() == state.incarnation && a.meta() == state.meta) return;
    Refute(state, a.incarnation());
    log_.Warn(now_, "refuting an alive message about ourselves");
    return;
  }
  pb::Message m;
  *m.mutable_alive() = a;
  Broadcast(a.node(), m);
  state.incarnation = a.incarnation();
  state.meta = a.meta();
  if (state.addr != a.addr()) {
    // A member that moved forgets its old address: otherwise every move left one entry
    // behind, and forged moves grew the map without bound (the fuzzer's CheckInvariants:
    // '7 addresses for 6 members').
    auto old = addr_names_.find(state.addr);
    if (old != addr_names_.end() && old->second == a.node()) addr_names_.erase(old);
  }
  state.addr = a.addr();
  addr_names_[a.addr()] = a.node();
  if (is_local) incarnation_ = std::max(incarnation_, a.incarnation());
  if (state.state != MemberState::kAlive) {
    SetState(state, MemberState::kAlive);
    state.state_change = now_;
  }
  if (old_state == MemberState::kDead || old_state == MemberState::kLeft) {
    delegate_->NotifyJoin(state);
  } else if (old_meta != state.meta) {
    delegate_->NotifyUpdate(state);
  }
}

bool Memberlist::MayMoveAddress(const NodeState& node) const {
  // memberlist's aliveNode: a left member's name may move at once; a dead one's only after
  // DeadNodeReclaimTime (zero: never), so that a crashed member's name is not taken over by
  // another node right away while the cluster still gossips its death.
  if (node.state == MemberState::kLeft) return true;
  if (node.state != MemberState::kDead) return false;
  return config_.dead_node_reclaim_time > absl::ZeroDuration() &&
         now_ - node.state_change > config_.dead_node_reclaim_time;
}

void Memberlist::SuspectNode(const pb::Suspect& s) {
  auto it = nodes_.find(s.node());
  if (it == nodes_.end()) return;
  NodeState& state = it->second;
  // Incarnation order: a suspicion older than the incarnation we hold was refuted already.
  if (s.incarnation() < state.incarnation && !config_.unsafe_accept_older_incarnation) return;  // old news
  auto sit = suspicions_.find(s.node());
  if (sit != suspicions_.end() && s.incarnation() > state.incarnation) {
    // The member refuted our suspicion (we missed its alive, which a newer suspect carrying
    // its new incarnation implies) and is suspected again: a fresh suspicion, not a
    // confirmation of the refuted one.
    CancelSuspicion(s.node());
    SetState(state, MemberState::kAlive);
    sit = suspicions_.end();
  }
  if (sit != suspicions_.end()) {
    // An independent confirmation shortens the timeout (Lifeguard); pass it on.
    if (sit->second.suspicion->Confirm(s.from())) {
      // Lifeguard: each independent confirmation brings the deadline closer.
      if (!config_.unsafe_suspicion_ignores_confirmations) {
        timers_.Cancel(sit->second.timer);
        std::string name = s.node();
        sit->second.timer = timers_.Add(std::max(now_, sit->second.suspicion->deadline()),
                                        [this, name] { OnSuspicionTimeout(name); });
      }
      pb::Message m;
      *m.mutable_suspect() = s;
      Broadcast(s.node(), m);
    }
    return;
  }
  if (state.state != MemberState::kAlive) return;
  if (s.node() == config_.name) {
    if (config_.unsafe_no_refutation) return;  // refutation: the accused answers with a higher incarnation
    Refute(state, s.incarnation());
    log_.Warn(now_, "refuting a suspect message from ", s.from());
    TellAccuser(s.from());
    return;
  }
  pb::Message m;
  *m.mutable_suspect() = s;
  Broadcast(s.node(), m);
  state.incarnation = s.incarnation();
  SetState(state, MemberState::kSuspect);
  state.state_change = now_;

  const int n = EstNumNodes();
  int k = config_.lifeguard ? config_.ConfirmationsExpected() : 0;
  if (n - 2 < k) k = 0;
  Duration min = SuspicionTimeoutMin(config_.suspicion_mult, n, config_.probe_interval);
  Duration max = config_.lifeguard ? min * config_.suspicion_max_timeout_mult : min;
  SuspicionTimer st;
  st.suspicion = std::make_unique<Suspicion>(s.from(), k, min, max, now_);
  std::string name = s.node();
  st.timer = timers_.Add(st.suspicion->deadline(), [this, name] { OnSuspicionTimeout(name); });
  suspicions_.emplace(name, std::move(st));
}

void Memberlist::OnSuspicionTimeout(const std::string& name) {
  auto sit = suspicions_.find(name);
  if (sit == suspicions_.end()) return;
  int confirmations = sit->second.suspicion->confirmations();
  suspicions_.erase(sit);
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second.state != MemberState::kSuspect) return;
  log_.Info(now_, "marking ", name, " as failed, suspect timeout reached (", confirmations,
            " peer confirmations)");
  stats_.declared_dead[name]++;
  pb::Dead d;
  d.set_incarnation(it->second.incarnation);
  d.set_node(name);
  d.set_from(config_.name);
  DeadNode(d);
}

void Memberlist::CancelSuspicion(const std::string& name) {
  auto sit = suspicions_.find(name);
  if (sit == suspicions_.end()) return;
  timers_.Cancel(sit->second.timer);
  suspicions_.erase(sit);
}

void Memberlist::DeadNode(const pb::Dead& d) {
  auto it = nodes_.find(d.node());
  if (it == nodes_.end()) return;
  NodeState& state = it->second;
  if (d.incarnation() < state.incarnation) return;
  const bool graceful = d.from() == d.node();
  if (DeadOrLeft(state)) {
    // A failed member's own goodbye upgrades it to left (it did not crash after all), and
    // the level above hears of it: otherwise Serf keeps it failed, reconnects to it and
    // reaps it on the reconnect timeout instead of the tombstone (issue 10 item 13).
    if (graceful && state.state == MemberState::kDead && d.node() != config_.name) {
      SetState(state, MemberState::kLeft);
      state.incarnation = d.incarnation();
      pb::Message m;
      *m.mutable_dead() = d;
      Broadcast(d.node(), m);
      delegate_->NotifyLeave(state);
    }
    return;
  }
  CancelSuspicion(d.node());
  if (d.node() == config_.name && !leaving_) {
    if (config_.unsafe_no_refutation) return;  // refutation: the accused answers with a higher incarnation
    Refute(state, d.incarnation());
    log_.Warn(now_, "refuting a dead message from ", d.from());
    TellAccuser(d.from());
    return;
  }
  pb::Message m;
  *m.mutable_dead() = d;
  Broadcast(d.node(), m);
  state.incarnation = d.incarnation();
  SetState(state, graceful ? MemberState::kLeft : MemberState::kDead);
  state.state_change = now_;
  // memberlist's GossipToTheDeadTime: we gossip to it for that long (so it can refute),
  // then drop it from our list and from every push-pull. Serf keeps its own record.
  if (d.node() != config_.name) ScheduleDeadRemoval(d.node());
  delegate_->NotifyLeave(state);
}

void Memberlist::Refute(NodeState& self, uint64_t accused_incarnation) {
  incarnation_ = std::max(incarnation_, accused_incarnation) + 1;
  self.incarnation = incarnation_;
  stats_.refutations++;
  // Being accused is a sign we may be the slow one (Lifeguard).
  awareness_.ApplyDelta(1);
  pb::Message m;
  pb::Alive* a = m.mutable_alive();
  a->set_incarnation(incarnation_);
  a->set_node(config_.name);
  a->set_addr(self_addr_);
  a->set_meta(self.meta);
  Broadcast(config_.name, m);
}

// ---------------------------------------------------------------------------------------
// Output

void Memberlist::Broadcast(const std::string& key, const pb::Message& m) {
  broadcasts_.Queue(key, m.SerializeAsString());
}

void Memberlist::SendDatagram(const Address& to, const pb::Message& m, const pb::Message* extra) {
  std::vector<std::string> msgs;
  msgs.push_back(m.SerializeAsString());
  if (extra != nullptr) msgs.push_back(extra->SerializeAsString());
  size_t used = 0;
  for (const auto& s : msgs) used += PackedSize(s.size());
  if (used > config_.datagram_bytes_max) {
    // An operating error, not an invariant: with the inbound bounds (limits.h) and the
    // default datagram_bytes_max every message fits, but a smaller configured limit may not.
    stats_.datagrams_dropped_oversize++;
    log_.Warn(now_, "dropping a datagram to ", to, ": ", used, " bytes exceed the ", config_.datagram_bytes_max,
              "-byte limit");
    return;
  }
  // Piggyback: our own updates first, then the level above's (skipping a copy of what the
  // packet already carries, such as the buddy system's suspect).
  const size_t carried = msgs.size();
  for (std::string& b : broadcasts_.Take(kPackOverhead, config_.datagram_bytes_max - used,
                                         config_.retransmit_mult, EstNumNodes())) {
    if (std::find(msgs.begin(), msgs.begin() + carried, b) != msgs.begin() + carried) continue;
    used += PackedSize(b.size());
    msgs.push_back(std::move(b));
  }
  if (used < config_.datagram_bytes_max) {
    for (std::string& b : delegate_->GetBroadcasts(kPackOverhead, config_.datagram_bytes_max - used)) {
      used += PackedSize(b.size());
      msgs.push_back(std::move(b));
    }
  }
  std::string packet = PackMessages(msgs);
  MUSTER_CHECK_LE(packet.size(), config_.datagram_bytes_max);
  Emit(to, Channel::kDatagram, std::move(packet));
}

void Memberlist::SendStream(const Address& to, const pb::Message& m) {
  Emit(to, Channel::kStream, PackMessages({m.SerializeAsString()}));
}

void Memberlist::Emit(const Address& to, Channel channel, std::string payload) {
  if (channel == Channel::kDatagram && payload.size() > config_.datagram_bytes_max) {
    stats_.datagrams_dropped_oversize++;
    log_.Warn(now_, "dropping a datagram to ", to, ": ", payload.size(), " bytes exceed the ",
              config_.datagram_bytes_max, "-byte limit");
    return;
  }
  stats_.messages_sent++;
  stats_.bytes_sent += payload.size();
  out_->messages.push_back(OutboundMessage{to, channel, std::move(payload), 0});
}

std::vector<const NodeState*> Memberlist::RandomNodes(int k,
                                                      const std::function<bool(const NodeState&)>& ok) {
  std::vector<const NodeState*> candidates;
  for (const auto& [name, n] : nodes_) {
    if (ok(n)) candidates.push_back(&n);
  }
  // Partial Fisher-Yates: the first k are a uniform sample.
  size_t take = std::min<size_t>(k, candidates.size());
  for (size_t i = 0; i < take; ++i) {
    size_t j = i + rng_.Uniform(candidates.size() - i);
    std::swap(candidates[i], candidates[j]);
  }
  candidates.resize(take);
  return candidates;
}

}  // namespace muster::gossip
