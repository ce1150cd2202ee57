// Unit tests of the memberlist level, driven by hand: one Memberlist, messages injected as
// other members would send them, outputs decoded from its Effects.
#include "core/gossip/memberlist.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

class FakeDelegate : public MemberlistDelegate {
 public:
  std::string NodeMeta() override { return meta; }
  void NotifyMsg(std::string_view payload, const Address&) override { user.emplace_back(payload); }
  std::vector<std::string> GetBroadcasts(size_t, size_t) override { return {}; }
  std::string LocalState(bool) override { return "state"; }
  void MergeRemoteState(std::string_view s, bool join) override { merged.emplace_back(s); }
  void NotifyJoin(const NodeState& n) override { joins.push_back(n.name); }
  void NotifyLeave(const NodeState& n) override { leaves.push_back(n.name + ":" + std::string(MemberStateName(n.state))); }
  void NotifyUpdate(const NodeState& n) override { updates.push_back(n.name); }

  std::string meta;
  std::vector<std::string> user, merged, joins, leaves, updates;
};

struct Sent {
  Address to;
  Channel channel;
  pb::Message message;
};

class MemberlistTest : public ::testing::Test {
 protected:
  explicit MemberlistTest(bool lifeguard = true) {
    MemberlistConfig c = MemberlistConfig::Lan("a");
    c.lifeguard = lifeguard;
    ml_ = std::make_unique<Memberlist>(c, "addr-a", 7, &delegate_, Logger());
    ml_->Start(now_, &out_);
  }

  // Delivers messages from `from` as one packet.
  void Deliver(const Address& from, std::vector<pb::Message> msgs, Channel ch = Channel::kDatagram) {
    std::vector<std::string> raw;
    for (const auto& m : msgs) raw.push_back(m.SerializeAsString());
    ml_->HandleMessage(now_, MessageInput{from, ch, PackMessages(raw)}, &out_);
  }
  void AdvanceTo(Time t) {
    // The wake-up comes through the batch (out_ keeps the earliest one asked for; a stale
    // one only costs a tick with nothing due).
    while (out_.wake_at && *out_.wake_at <= t) {
      now_ = std::max(now_, *out_.wake_at);
      out_.wake_at.reset();
      ml_->Tick(now_, &out_);
      if (auto_ack_) AckPings();
    }
    now_ = t;
  }
  // Every member answers every direct ping (so "a" itself confirms nothing).
  void AckPings() {
    for (; scanned_ < out_.messages.size(); ++scanned_) {
      const OutboundMessage m = out_.messages[scanned_];
      pb::Packet p;
      ASSERT_TRUE(p.ParseFromString(m.payload));
      for (const auto& msg : p.messages()) {
        if (!msg.has_ping()) continue;
        pb::Message ack;
        ack.mutable_ack()->set_seq(msg.ping().seq());
        Deliver(m.to, {ack}, m.channel);
      }
    }
  }
  void Advance(Duration d) { AdvanceTo(now_ + d); }
  // Everything sent so far, decoded; clears the outbox.
  std::vector<Sent> TakeSent() {
    std::vector<Sent> sent;
    for (const auto& m : out_.messages) {
      pb::Packet p;
      EXPECT_TRUE(p.ParseFromString(m.payload));
      if (m.channel == Channel::kDatagram) {
        EXPECT_LE(m.payload.size(), kDatagramPayloadBytesMax);
      }
      for (const auto& msg : p.messages()) sent.push_back({m.to, m.channel, msg});
    }
    out_.messages.clear();
    scanned_ = 0;
    return sent;
  }
  static pb::Message Alive(const std::string& node, uint64_t inc, std::string meta = "") {
    pb::Message m;
    m.mutable_alive()->set_node(node);
    m.mutable_alive()->set_addr("addr-" + node);
    m.mutable_alive()->set_incarnation(inc);
    m.mutable_alive()->set_meta(meta);
    return m;
  }
  static pb::Message Suspect(const std::string& node, uint64_t inc, const std::string& from) {
    pb::Message m;
    m.mutable_suspect()->set_node(node);
    m.mutable_suspect()->set_incarnation(inc);
    m.mutable_suspect()->set_from(from);
    return m;
  }
  static pb::Message Dead(const std::string& node, uint64_t inc, const std::string& from) {
    pb::Message m;
    m.mutable_dead()->set_node(node);
    m.mutable_dead()->set_incarnation(inc);
    m.mutable_dead()->set_from(from);
    return m;
  }
  void AddMembers(const std::vector<std::string>& names) {
    for (const auto& n : names) Deliver("addr-" + n, {Alive(n, 1)});
    TakeSent();
  }
  MemberState StateOf(const std::string& n) { return ml_->Node(n)->state; }

