// Crafted input from the network and oversized local requests (issue 10 items 2 and 3):
// none may abort, stall or bloat a member. Messages are injected as a hostile peer would
// send them; outputs are checked against the datagram limit.
#include <string>
#include <vector>

#include "core/gossip/limits.h"
#include "core/gossip/memberlist.h"
#include "core/gossip/null_delegate.h"
#include "core/gossip/serf.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

using testing::NullDelegate;

pb::Message AliveMsg(const std::string& node, const Address& addr, uint64_t inc) {
  pb::Message m;
  m.mutable_alive()->set_node(node);
  m.mutable_alive()->set_addr(addr);
  m.mutable_alive()->set_incarnation(inc);
  return m;
}

std::string Packet(const std::vector<pb::Message>& msgs) {
  std::vector<std::string> raw;
  for (const auto& m : msgs) raw.push_back(m.SerializeAsString());
  return PackMessages(raw);
}

class HostileMemberlistTest : public ::testing::Test {
 protected:
  void Make(MemberlistConfig c) {
    ml_ = std::make_unique<Memberlist>(std::move(c), "addr-a", 11, &delegate_, Logger());
    ml_->Start(now_, &out_);
  }
  void Deliver(const Address& from, const std::vector<pb::Message>& msgs, Channel ch = Channel::kDatagram) {
    ml_->HandleMessage(now_, MessageInput{from, ch, Packet(msgs)}, &out_);
  }
  // Runs the timers for `d`, answering every direct ping (the members stay alive) and
  // checking every datagram against the limit.
  void Run(Duration d) {
    const Time end = now_ + d;
    // The wake-up comes through the batch (out_ keeps the earliest one asked for; a stale
    // one only costs a tick with nothing due).
    while (out_.wake_at && *out_.wake_at <= end) {
      now_ = std::max(now_, *out_.wake_at);
      out_.wake_at.reset();
      ml_->Tick(now_, &out_);
      std::vector<OutboundMessage> sent = std::move(out_.messages);
      out_.messages.clear();
      for (const OutboundMessage& m : sent) {
        if (m.channel == Channel::kDatagram) {
          EXPECT_LE(m.payload.size(), kDatagramPayloadBytesMax);
          datagrams_++;
        }
        pb::Packet p;
        ASSERT_TRUE(p.ParseFromString(m.payload));
        for (const pb::Message& msg : p.messages()) {
          if (!msg.has_ping()) continue;
          pb::Message ack;
          ack.mutable_ack()->set_seq(msg.ping().seq());
          Deliver(m.to, {ack}, m.channel);
        }
      }
    }
    now_ = end;
  }

  Time now_ = SimEpoch();
  Effects out_;
  NullDelegate delegate_;
  std::unique_ptr<Memberlist> ml_;
  size_t datagrams_ = 0;
};

// Before the fix, the crafted member was taken in and the first probe of it aborted:
//   CHECK failed: used <= config_.datagram_bytes_max (2033 vs 1368): a single gossip message
//   exceeds the datagram limit
TEST_F(HostileMemberlistTest, AnAliveWithA2000ByteNameIsDroppedAndProbingGoesOn) {
  Make(MemberlistConfig::Lan("a"));
  Deliver("addr-b", {AliveMsg("b", "addr-b", 1)});
  const std::string huge(2000, 'x');
  Deliver("addr-x", {AliveMsg(huge, "addr-x", 1)}, Channel::kStream);
  EXPECT_EQ(ml_->Node(huge), nullptr) << "the oversized name is not a member";
  Run(absl::Seconds(10));
  EXPECT_EQ(ml_->NumAlive(), 2);
  EXPECT_GE(ml_->stats().probes, 5u) << "probing of the honest member goes on";
  EXPECT_GT(datagrams_, 0u);
}

TEST_F(HostileMemberlistTest, APushPullWithA2000ByteNameIsDroppedAndProbingGoesOn) {
  Make(MemberlistConfig::Lan("a"));
  Deliver("addr-b", {AliveMsg("b", "addr-b", 1)});
  const std::string huge(2000, 'y');
  pb::Message pp;
  pp.mutable_push_pull()->set_from("b");
  pb::PushNode* n = pp.mutable_push_pull()->add_nodes();
  n->set_name(huge);
  n->set_addr("addr-y");
  n->set_incarnation(1);
  n->set_state(pb::STATE_ALIVE);
  Deliver("addr-b", {pp}, Channel::kStream);
  EXPECT_EQ(ml_->Node(huge), nullptr) << "the oversized name is not a member";
  Run(absl::Seconds(10));
  EXPECT_EQ(ml_->NumAlive(), 2);
  EXPECT_GE(ml_->stats().probes, 5u);
}

