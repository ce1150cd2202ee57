// Unit tests of the Serf level, driven by hand: Lamport ordering of intents, user-event
// deduplication and coalescing, size limits, handler filters and their SERF_* contract.
#include "core/gossip/serf.h"

#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/gossip/serf_machine.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

class SerfTest : public ::testing::Test {
 protected:
  void Make(SerfConfig c) {
    serf_ = std::make_unique<Serf>(std::move(c), "addr-a", 3, Logger());
    serf_->Start(now_, &out_);
  }
  SerfConfig Config() {
    SerfConfig c = SerfConfig::Lan("a");
    c.tags = {{"role", "server"}, {"dc", "dc1"}};
    return c;
  }
  void DeliverSerf(const pb::SerfMessage& sm, const Address& from = "addr-b") {
    pb::Message m;
    m.mutable_user()->set_payload(sm.SerializeAsString());
    serf_->HandleMessage(now_, MessageInput{from, Channel::kDatagram, PackMessages({m.SerializeAsString()})}, &out_);
  }
  // Query "load" (ltime 3, id 42, an ack asked) from member b, as it arrives from the network.
  static pb::SerfMessage LoadQueryFromB() {
    pb::SerfMessage q;
    pb::Query* query = q.mutable_query();
    query->set_ltime(3);
    query->set_id(42);
    query->set_origin("b");
    query->set_origin_addr("addr-b");
    query->set_name("load");
    query->set_request_ack(true);
    return q;
  }
  void DeliverMember(const std::string& name, uint64_t inc, TagMap tags = {}) {
    pb::Tags t;
    for (const auto& [k, v] : tags) {
      auto* tag = t.add_tags();
      tag->set_key(k);
      tag->set_value(v);
    }
    pb::Message m;
    m.mutable_alive()->set_node(name);
    m.mutable_alive()->set_addr("addr-" + name);
    m.mutable_alive()->set_incarnation(inc);
    m.mutable_alive()->set_meta(t.SerializeAsString());
    serf_->HandleMessage(now_, MessageInput{"addr-" + name, Channel::kDatagram, PackMessages({m.SerializeAsString()})},
                         &out_);
  }
  void DeliverDead(const std::string& name, uint64_t inc, const std::string& from) {
    pb::Message m;
    m.mutable_dead()->set_node(name);
    m.mutable_dead()->set_incarnation(inc);
    m.mutable_dead()->set_from(from);
    serf_->HandleMessage(now_, MessageInput{"addr-x", Channel::kDatagram, PackMessages({m.SerializeAsString()})},
                         &out_);
  }
  static pb::SerfMessage UserEv(uint64_t ltime, const std::string& name, const std::string& payload) {
    pb::SerfMessage m;
    m.mutable_user_event()->set_ltime(ltime);
    m.mutable_user_event()->set_name(name);
    m.mutable_user_event()->set_payload(payload);
    return m;
  }
  std::vector<std::string> EventKinds() {
    std::vector<std::string> kinds;
    for (const auto& e : out_.events) kinds.push_back(e.kind);
    return kinds;
  }
  void AdvanceTo(Time t) {
    // The wake-up comes through the batch (out_ keeps the earliest one asked for).
    while (out_.wake_at && *out_.wake_at <= t) {
      now_ = std::max(now_, *out_.wake_at);
      out_.wake_at.reset();
      serf_->Tick(now_, &out_);
    }
    now_ = t;
  }

  Time now_ = SimEpoch();
  Effects out_;
  std::unique_ptr<Serf> serf_;
};

TEST_F(SerfTest, UserEventsAreDeliveredOncePerLamportTimeNameAndPayload) {
  Make(Config());
  DeliverSerf(UserEv(5, "deploy", "v1"));
  DeliverSerf(UserEv(5, "deploy", "v1"));  // duplicate (network or gossip)
  DeliverSerf(UserEv(5, "deploy", "v2"));  // same time, different payload: another event
  DeliverSerf(UserEv(6, "deploy", "v1"));  // a later event with the same content
  EXPECT_EQ(serf_->stats().user_delivered.at("deploy@5"), 2u);
  EXPECT_EQ(serf_->stats().user_delivered.at("deploy@6"), 1u);
  EXPECT_EQ(serf_->stats().user_duplicates_dropped, 1u);
  EXPECT_GT(serf_->event_ltime(), 6u) << "the event clock witnessed the remote times";
  EXPECT_EQ(EventKinds(), (std::vector<std::string>{"member-join", "user:deploy", "user:deploy", "user:deploy"}));
}