  Time now_ = SimEpoch();
  bool auto_ack_ = false;
  size_t scanned_ = 0;
  Effects out_;
  FakeDelegate delegate_;
  std::unique_ptr<Memberlist> ml_;
};

TEST_F(MemberlistTest, StartsAliveAndAnnouncesItself) {
  ASSERT_NE(ml_->Node("a"), nullptr);
  EXPECT_EQ(StateOf("a"), MemberState::kAlive);
  EXPECT_EQ(ml_->Node("a")->incarnation, 1u);
  EXPECT_EQ(delegate_.joins, std::vector<std::string>{"a"});
  EXPECT_TRUE(out_.wake_at.has_value()) << "Start asks for its first wake-up in the batch";
}

TEST_F(MemberlistTest, IncarnationOrdersUpdates) {
  Deliver("addr-b", {Alive("b", 5)});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive);
  Deliver("addr-c", {Suspect("b", 4, "c")});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive) << "an older suspicion is stale";
  Deliver("addr-c", {Suspect("b", 5, "c")});
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect);
  Deliver("addr-b", {Alive("b", 5)});
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect) << "the same incarnation does not refute";
  Deliver("addr-b", {Alive("b", 6)});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive);
  Deliver("addr-c", {Dead("b", 5, "c")});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive) << "an older death is stale";
  Deliver("addr-c", {Dead("b", 6, "c")});
  EXPECT_EQ(StateOf("b"), MemberState::kDead);
  EXPECT_EQ(delegate_.leaves, std::vector<std::string>{"b:dead"});
  Deliver("addr-b", {Alive("b", 6)});
  EXPECT_EQ(StateOf("b"), MemberState::kDead) << "death beats alive at the same incarnation";
  Deliver("addr-b", {Alive("b", 7)});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive);
  EXPECT_EQ(delegate_.joins, (std::vector<std::string>{"a", "b", "b"}));
}

TEST_F(MemberlistTest, RefutesASuspicionAboutItselfWithAHigherIncarnation) {
  AddMembers({"b", "c"});
  Deliver("addr-b", {Suspect("a", 1, "b")});
  EXPECT_EQ(StateOf("a"), MemberState::kAlive);
  EXPECT_EQ(ml_->Node("a")->incarnation, 2u);
  EXPECT_EQ(ml_->stats().refutations, 1u);
  EXPECT_EQ(ml_->health_score(), 1) << "being accused counts against local health";
  // A death notice with a higher incarnation is refuted past it.
  Deliver("addr-b", {Dead("a", 9, "b")});
  EXPECT_EQ(StateOf("a"), MemberState::kAlive);
  EXPECT_EQ(ml_->Node("a")->incarnation, 10u);
  // The refutation goes out with the next gossip.
  Advance(absl::Seconds(1));
  bool refuted = false;
  for (const Sent& s : TakeSent()) {
    if (s.message.has_alive() && s.message.alive().node() == "a") refuted |= s.message.alive().incarnation() == 10;
  }
  EXPECT_TRUE(refuted);
}

TEST_F(MemberlistTest, TheRefutationAlsoGoesStraightToTheAccuser) {
  // The suspicion that would declare us dead is the accuser's; its timer must not depend
  // on the epidemic finding it. c relays b's accusation: both c's packet and b's name count.
  AddMembers({"b", "c"});
  Deliver("addr-c", {Suspect("a", 1, "b")});
  bool told_b = false;
  for (const Sent& s : TakeSent()) {
    told_b |= s.to == "addr-b" && s.message.has_alive() && s.message.alive().node() == "a" &&
              s.message.alive().incarnation() == 2;
  }
  EXPECT_TRUE(told_b);
  // The same for a death notice (refuted past its incarnation), once the per-address
  // limit (one probe interval) has passed.
  Advance(absl::Seconds(1));
  TakeSent();
  Deliver("addr-c", {Dead("a", 5, "b")});
  bool told_dead = false;
  for (const Sent& s : TakeSent()) {
    told_dead |= s.to == "addr-b" && s.message.has_alive() && s.message.alive().incarnation() == 6;
  }
  EXPECT_TRUE(told_dead);
}