// One push-pull (a stream frame may carry 64 MiB) naming more new members than members_max:
// the table stops at the bound. Before, all 300 were taken in.
TEST_F(HostileMemberlistTest, APushPullCannotGrowTheMemberTablePastMembersMax) {
  MemberlistConfig c = MemberlistConfig::Lan("a");
  c.members_max = 100;
  Make(c);
  pb::Message pp;
  pp.mutable_push_pull()->set_from("b");
  for (int i = 0; i < 300; ++i) {
    pb::PushNode* n = pp.mutable_push_pull()->add_nodes();
    n->set_name("forged-" + std::to_string(i));
    n->set_addr("addr-f" + std::to_string(i));
    n->set_incarnation(1);
    n->set_state(pb::STATE_ALIVE);
  }
  Deliver("addr-b", {pp}, Channel::kStream);
  EXPECT_EQ(ml_->NumAlive(), 100);
  EXPECT_EQ(ml_->stats().members_refused_full, 201u);  // 300 + ourselves - 100
  Run(absl::Seconds(5));  // and probing works on the members it kept
  EXPECT_GE(ml_->stats().probes, 3u);
}

// A left member's name may move to another address at once (memberlist's rule); each move
// left its old address in the address map, so forged leave-and-return cycles grew it without
// bound. Found by the decoder fuzzer through Memberlist::CheckInvariants.
TEST_F(HostileMemberlistTest, AMemberThatMovesForgetsItsOldAddress) {
  Make(MemberlistConfig::Lan("a"));
  for (int i = 0; i < 20; ++i) {
    Deliver("addr-" + std::to_string(i), {AliveMsg("b", "addr-" + std::to_string(i), 2 * i + 1)});
    pb::Message goodbye;
    goodbye.mutable_dead()->set_node("b");
    goodbye.mutable_dead()->set_from("b");
    goodbye.mutable_dead()->set_incarnation(2 * i + 2);
    Deliver("addr-" + std::to_string(i), {goodbye});
    ASSERT_TRUE(ml_->CheckInvariants().ok()) << "move " << i << ": " << ml_->CheckInvariants();
  }
  EXPECT_EQ(ml_->Node("b")->addr, "addr-19");
}

// Each field a later datagram of ours repeats is bounded: the longest valid name is taken,
// one byte more is not.
TEST_F(HostileMemberlistTest, NamesAddressesAndMetaAreBoundedAtTheLimits) {
  Make(MemberlistConfig::Lan("a"));
  const std::string longest(kNodeNameBytesMax, 'n');
  Deliver("addr-l", {AliveMsg(longest, "addr-l", 1)});
  EXPECT_NE(ml_->Node(longest), nullptr);
  const std::string too_long(kNodeNameBytesMax + 1, 'n');
  Deliver("addr-t", {AliveMsg(too_long, "addr-t", 1)});
  EXPECT_EQ(ml_->Node(too_long), nullptr);
  Deliver("addr-c", {AliveMsg("c", std::string(kAddressBytesMax + 1, 'c'), 1)});
  EXPECT_EQ(ml_->Node("c"), nullptr) << "oversized address";
  pb::Message fat = AliveMsg("d", "addr-d", 1);
  fat.mutable_alive()->set_meta(std::string(ml_->config().meta_bytes_max + 1, 'm'));
  Deliver("addr-d", {fat});
  EXPECT_EQ(ml_->Node("d"), nullptr) << "oversized meta";
  EXPECT_EQ(ml_->stats().messages_rejected, 3u);
  // A suspect or dead naming an oversized accuser is dropped too (it would be rebroadcast).
  pb::Message s;
  s.mutable_suspect()->set_node(longest);
  s.mutable_suspect()->set_incarnation(1);
  s.mutable_suspect()->set_from(std::string(2000, 'z'));
  Deliver("addr-z", {s});
  EXPECT_EQ(ml_->Node(longest)->state, MemberState::kAlive);
  Run(absl::Seconds(10));  // probes of the 128-byte name fit, with room to spare
  EXPECT_EQ(ml_->stats().datagrams_dropped_oversize, 0u);
}