// The calling convention: every entry point ends by asking, in its own batch, for the
// earliest timer, its own level's timers (a query's deadline) included.
TEST_F(SerfTest, EveryEntryPointAsksForItsNextWakeUpInTheBatch) {
  Make(Config());
  EXPECT_EQ(out_.wake_at, serf_->memberlist().timers().Next());
  AdvanceTo(now_ + absl::Seconds(1));
  Effects batch;
  QueryParams params;
  params.timeout = absl::Milliseconds(1);
  ASSERT_TRUE(serf_->Query(now_, "load", "", params, nullptr, &batch).ok());
  ASSERT_TRUE(batch.wake_at.has_value());
  EXPECT_EQ(*batch.wake_at, *serf_->memberlist().timers().Next());
  EXPECT_LE(*batch.wake_at, now_ + absl::Milliseconds(1)) << "the query's deadline counts";
  Effects tick;
  serf_->Tick(*batch.wake_at, &tick);
  EXPECT_EQ(tick.wake_at, serf_->memberlist().timers().Next());
}

// A join no seed answers fails at its deadline, with the machine woken for it through the
// batch (it used to plant an empty 10 s timer to be polled for).
TEST(SerfMachineTest, AnUnansweredJoinFailsAtItsDeadline) {
  MachineContext ctx;
  ctx.address = "a";
  ctx.seed = 9;
  ctx.now = SimEpoch();
  SerfMachine machine(ctx, SerfConfig::Lan("a"));
  Time now = SimEpoch();
  Effects out;
  machine.Step(Input{now, RequestInput{1, "join", "nowhere"}}, &out);
  std::optional<Response> answer;
  // Only the batches' wake-ups drive it; every message is lost.
  for (int i = 0; i < 100'000 && !answer.has_value(); ++i) {
    ASSERT_TRUE(out.wake_at.has_value()) << "a batch asked for no wake-up";
    now = *out.wake_at;
    out = Effects();
    machine.Step(Input{now, TickInput{}}, &out);
    for (const Response& r : out.responses) {
      if (r.request_id == 1) answer = r;
    }
  }
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(now, SimEpoch() + absl::Seconds(10)) << "answered at the deadline, not at a later timer";
}

TEST_F(SerfTest, EventsOlderThanTheBufferAreDropped) {
  SerfConfig c = Config();
  c.event_buffer = 16;
  Make(c);
  DeliverSerf(UserEv(100, "x", ""));
  DeliverSerf(UserEv(50, "old", ""));  // 100 - 50 > 16: can no longer be deduplicated
  EXPECT_EQ(serf_->stats().user_delivered.count("old@50"), 0u);
  DeliverSerf(UserEv(90, "recent", ""));
  EXPECT_EQ(serf_->stats().user_delivered.count("recent@90"), 1u);
}

TEST_F(SerfTest, LocalUserEventsRespectTheSizeLimitAndCarryIncreasingTimes) {
  Make(Config());
  EXPECT_TRUE(serf_->UserEvent(now_, "a", "1", false, &out_).ok());
  EXPECT_TRUE(serf_->UserEvent(now_, "a", "1", false, &out_).ok());
  EXPECT_EQ(serf_->stats().user_delivered.size(), 2u) << "two firings, two events";
  auto big = serf_->UserEvent(now_, "big", std::string(600, 'x'), false, &out_);
  EXPECT_EQ(big.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SerfTest, CoalescedUserEventsDeliverOnlyTheLatestPerName) {
  SerfConfig c = Config();
  c.user_coalesce_period = absl::Seconds(2);
  c.user_quiescent_period = absl::Milliseconds(500);
  Make(c);
  for (uint64_t t = 1; t <= 3; ++t) {
    auto m = UserEv(t, "deploy", "v" + std::to_string(t));
    m.mutable_user_event()->set_coalesce(true);
    DeliverSerf(m);
    AdvanceTo(now_ + absl::Milliseconds(100));
  }
  EXPECT_TRUE(serf_->stats().user_delivered.empty()) << "held while events keep coming";
  AdvanceTo(now_ + absl::Seconds(1));
  ASSERT_EQ(serf_->stats().user_delivered.size(), 1u);
  EXPECT_EQ(serf_->stats().user_delivered.begin()->first, "deploy@3");
}

TEST_F(SerfTest, IntentsAreOrderedByLamportTime) {
  Make(Config());
  DeliverMember("b", 1, {{"role", "client"}});
  pb::SerfMessage join;
  join.mutable_join()->set_node("b");
  join.mutable_join()->set_ltime(10);
  DeliverSerf(join);
  EXPECT_EQ(serf_->member("b")->status_ltime, 10u);
  pb::SerfMessage leave;
  leave.mutable_leave()->set_node("b");
  leave.mutable_leave()->set_ltime(9);
  DeliverSerf(leave);
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kAlive) << "an older leave loses to a newer join";
  leave.mutable_leave()->set_ltime(11);
  DeliverSerf(leave);
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kLeaving);
  EXPECT_GT(serf_->member_ltime(), 11u);
  // Its death after a leave intent is a leave, not a failure.
  DeliverDead("b", 1, "c");
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kLeft);
  EXPECT_EQ(serf_->stats().events.at("member-leave"), 1u);
  EXPECT_EQ(serf_->stats().events.count("member-failed"), 0u);
}