TEST_F(MemberlistTest, AStaleAccusationIsAnsweredDirectlyWithTheCurrentIncarnation) {
  AddMembers({"b", "c"});
  Deliver("addr-b", {Suspect("a", 1, "b")});  // refuted: incarnation 2
  TakeSent();
  Deliver("addr-c", {Suspect("a", 1, "b")});  // c relays the old suspicion: it missed the refutation
  bool told = false;
  for (const Sent& s : TakeSent()) {
    told |= s.to == "addr-c" && s.message.has_alive() && s.message.alive().node() == "a" &&
            s.message.alive().incarnation() == 2;
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(ml_->Node("a")->incarnation, 2u) << "no new refutation for old news";
}

TEST_F(MemberlistTest, SuspicionStartsAtMaxAndConfirmationsShortenIt) {
  auto_ack_ = true;
  AddMembers({"b", "c", "d", "e", "f", "g"});  // 7 members: k = suspicion_mult - 2 = 2
  Time t0 = now_;
  Deliver("addr-c", {Suspect("b", 1, "c")});
  ASSERT_EQ(StateOf("b"), MemberState::kSuspect);
  AdvanceTo(t0 + absl::Seconds(10));
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect) << "no confirmations: 24 s";
  Deliver("addr-d", {Suspect("b", 1, "d")});
  Deliver("addr-d", {Suspect("b", 1, "d")});  // the same confirmer counts once
  // One confirmation: 24 - 20 * log(2) / log(3) = 11.381 s from the start.
  AdvanceTo(t0 + absl::Milliseconds(11'380));
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect);
  AdvanceTo(t0 + absl::Milliseconds(11'382));
  EXPECT_EQ(StateOf("b"), MemberState::kDead);

  // Two quick confirmations: down to the minimum, 4 s.
  t0 = now_;
  Deliver("addr-e", {Suspect("f", 1, "e")});
  Deliver("addr-c", {Suspect("f", 1, "c")});
  Deliver("addr-d", {Suspect("f", 1, "d")});
  AdvanceTo(t0 + absl::Seconds(4) - absl::Milliseconds(1));
  EXPECT_EQ(StateOf("f"), MemberState::kSuspect);
  AdvanceTo(t0 + absl::Seconds(4));
  EXPECT_EQ(StateOf("f"), MemberState::kDead);
  EXPECT_EQ(ml_->stats().declared_dead.at("b"), 1u);
  EXPECT_EQ(ml_->stats().declared_dead.at("f"), 1u);
}

TEST_F(MemberlistTest, ANewerSuspicionRestartsARefutedOne) {
  auto_ack_ = true;
  AddMembers({"b", "c", "d", "e", "f", "g"});
  const Time t0 = now_;
  Deliver("addr-c", {Suspect("b", 1, "c")});
  AdvanceTo(t0 + absl::Seconds(20));
  // b refuted (inc 2) but we missed it; now d suspects inc 2: a fresh 24 s suspicion.
  Deliver("addr-d", {Suspect("b", 2, "d")});
  AdvanceTo(t0 + absl::Seconds(30));
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect);
  EXPECT_EQ(ml_->Node("b")->incarnation, 2u);
  AdvanceTo(t0 + absl::Seconds(44));
  EXPECT_EQ(StateOf("b"), MemberState::kDead);
}

TEST_F(MemberlistTest, LoneSuspicionExpiresAtTheMaximum) {
  auto_ack_ = true;
  AddMembers({"b", "c", "d", "e", "f"});
  const Time t0 = now_;
  Deliver("addr-c", {Suspect("b", 1, "c")});
  AdvanceTo(t0 + absl::Seconds(24) - absl::Milliseconds(1));
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect);
  AdvanceTo(t0 + absl::Seconds(24));
  EXPECT_EQ(StateOf("b"), MemberState::kDead);
}

class ClassicSwimTest : public MemberlistTest {
 protected:
  ClassicSwimTest() : MemberlistTest(/*lifeguard=*/false) {}
};

TEST_F(ClassicSwimTest, WithoutLifeguardTheSuspicionTimeoutIsFixed) {
  auto_ack_ = true;
  AddMembers({"b", "c", "d", "e", "f"});
  const Time t0 = now_;
  Deliver("addr-c", {Suspect("b", 1, "c")});
  AdvanceTo(t0 + absl::Seconds(4) - absl::Milliseconds(1));
  EXPECT_EQ(StateOf("b"), MemberState::kSuspect);
  AdvanceTo(t0 + absl::Seconds(4));
  EXPECT_EQ(StateOf("b"), MemberState::kDead);
}

TEST_F(MemberlistTest, ProbeGoesIndirectThenSuspectsAndMissingNacksRaiseTheHealthScore) {
  AddMembers({"b", "c", "d", "e"});
  // Run until a ping goes out; then stay silent.
  std::string target;
  uint32_t seq = 0;
  for (int i = 0; i < 40 && target.empty(); ++i) {
    Advance(absl::Milliseconds(50));
    for (const Sent& s : TakeSent()) {
      if (s.message.has_ping() && s.channel == Channel::kDatagram) {
        target = s.message.ping().target();
        seq = s.message.ping().seq();
      }
    }
  }
  ASSERT_FALSE(target.empty());
  const Time probe_start = now_;
  AdvanceTo(probe_start + absl::Milliseconds(510));
  std::vector<Address> relays;
  bool stream_ping = false;
  for (const Sent& s : TakeSent()) {
    if (s.message.has_indirect_ping()) {
      EXPECT_EQ(s.message.indirect_ping().target(), target);
      EXPECT_TRUE(s.message.indirect_ping().nack());
      relays.push_back(s.to);
    }
    stream_ping |= s.channel == Channel::kStream && s.message.has_ping();
  }
  EXPECT_EQ(relays.size(), 3u) << "indirect_checks relays";
  EXPECT_TRUE(stream_ping) << "the stream fallback ping";
  // One relay nacks: two nacks are missing, so the score rises by 2.
  pb::Message nack;
  nack.mutable_nack()->set_seq(seq);
  Deliver(relays[0], {nack});
  AdvanceTo(probe_start + absl::Milliseconds(1001));
  EXPECT_EQ(StateOf(target), MemberState::kSuspect);
  EXPECT_EQ(ml_->stats().suspected.at(target), 1u);
  EXPECT_EQ(ml_->health_score(), 2);
}

TEST_F(MemberlistTest, AnAckEndsTheProbeAndImprovesHealth) {
  AddMembers({"b", "c", "d"});
  Deliver("addr-b", {Suspect("a", 1, "b")});  // score 1
  ASSERT_EQ(ml_->health_score(), 1);
  TakeSent();
  for (int i = 0; i < 40; ++i) {
    Advance(absl::Milliseconds(50));
    for (const Sent& s : TakeSent()) {
      if (s.message.has_ping() && s.channel == Channel::kDatagram) {
        pb::Message ack;
        ack.mutable_ack()->set_seq(s.message.ping().seq());
        Deliver(s.to, {ack});
      }
    }
  }
  EXPECT_EQ(ml_->health_score(), 0);
  EXPECT_EQ(ml_->stats().probes_failed, 0u);
  EXPECT_GE(ml_->stats().probes, 1u);
}

TEST_F(MemberlistTest, RelaysIndirectPingsAndNacksWhenTheTargetIsSilent) {
  AddMembers({"b", "c"});
  pb::Message req;
  req.mutable_indirect_ping()->set_seq(77);
  req.mutable_indirect_ping()->set_target("b");
  req.mutable_indirect_ping()->set_target_addr("addr-b");
  req.mutable_indirect_ping()->set_source("c");
  req.mutable_indirect_ping()->set_nack(true);
  Deliver("addr-c", {req});
  uint32_t relay_seq = 0;
  for (const Sent& s : TakeSent()) {
    if (s.to == "addr-b" && s.message.has_ping()) relay_seq = s.message.ping().seq();
  }
  ASSERT_NE(relay_seq, 0u);
  pb::Message ack;
  ack.mutable_ack()->set_seq(relay_seq);
  Deliver("addr-b", {ack});
  bool relayed = false;
  for (const Sent& s : TakeSent()) relayed |= s.to == "addr-c" && s.message.has_ack() && s.message.ack().seq() == 77;
  EXPECT_TRUE(relayed);
  // A second request the target does not answer: a nack after the probe timeout.
  req.mutable_indirect_ping()->set_seq(78);
  Deliver("addr-c", {req});
  TakeSent();
  Advance(absl::Milliseconds(501));
  bool nacked = false;
  for (const Sent& s : TakeSent()) nacked |= s.to == "addr-c" && s.message.has_nack() && s.message.nack().seq() == 78;
  EXPECT_TRUE(nacked);
}

TEST_F(MemberlistTest, AnswersPingsOnTheChannelTheyCameOn) {
  pb::Message ping;
  ping.mutable_ping()->set_seq(5);
  ping.mutable_ping()->set_target("a");
  AddMembers({"b"});
  Deliver("addr-b", {ping}, Channel::kStream);
  auto sent = TakeSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].channel, Channel::kStream);
  EXPECT_EQ(sent[0].message.ack().seq(), 5u);
  ping.mutable_ping()->set_target("someone-else");
  Deliver("addr-b", {ping});
  EXPECT_TRUE(TakeSent().empty()) << "a ping for another node is ignored";
}