// Before the fix: the same CHECK abort as above, from our own (valid) configuration.
TEST_F(HostileMemberlistTest, AnOversizedOutgoingDatagramIsDroppedAndCountedNotAnAbort) {
  MemberlistConfig c = MemberlistConfig::Lan("a");
  c.datagram_bytes_max = 100;  // smaller than a ping naming a 128-byte member
  Make(c);
  const std::string longest(kNodeNameBytesMax, 'n');
  Deliver("addr-l", {AliveMsg(longest, "addr-l", 1)});
  Run(absl::Seconds(3));
  EXPECT_GE(ml_->stats().datagrams_dropped_oversize, 1u);
}

class HostileSerfTest : public ::testing::Test {
 protected:
  void Make(SerfConfig c) {
    serf_ = std::make_unique<Serf>(std::move(c), "addr-a", 5, Logger());
    serf_->Start(now_, &out_);
  }
  void DeliverMember(const std::string& name) {
    serf_->HandleMessage(now_, MessageInput{"addr-" + name, Channel::kDatagram, Packet({AliveMsg(name, "addr-" + name, 1)})},
                         &out_);
  }
  void DeliverSerf(const pb::SerfMessage& sm, Channel ch = Channel::kDatagram) {
    pb::Message m;
    m.mutable_user()->set_payload(sm.SerializeAsString());
    serf_->HandleMessage(now_, MessageInput{"addr-b", ch, Packet({m})}, &out_);
  }
  static pb::SerfMessage RemoteQuery(uint32_t id, const std::string& key, const std::string& pattern) {
    pb::SerfMessage m;
    pb::Query* q = m.mutable_query();
    q->set_ltime(3);
    q->set_id(id);
    q->set_origin("b");
    q->set_origin_addr("addr-b");
    q->set_name("load");
    pb::Tag* t = q->add_filter_tags();
    t->set_key(key);
    t->set_value(pattern);
    return m;
  }
  size_t QueryEvents() {
    size_t n = 0;
    for (const auto& e : out_.events) n += e.kind == "query:load";
    return n;
  }
  void CheckDatagrams() {
    for (const auto& m : out_.messages) {
      if (m.channel == Channel::kDatagram) {
        EXPECT_LE(m.payload.size(), kDatagramPayloadBytesMax);
      }
    }
  }

  Time now_ = SimEpoch();
  Effects out_;
  std::unique_ptr<Serf> serf_;
};

// Distinct events at one Lamport time are remembered for deduplication; a forged burst at one
// time would grow that slot (and each arrival's check) without bound. Before: all 300 delivered.
TEST_F(HostileSerfTest, ABurstOfEventsAtOneLamportTimeIsBounded) {
  SerfConfig c = SerfConfig::Lan("a");
  Make(c);
  DeliverMember("b");
  const uint64_t before = serf_->stats().messages_rejected;
  size_t delivered = 0;
  for (int i = 0; i < 300; ++i) {
    pb::SerfMessage ev;
    ev.mutable_user_event()->set_ltime(7);
    ev.mutable_user_event()->set_name("e" + std::to_string(i));
    DeliverSerf(ev);
  }
  for (const auto& [key, n] : serf_->stats().user_delivered) delivered += n;
  EXPECT_EQ(delivered, static_cast<size_t>(c.events_per_ltime_max));
  EXPECT_EQ(serf_->stats().messages_rejected - before, 300u - c.events_per_ltime_max);
  for (int i = 0; i < 300; ++i) DeliverSerf(RemoteQuery(1000 + i, "role", ".*"));
  EXPECT_EQ(serf_->stats().messages_rejected - before, 600u - c.events_per_ltime_max - c.queries_per_ltime_max);
}