// A restarted node's join can draw the Lamport time of its previous life's goodbye; peers
// that hold the goodbye then see a join of the same time, which orders nothing, and kept it
// leaving. Our own goodbye at the time of our latest intent is refuted like an older one
// (found by the swarm, seeds 356 and 2960).
TEST_F(SerfTest, AnOldGoodbyeOfOursAtOurLatestIntentsTimeIsRefuted) {
  Make(Config());
  serf_->Join(now_, {}, &out_);
  const uint64_t latest = serf_->member("a")->status_ltime;
  ASSERT_GT(latest, 0u);
  pb::SerfMessage leave;
  leave.mutable_leave()->set_node("a");
  leave.mutable_leave()->set_ltime(latest);
  DeliverSerf(leave);
  EXPECT_EQ(serf_->member("a")->status, MemberStatus::kAlive);
  EXPECT_GT(serf_->member("a")->status_ltime, latest) << "refuted with a newer join intent";
}

TEST_F(SerfTest, ALateLeaveIntentTurnsAFailedMemberIntoALeftOne) {
  Make(Config());
  DeliverMember("b", 1);
  DeliverDead("b", 1, "c");
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kFailed);
  pb::SerfMessage leave;
  leave.mutable_leave()->set_node("b");
  leave.mutable_leave()->set_ltime(3);
  DeliverSerf(leave);
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kLeft);
  EXPECT_EQ(serf_->stats().events.at("member-leave"), 1u);
}

TEST_F(SerfTest, ForceLeaveTurnsAFailedMemberLeftAndPruneForgetsIt) {
  Make(Config());
  DeliverMember("b", 1);
  DeliverMember("c", 1);
  DeliverDead("b", 1, "c");
  DeliverDead("c", 1, "b");
  ASSERT_EQ(serf_->member("b")->status, MemberStatus::kFailed);
  ASSERT_TRUE(serf_->ForceLeave(now_, "b", /*prune=*/false, &out_).ok());
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kLeft);
  EXPECT_EQ(serf_->stats().events.at("member-leave"), 1u);
  // With prune a failed member is gone from our list at once, reaped.
  ASSERT_TRUE(serf_->ForceLeave(now_, "c", /*prune=*/true, &out_).ok());
  EXPECT_EQ(serf_->member("c"), nullptr);
  EXPECT_EQ(serf_->stats().events.at("member-reap"), 1u);
  // Unknown names are fine (Consul answers 200); ourselves and bad names are not.
  EXPECT_TRUE(serf_->ForceLeave(now_, "nobody", false, &out_).ok());
  EXPECT_FALSE(serf_->ForceLeave(now_, "a", false, &out_).ok());
  EXPECT_FALSE(serf_->ForceLeave(now_, "", false, &out_).ok());
  EXPECT_FALSE(serf_->ForceLeave(now_, std::string(500, 'x'), false, &out_).ok());
}