TEST_F(MemberlistTest, APacketFromAStrangerTriggersARateLimitedPushPull) {
  pb::Message ping;
  ping.mutable_ping()->set_seq(1);
  ping.mutable_ping()->set_target("a");
  ping.mutable_ping()->set_source("z");
  auto count_push_pulls = [&] {
    int n = 0;
    for (const Sent& s : TakeSent()) n += s.to == "addr-z" && s.message.has_push_pull() && !s.message.push_pull().reply();
    return n;
  };
  Deliver("addr-z", {ping});
  EXPECT_EQ(count_push_pulls(), 1) << "z is not a member we know: sync with it";
  Deliver("addr-z", {ping});
  EXPECT_EQ(count_push_pulls(), 0) << "rate limited";
  now_ += absl::Seconds(2);
  Deliver("addr-z", {ping});
  EXPECT_EQ(count_push_pulls(), 1);
  Deliver("addr-z", {Alive("z", 1)});
  TakeSent();
  now_ += absl::Seconds(5);
  Deliver("addr-z", {ping});
  EXPECT_EQ(count_push_pulls(), 0) << "known and alive now";
}

TEST_F(MemberlistTest, APeerThatKnowsMoreMembersTriggersARateLimitedPushPull) {
  auto_ack_ = true;        // b and c stay alive
  AddMembers({"b", "c"});  // we know 3 alive, ourselves included
  auto ping_from_b = [](uint32_t members) {
    pb::Message m;
    m.mutable_ping()->set_seq(9);
    m.mutable_ping()->set_target("a");
    m.mutable_ping()->set_source("b");
    m.mutable_ping()->set_members(members);
    return m;
  };
  auto push_pulls_to_b = [&] {
    int n = 0;
    for (const Sent& s : TakeSent()) {
      n += s.to == "addr-b" && s.message.has_push_pull() && !s.message.push_pull().reply();
    }
    return n;
  };
  // Our view is still growing (b and c just arrived): no sync yet.
  Deliver("addr-b", {ping_from_b(4)});
  EXPECT_EQ(push_pulls_to_b(), 0);
  Advance(absl::Seconds(2));
  TakeSent();
  // Quiet for two probe intervals, and b knows one more: one push-pull, then a pause.
  Deliver("addr-b", {ping_from_b(4)});
  EXPECT_EQ(push_pulls_to_b(), 1);
  EXPECT_EQ(ml_->stats().count_syncs, 1u);
  Deliver("addr-b", {ping_from_b(4)});
  EXPECT_EQ(push_pulls_to_b(), 0) << "at most once per count_sync_interval";
  Advance(absl::Seconds(5));
  TakeSent();
  Deliver("addr-b", {ping_from_b(3)});  // the same count: nothing to learn
  Deliver("addr-b", {ping_from_b(0)});  // a peer that does not say
  EXPECT_EQ(push_pulls_to_b(), 0);
  pb::Message ack;
  ack.mutable_ack()->set_seq(12345);
  ack.mutable_ack()->set_members(9);  // acks carry the count too
  Deliver("addr-b", {ack});
  EXPECT_EQ(push_pulls_to_b(), 1);
  // What we send says how many we know.
  Advance(absl::Seconds(1));
  bool said = false;
  for (const Sent& s : TakeSent()) said |= s.message.has_ping() && s.message.ping().members() == 3;
  EXPECT_TRUE(said);
  // Right after we learn of a death, a peer that has not heard yet says more: no sync
  // while our own view is fresh (the epidemic is still on its way to that peer).
  Advance(absl::Seconds(5));
  TakeSent();
  Deliver("addr-c", {Dead("c", 1, "c")});
  Deliver("addr-b", {ping_from_b(3)});
  EXPECT_EQ(push_pulls_to_b(), 0);
  Advance(absl::Seconds(2));
  TakeSent();
  Deliver("addr-b", {ping_from_b(3)});  // still more, two probe intervals later
  EXPECT_EQ(push_pulls_to_b(), 1);
}