// Before the fix the query was accepted, and sending it straight to "b" aborted:
//   CHECK failed: used <= config_.datagram_bytes_max: a single gossip message exceeds the
//   datagram limit
TEST_F(HostileSerfTest, ALocalQueryWithHugeNodeOrTagFiltersIsAnErrorNotAnAbort) {
  Make(SerfConfig::Lan("a"));
  DeliverMember("b");
  QueryParams nodes;
  nodes.filter_nodes.push_back("b");
  for (int i = 0; i < 100; ++i) nodes.filter_nodes.push_back(std::string(100, 'a' + i % 26));
  auto q = serf_->Query(now_, "load", "", nodes, nullptr, &out_);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  QueryParams one_long_node;
  one_long_node.filter_nodes = {"b", std::string(2000, 'n')};
  q = serf_->Query(now_, "load", "", one_long_node, nullptr, &out_);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  QueryParams tags;
  tags.filter_tags["role"] = std::string(5000, '.');
  q = serf_->Query(now_, "load", "", tags, nullptr, &out_);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  QueryParams bad_pattern;
  bad_pattern.filter_tags["role"] = "(unclosed";
  q = serf_->Query(now_, "load", "", bad_pattern, nullptr, &out_);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  // Name and payload within query_bytes_max, but the encoded query (origin and filters
  // too) beyond it: refused, as Serf checks the encoded message.
  QueryParams some_nodes;
  for (int i = 0; i < 10; ++i) some_nodes.filter_nodes.push_back(std::string(100, 'a' + i));
  q = serf_->Query(now_, "load", std::string(100, 'p'), some_nodes, nullptr, &out_);
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << q.status();
  CheckDatagrams();
  // A query within every bound still works.
  QueryParams fine;
  fine.filter_nodes = {"b"};
  fine.filter_tags["role"] = ".*";
  EXPECT_TRUE(serf_->Query(now_, "load", "x", fine, nullptr, &out_).ok());
  CheckDatagrams();
}

// Issue 10 item 3. With std::regex this test never finished: `(a*)*b` against 24 'a's
// backtracks through ~2^23 ways to split the run (18 'a's took 31 s in a standalone check,
// each 'a' more multiplies it), so the test hit its 60 s timeout. We assert the results and
// rely on that timeout rather than on a wall-clock bound (which would be flaky); RE2 answers
// in microseconds.
TEST_F(HostileSerfTest, APathologicalTagFilterIsMatchedInLinearTime) {
  SerfConfig c = SerfConfig::Lan("a");
  c.tags = {{"role", std::string(24, 'a')}};
  Make(c);
  DeliverSerf(RemoteQuery(1, "role", "(a*)*b"));
  EXPECT_EQ(QueryEvents(), 0u) << "no 'b' at the end: no match";
  DeliverSerf(RemoteQuery(2, "role", "(a*)*a"));
  EXPECT_EQ(QueryEvents(), 1u) << "a match";
  DeliverSerf(RemoteQuery(3, "role", "(a|aa)*c"));
  EXPECT_EQ(QueryEvents(), 1u);
  // Malformed or oversized remote patterns: nothing to answer, and no abort.
  DeliverSerf(RemoteQuery(4, "role", "(unclosed"));
  DeliverSerf(RemoteQuery(5, "role", std::string(300, 'a')));
  EXPECT_EQ(QueryEvents(), 1u);
}

// Remote Serf messages whose names, sizes or filters are over the bounds are dropped: not
// handled, not passed on (their rebroadcast would never fit a datagram).
TEST_F(HostileSerfTest, OversizedRemoteSerfMessagesAreDropped) {
  Make(SerfConfig::Lan("a"));
  DeliverMember("b");
  const uint64_t before = serf_->stats().messages_rejected;
  pb::SerfMessage join;
  join.mutable_join()->set_node(std::string(2000, 'j'));
  join.mutable_join()->set_ltime(5);
  DeliverSerf(join, Channel::kStream);
  pb::SerfMessage ev;
  ev.mutable_user_event()->set_ltime(2);
  ev.mutable_user_event()->set_name("deploy");
  ev.mutable_user_event()->set_payload(std::string(5000, 'p'));
  DeliverSerf(ev, Channel::kStream);
  EXPECT_EQ(serf_->stats().user_delivered.count("deploy@2"), 0u);
  pb::SerfMessage q = RemoteQuery(9, "role", ".*");
  for (int i = 0; i < 40; ++i) q.mutable_query()->add_filter_nodes(std::string(100, 'f'));
  DeliverSerf(q, Channel::kStream);
  pb::SerfMessage relayed;
  relayed.mutable_query_response()->set_from("b");
  relayed.mutable_query_response()->set_relay_to(std::string(2000, 'r'));
  DeliverSerf(relayed);
  EXPECT_EQ(serf_->stats().messages_rejected - before, 4u);
  out_.messages.clear();
  for (int i = 0; i < 30; ++i) {
    now_ += absl::Milliseconds(200);
    serf_->Tick(now_, &out_);
  }
  CheckDatagrams();
  for (const auto& m : out_.messages) {
    EXPECT_EQ(m.payload.find(std::string(100, 'p')), std::string::npos) << "the oversized event was passed on";
  }
}

}  // namespace
}  // namespace muster::gossip