// Issue 10 item 10, the Serf half: memberlist drops a failed member after
// GossipToTheDeadTime (memberlist_test), but Serf keeps it as failed, reconnects to it, and
// its push-pull state still names it, until the reconnect timeout reaps it.
TEST_F(SerfTest, AFailedMemberStaysFailedInSerfAfterMemberlistDropsIt) {
  SerfConfig c = Config();
  c.reconnect_interval = absl::Seconds(10);
  Make(c);
  DeliverMember("b", 1);
  DeliverDead("b", 1, "c");
  AdvanceTo(now_ + c.memberlist.gossip_to_the_dead_time + absl::Seconds(1));
  EXPECT_EQ(serf_->memberlist().Node("b"), nullptr) << "gone from memberlist's list";
  ASSERT_NE(serf_->member("b"), nullptr);
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kFailed);
  out_.messages.clear();
  AdvanceTo(now_ + absl::Seconds(30));
  int reconnects = 0;
  for (const auto& m : out_.messages) reconnects += m.to == "addr-b" && m.channel == Channel::kStream;
  EXPECT_GE(reconnects, 2) << "reconnect tries it every 10 s";
  EXPECT_EQ(serf_->stats().events.count("member-reap"), 0u);
}

// Issue 10 item 13. A member declared failed (a stall, a lost probe round) whose own goodbye
// then reaches memberlist (its dead message with from == node, or a push-pull listing it
// left) is left at the Serf level too: one member-leave, no more reconnects, and reaped on
// the tombstone timeout rather than the (much longer) reconnect timeout.
TEST_F(SerfTest, AFailedMemberThatMemberlistLearnsLeftIsLeftNotReconnectedAndReapedAsATombstone) {
  SerfConfig c = Config();
  c.reconnect_interval = absl::Seconds(10);
  c.reconnect_timeout = absl::Hours(24);
  c.tombstone_timeout = absl::Minutes(2);
  Make(c);
  DeliverMember("b", 1);
  DeliverDead("b", 1, "c");
  ASSERT_EQ(serf_->member("b")->status, MemberStatus::kFailed);
  DeliverDead("b", 1, "b");  // its goodbye, late
  EXPECT_EQ(serf_->member("b")->status, MemberStatus::kLeft);
  EXPECT_EQ(serf_->stats().events.count("member-leave"), 1u);
  // The same goodbye again (gossip repeats itself) is no second event.
  DeliverDead("b", 1, "b");
  EXPECT_EQ(serf_->stats().events.at("member-leave"), 1u);
  out_.messages.clear();
  // Reconnect runs every 10 s and, with one failed member of one alive, always tries.
  AdvanceTo(now_ + absl::Seconds(100));
  int reconnects = 0;
  for (const auto& m : out_.messages) reconnects += m.to == "addr-b" && m.channel == Channel::kStream;
  EXPECT_EQ(reconnects, 0) << "a left member is not reconnected to";
  ASSERT_NE(serf_->member("b"), nullptr) << "not reaped before the tombstone timeout";
  AdvanceTo(now_ + absl::Seconds(40));  // 140 s: past 2 min plus a 15 s reap interval
  EXPECT_EQ(serf_->member("b"), nullptr) << "reaped on the tombstone timeout";
}

TEST_F(SerfTest, IntentsForUnknownMembersWaitForTheirJoin) {
  Make(Config());
  pb::SerfMessage leave;
  leave.mutable_leave()->set_node("z");
  leave.mutable_leave()->set_ltime(4);
  DeliverSerf(leave);
  EXPECT_EQ(serf_->member("z"), nullptr);
  DeliverMember("z", 1);
  EXPECT_EQ(serf_->member("z")->status, MemberStatus::kLeaving);
  EXPECT_EQ(serf_->member("z")->status_ltime, 4u);
}

TEST_F(SerfTest, TagChangesArriveAsMemberUpdate) {
  Make(Config());
  DeliverMember("b", 1, {{"role", "client"}});
  DeliverMember("b", 2, {{"role", "server"}});
  EXPECT_EQ(serf_->member("b")->tags.at("role"), "server");
  EXPECT_EQ(serf_->stats().events.at("member-update"), 1u);
}