TEST_F(MemberlistTest, CompoundPacketsStayUnderTheDatagramLimit) {
  // 200 members with fat meta: far more news than one datagram holds.
  for (int i = 0; i < 200; ++i) Deliver("x", {Alive("m" + std::to_string(i), 1, std::string(100, 'x'))});
  EXPECT_GT(ml_->broadcasts_queued(), 100u);
  size_t packets = 0, messages = 0;
  for (int i = 0; i < 20; ++i) {
    Advance(absl::Milliseconds(200));
    for (const auto& m : out_.messages) {
      if (m.channel != Channel::kDatagram) continue;
      EXPECT_LE(m.payload.size(), MemberlistConfig().datagram_bytes_max);
      pb::Packet p;
      ASSERT_TRUE(p.ParseFromString(m.payload));
      packets++;
      messages += p.messages_size();
    }
    out_.messages.clear();
  }
  EXPECT_GT(packets, 0u);
  EXPECT_GT(messages / packets, 5u) << "updates are packed several to a datagram";
}

TEST_F(MemberlistTest, PushPullMergesAndReplies) {
  pb::Message pp;
  pp.mutable_push_pull()->set_from("b");
  auto* n = pp.mutable_push_pull()->add_nodes();
  n->set_name("b");
  n->set_addr("addr-b");
  n->set_incarnation(3);
  n->set_state(pb::STATE_ALIVE);
  n = pp.mutable_push_pull()->add_nodes();
  n->set_name("c");
  n->set_addr("addr-c");
  n->set_incarnation(2);
  n->set_state(pb::STATE_LEFT);
  n = pp.mutable_push_pull()->add_nodes();
  n->set_name("a");
  n->set_addr("addr-a");
  n->set_incarnation(4);
  n->set_state(pb::STATE_DEAD);
  pp.mutable_push_pull()->set_user_state("remote");
  pp.mutable_push_pull()->set_join(true);
  Deliver("addr-b", {pp}, Channel::kStream);
  EXPECT_EQ(StateOf("b"), MemberState::kAlive);
  EXPECT_EQ(ml_->Node("b")->incarnation, 3u);
  EXPECT_EQ(ml_->Node("a")->incarnation, 5u) << "a remote 'you are dead' is refuted";
  EXPECT_EQ(delegate_.merged, std::vector<std::string>{"remote"});
  auto sent = TakeSent();
  // The reply on the stream, and (as for any accusation) our refutation straight to the
  // accuser in a datagram, with the gossip it piggybacks.
  std::vector<Sent> replies;
  bool told_accuser = false;
  for (const Sent& s : sent) {
    if (s.channel == Channel::kStream) replies.push_back(s);
    told_accuser |= s.channel == Channel::kDatagram && s.to == "addr-b" && s.message.has_alive() &&
                    s.message.alive().node() == "a" && s.message.alive().incarnation() == 5;
  }
  EXPECT_TRUE(told_accuser);
  ASSERT_EQ(replies.size(), 1u);
  sent = replies;
  EXPECT_TRUE(sent[0].message.push_pull().reply());
  EXPECT_EQ(sent[0].message.push_pull().user_state(), "state");
  EXPECT_EQ(sent[0].message.push_pull().nodes_size(), 2) << "a and b; c was never known";
}

// Issue 10 item 10. memberlist keeps a dead or left member only for GossipToTheDeadTime
// (30 s LAN; state.go drops it from its node list after that): long enough to gossip the
// death to the member itself, so it can refute. Kept for Serf's 24 h reap instead, every
// push-pull carried a day of churn. Serf keeps its own failed/left records (serf_test).
TEST_F(MemberlistTest, DeadAndLeftMembersAreDroppedAfterGossipToTheDeadTime) {
  auto_ack_ = true;  // b stays alive
  AddMembers({"b"});
  // The reply's bytes to one push-pull from b (the whole table, as the periodic one).
  auto push_pull_bytes = [&] {
    pb::Message pp;
    pp.mutable_push_pull()->set_from("b");
    auto* n = pp.mutable_push_pull()->add_nodes();
    n->set_name("b");
    n->set_addr("addr-b");
    n->set_incarnation(1);
    n->set_state(pb::STATE_ALIVE);
    out_.messages.clear();
    scanned_ = 0;
    Deliver("addr-b", {pp}, Channel::kStream);
    size_t bytes = 0;
    for (const auto& m : out_.messages) {
      if (m.channel == Channel::kStream && m.to == "addr-b") bytes += m.payload.size();
    }
    out_.messages.clear();
    scanned_ = 0;
    return bytes;
  };
  const size_t baseline = push_pull_bytes();
  ASSERT_GT(baseline, 0u);
  // Churn: 50 members come and go, 40 by failure and 10 by leaving.
  std::vector<std::string> churn;
  for (int i = 0; i < 50; ++i) churn.push_back(absl::StrCat("m", i));
  AddMembers(churn);
  for (int i = 0; i < 50; ++i) {
    Deliver("addr-b", {i < 40 ? Dead(churn[i], 1, "b") : Dead(churn[i], 1, churn[i])});
  }
  TakeSent();
  const Time gone_at = now_;
  Advance(absl::Seconds(10));
  EXPECT_NE(ml_->Node("m0"), nullptr) << "kept while the death is still gossiped";
  EXPECT_GT(push_pull_bytes(), baseline + 50 * 8) << "within GossipToTheDeadTime they still travel";
  AdvanceTo(gone_at + ml_->config().gossip_to_the_dead_time + absl::Seconds(1));
  for (const auto& name : churn) EXPECT_EQ(ml_->Node(name), nullptr) << name << " still in memberlist's list";
  EXPECT_EQ(ml_->Nodes().size(), 2u);
  EXPECT_EQ(push_pull_bytes(), baseline) << "push-pull back to the size before the churn";
  EXPECT_EQ(ml_->NumAlive(), 2);
  EXPECT_EQ(StateOf("b"), MemberState::kAlive);
  // A forgotten member that comes back is a new member again.
  Deliver("addr-m0", {Alive("m0", 2)});
  EXPECT_EQ(StateOf("m0"), MemberState::kAlive);
  EXPECT_EQ(delegate_.joins.back(), "m0");
}