TEST_F(SerfTest, OversizedTagsAreRefused) {
  Make(Config());
  EXPECT_EQ(serf_->SetTags(now_, {{"role", std::string(600, 'x')}}, &out_).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(serf_->SetTags(now_, {{"role", "client"}}, &out_).ok());
  EXPECT_EQ(serf_->member("a")->tags.at("role"), "client");
}

TEST_F(SerfTest, HandlersRunForMatchingEventsWithTheSerfEnvironment) {
  SerfConfig c = Config();
  c.handlers = {{"member-join,user:deploy", "handle.sh"}, {"query", "answer.sh"}};
  Make(c);
  out_.processes.clear();
  DeliverMember("b", 1, {{"role", "client"}, {"port", "8301"}});
  ASSERT_EQ(out_.processes.size(), 1u);
  const ProcessStart& p = out_.processes[0];
  EXPECT_EQ(p.command, "handle.sh");
  EXPECT_EQ(p.stdin_data, "b\taddr-b\tclient\tport=8301,role=client\n");
  auto env = [&](const ProcessStart& ps, const std::string& k) {
    for (const auto& [key, v] : ps.env) {
      if (key == k) return v;
    }
    return std::string("<unset>");
  };
  EXPECT_EQ(env(p, "SERF_EVENT"), "member-join");
  EXPECT_EQ(env(p, "SERF_SELF_NAME"), "a");
  EXPECT_EQ(env(p, "SERF_SELF_ROLE"), "server");
  EXPECT_EQ(env(p, "SERF_TAG_DC"), "dc1");
  out_.processes.clear();
  DeliverSerf(UserEv(7, "deploy", "payload-bytes"));
  DeliverSerf(UserEv(8, "other", "x"));
  ASSERT_EQ(out_.processes.size(), 1u) << "user:other matches no handler";
  EXPECT_EQ(env(out_.processes[0], "SERF_EVENT"), "user");
  EXPECT_EQ(env(out_.processes[0], "SERF_USER_EVENT"), "deploy");
  EXPECT_EQ(env(out_.processes[0], "SERF_USER_LTIME"), "7");
  EXPECT_EQ(out_.processes[0].stdin_data, "payload-bytes\n");  // Serf ends a payload with a newline
}

TEST_F(SerfTest, QueriesAreFilteredAckedAndAnsweredFromTheHandlerOutput) {
  SerfConfig c = Config();
  c.handlers = {{"query:load", "load.sh"}};
  Make(c);
  DeliverMember("b", 1);
  out_.processes.clear();
  out_.messages.clear();
  pb::SerfMessage q = LoadQueryFromB();
  pb::Query* query = q.mutable_query();
  auto* tag = query->add_filter_tags();
  tag->set_key("role");
  tag->set_value("serv.*");
  DeliverSerf(q);
  ASSERT_EQ(out_.processes.size(), 1u);
  EXPECT_EQ(out_.processes[0].command, "load.sh");
  serf_->HandleProcessExit(now_, ProcessExitedInput{out_.processes[0].id, 0, false, "0.5"}, &out_);
  bool acked = false, answered = false;
  for (const auto& m : out_.messages) {
    pb::Packet p;
    ASSERT_TRUE(p.ParseFromString(m.payload));
    for (const auto& msg : p.messages()) {
      if (!msg.has_user()) continue;
      pb::SerfMessage sm;
      ASSERT_TRUE(sm.ParseFromString(msg.user().payload()));
      if (!sm.has_query_response() || m.to != "addr-b") continue;
      acked |= sm.query_response().ack();
      answered |= !sm.query_response().ack() && sm.query_response().payload() == "0.5";
    }
  }
  EXPECT_TRUE(acked);
  EXPECT_TRUE(answered);
  // The same query again (duplicate): no second run.
  out_.processes.clear();
  DeliverSerf(q);
  EXPECT_TRUE(out_.processes.empty());
  // A query for other tags or other nodes: no run.
  query->set_id(43);
  tag->set_value("client");
  DeliverSerf(q);
  query->set_id(44);
  query->clear_filter_tags();
  query->add_filter_nodes("zz");
  DeliverSerf(q);
  EXPECT_TRUE(out_.processes.empty());
}

// Issue 10 item 14: with the query spread by gossip only, an answer may take other roads
// too. Serf's RelayFactor: each ack and response goes to the asker directly and through K
// random other members, which forward it only to an asker they know alive.
TEST_F(SerfTest, QueryAnswersAlsoTravelThroughRelayFactorRelays) {
  SerfConfig c = Config();
  c.handlers = {{"query:load", "load.sh"}};
  Make(c);
  for (const char* n : {"b", "c", "d", "e"}) DeliverMember(n, 1);
  out_.processes.clear();
  out_.messages.clear();
  pb::SerfMessage q = LoadQueryFromB();
  pb::Query* query = q.mutable_query();
  query->set_relay_factor(2);
  DeliverSerf(q);
  ASSERT_EQ(out_.processes.size(), 1u);
  serf_->HandleProcessExit(now_, ProcessExitedInput{out_.processes[0].id, 0, false, "0.5"}, &out_);
  // (to, ack, relay_to) of every query response we sent.
  auto responses = [&] {
    std::vector<std::tuple<Address, bool, std::string>> v;
    for (const auto& m : out_.messages) {
      pb::Packet p;
      EXPECT_TRUE(p.ParseFromString(m.payload));
      for (const auto& msg : p.messages()) {
        pb::SerfMessage sm;
        if (!msg.has_user() || !sm.ParseFromString(msg.user().payload()) || !sm.has_query_response()) continue;
        v.emplace_back(m.to, sm.query_response().ack(), sm.query_response().relay_to());
      }
    }
    out_.messages.clear();
    return v;
  };
  int direct = 0;
  std::set<Address> ack_relays, response_relays;
  for (const auto& [to, ack, relay_to] : responses()) {
    if (to == "addr-b") {
      direct++;
      EXPECT_TRUE(relay_to.empty());
    } else {
      EXPECT_EQ(relay_to, "addr-b");
      EXPECT_NE(to, "addr-a");
      EXPECT_TRUE((ack ? ack_relays : response_relays).insert(to).second) << "a relay drawn twice";
    }
  }
  EXPECT_EQ(direct, 2) << "the ack and the response";
  EXPECT_EQ(ack_relays.size(), 2u) << "the ack also through 2 other members";
  EXPECT_EQ(response_relays.size(), 2u) << "the response also through 2 other members";
  // As a relay: forwarded to the asker, a member; never to an address we do not know.
  pb::SerfMessage copy;
  copy.mutable_query_response()->set_ltime(5);
  copy.mutable_query_response()->set_id(7);
  copy.mutable_query_response()->set_from("c");
  copy.mutable_query_response()->set_payload("x");
  copy.mutable_query_response()->set_relay_to("addr-d");
  DeliverSerf(copy, "addr-c");
  auto sent = responses();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(std::get<0>(sent[0]), "addr-d");
  EXPECT_TRUE(std::get<2>(sent[0]).empty()) << "forwarded as a plain response";
  copy.mutable_query_response()->set_relay_to("addr-elsewhere");
  DeliverSerf(copy, "addr-c");
  EXPECT_TRUE(responses().empty()) << "not a member: dropped";
  // A remote relay factor is bounded.
  query->set_id(43);
  query->set_relay_factor(1000);
  query->set_request_ack(true);
  DeliverSerf(q);
  EXPECT_LE(responses().size(), 1u + kQueryRelayFactorMax);
  // And a local one is refused beyond the bound.
  QueryParams params;
  params.relay_factor = kQueryRelayFactorMax + 1;
  EXPECT_EQ(serf_->Query(now_, "load", "", params, nullptr, &out_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EventFilterTest, ParsesAndMatches) {
  auto f = ParseEventFilters("member-join, user:deploy,query");
  ASSERT_TRUE(f.ok());
  SerfEvent join{.type = "member-join"};
  SerfEvent deploy{.type = "user", .name = "deploy"};
  SerfEvent other{.type = "user", .name = "other"};
  SerfEvent query{.type = "query", .name = "anything"};
  SerfEvent fail{.type = "member-failed"};
  EXPECT_TRUE(FilterMatches(*f, join));
  EXPECT_TRUE(FilterMatches(*f, deploy));
  EXPECT_FALSE(FilterMatches(*f, other));
  EXPECT_TRUE(FilterMatches(*f, query));
  EXPECT_FALSE(FilterMatches(*f, fail));
  EXPECT_TRUE(FilterMatches(*ParseEventFilters(""), fail)) << "no filter: everything";
  EXPECT_FALSE(ParseEventFilters("member-explode").ok());
  EXPECT_FALSE(ParseEventFilters("member-join:x").ok());
}

}  // namespace
}  // namespace muster::gossip