TEST_F(MemberlistTest, LeaveMarksItselfLeftAndGossipsItsGoodbye) {
  auto_ack_ = true;
  AddMembers({"b", "c"});
  ml_->Leave(now_, &out_);
  EXPECT_EQ(StateOf("a"), MemberState::kLeft);
  auto goodbyes = [&] {
    int told = 0;
    for (const Sent& s : TakeSent()) {
      if (s.message.has_dead() && s.message.dead().node() == "a" && s.message.dead().from() == "a") told++;
    }
    return told;
  };
  // By gossip, as memberlist (issue 10 item 14): nothing at once, then the queue's
  // RetransmitLimit copies (4 for N = 3), on gossip and probes.
  EXPECT_EQ(goodbyes(), 0) << "no datagram of its own to every member";
  Advance(absl::Seconds(2));
  EXPECT_EQ(goodbyes(), RetransmitLimit(ml_->config().retransmit_mult, 3));
  // Others see it as left, not dead.
  Deliver("addr-b", {Dead("b", 1, "b")});
  EXPECT_EQ(StateOf("b"), MemberState::kLeft);
  EXPECT_EQ(delegate_.leaves.back(), "b:left");
}

// Issue 10 item 12. memberlist lets a dead member's name move to another address only once
// DeadNodeReclaimTime has passed since it died (state.go aliveNode, canReclaim), and a left
// member's at once. Before, any alive naming a dead member took its entry over from any
// address at once.
TEST_F(MemberlistTest, ADeadMembersNameMovesToAnotherAddressOnlyAfterDeadNodeReclaimTime) {
  AddMembers({"b", "c"});
  Deliver("addr-c", {Dead("b", 1, "c")});
  ASSERT_EQ(StateOf("b"), MemberState::kDead);
  const Time died = now_;
  pb::Message moved = Alive("b", 2);
  moved.mutable_alive()->set_addr("addr-elsewhere");
  now_ = died + ml_->config().dead_node_reclaim_time - absl::Seconds(1);
  Deliver("addr-elsewhere", {moved});
  EXPECT_EQ(StateOf("b"), MemberState::kDead) << "within dead_node_reclaim_time: a conflict";
  EXPECT_EQ(ml_->Node("b")->addr, "addr-b");
  // (Timers are not run, so the dead member is still listed past gossip_to_the_dead_time.)
  now_ = died + ml_->config().dead_node_reclaim_time + absl::Seconds(1);
  Deliver("addr-elsewhere", {moved});
  EXPECT_EQ(StateOf("b"), MemberState::kAlive) << "reclaimed after dead_node_reclaim_time";
  EXPECT_EQ(ml_->Node("b")->addr, "addr-elsewhere");
  // A left member's name may move at once.
  Deliver("addr-c", {Dead("c", 1, "c")});
  ASSERT_EQ(StateOf("c"), MemberState::kLeft);
  pb::Message c_moved = Alive("c", 2);
  c_moved.mutable_alive()->set_addr("addr-c2");
  Deliver("addr-c2", {c_moved});
  EXPECT_EQ(StateOf("c"), MemberState::kAlive);
  EXPECT_EQ(ml_->Node("c")->addr, "addr-c2");
}

// Issue 10 item 11. memberlist's probeNode sets awarenessDelta = -1 once the ping is out, so
// any successful return improves local health (state.go: "any return statement means the
// probe succeeded"), whether the ack came directly, relayed by an indirect probe, or over
// the stream fallback. Only the failure path at its end raises it. Before, an ack that came
// after the indirect stage left the score where it was.
TEST_F(MemberlistTest, AProbeAnsweredOnlyIndirectlyOrOverTheStreamImprovesHealth) {
  AddMembers({"b", "c", "d"});
  Deliver("addr-b", {Suspect("a", 1, "b")});
  Deliver("addr-b", {Suspect("a", 2, "b")});
  ASSERT_EQ(ml_->health_score(), 2) << "two refutations";
  TakeSent();
  // Runs until a direct ping goes out, stays silent past the probe timeout, and returns the
  // ping's seq, target, and the first relay asked to probe it.
  auto silent_probe = [&](uint32_t& seq, std::string& target, Address& relay) {
    seq = 0;
    for (int i = 0; i < 80 && seq == 0; ++i) {
      Advance(absl::Milliseconds(50));
      for (const Sent& s : TakeSent()) {
        if (s.message.has_ping() && s.channel == Channel::kDatagram) {
          seq = s.message.ping().seq();
          target = s.message.ping().target();
        }
      }
    }
    ASSERT_NE(seq, 0u);
    Advance(ml_->config().probe_timeout + absl::Milliseconds(10));
    for (const Sent& s : TakeSent()) {
      if (s.message.has_indirect_ping() && relay.empty()) relay = s.to;
    }
    ASSERT_FALSE(relay.empty()) << "the indirect stage started";
  };
  uint32_t seq = 0;
  std::string target;
  Address relay;
  silent_probe(seq, target, relay);
  pb::Message ack;
  ack.mutable_ack()->set_seq(seq);
  Deliver(relay, {ack});  // the relay's forwarded ack
  EXPECT_EQ(ml_->health_score(), 1) << "an indirect ack is a successful probe";
  silent_probe(seq, target, relay);
  ack.mutable_ack()->set_seq(seq);
  Deliver("addr-" + target, {ack}, Channel::kStream);  // the stream fallback's ack
  EXPECT_EQ(ml_->health_score(), 0) << "a stream ack is a successful probe";
  EXPECT_EQ(ml_->stats().probes_failed, 0u);
}

}  // namespace
}  // namespace muster::gossip
