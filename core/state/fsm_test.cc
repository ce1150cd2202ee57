// The FSM: commands applied in log order, deterministic results, snapshot round trip
// (restore(snapshot(s)) hashes the same and answers queries identically).
#include <gtest/gtest.h>

#include "core/state/codec.h"
#include "core/state/fsm.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using proto::state::KVRequest;
using proto::state::SessionRequest;
using testing::KV;
using testing::LiveNodeReq;
using testing::MakeCheck;
using testing::MakeSession;
using testing::NodeReq;
using testing::ServiceReq;
using testing::T;

ApplyResult Apply(Fsm& f, uint64_t index, const proto::state::Command& c) {
  return f.Apply(index, c.SerializeAsString());  // through the bytes, as from the log
}

// A state touching every table: nodes, services, checks, KV (locked and not), tombstones,
// sessions with TTLs, lock delays.
void Populate(Fsm& f) {
  uint64_t i = 1;
  RegisterRequest web = ServiceReq("n1", "web-1", "web", {"v1"}, 8080);
  web.node.meta = {{"rack", "r1"}};
  web.node.tagged_addresses = {{"wan", "1.1.1.1"}};
  web.service->meta = {{"version", "3"}};
  web.service->tagged_addresses["lan"] = ServiceAddress{"10.1.1.1", 81};
  web.service->weights = Weights{10, 2};
  web.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  web.checks.push_back(MakeCheck("http", HealthStatus::kWarning, "web-1"));
  ASSERT_TRUE(Apply(f, i++, commands::Register(T(0), web)).status.ok());
  ASSERT_TRUE(Apply(f, i++, commands::Register(T(0), LiveNodeReq("n2", "10.0.0.2"))).status.ok());
  ASSERT_TRUE(Apply(f, i++, commands::SessionCreate(T(1), MakeSession("s1", "n1", absl::Seconds(30)), true)).status.ok());
  ASSERT_TRUE(Apply(f, i++, commands::SessionCreate(T(1), MakeSession("s2", "n2"), true)).status.ok());
  ASSERT_TRUE(Apply(f, i++, commands::KV(T(2), KVRequest::SET, KV("cfg/a", "1", "", 7))).ok);
  ASSERT_TRUE(Apply(f, i++, commands::KV(T(2), KVRequest::SET, KV("cfg/b", "2"))).ok);
  ASSERT_TRUE(Apply(f, i++, commands::KV(T(2), KVRequest::DELETE, KV("cfg/b"))).ok);
  ASSERT_TRUE(Apply(f, i++, commands::KV(T(3), KVRequest::LOCK, KV("lock/a", "x", "s1"))).ok);
  ASSERT_TRUE(Apply(f, i++, commands::KV(T(3), KVRequest::LOCK, KV("lock/b", "y", "s2"))).ok);
  ASSERT_TRUE(Apply(f, i++, commands::SessionOp(T(4), SessionRequest::DESTROY, "s2")).status.ok());
}

TEST(FsmTest, AppliesCommandsAndReportsResults) {
  Fsm f;
  ASSERT_TRUE(Apply(f, 1, commands::Register(T(0), LiveNodeReq("n1"))).status.ok());
  ApplyResult created = Apply(f, 2, commands::SessionCreate(T(0), MakeSession("s1", "n1", absl::Seconds(10)), true));
  ASSERT_TRUE(created.status.ok());
  ASSERT_TRUE(created.session.has_value());
  EXPECT_EQ(created.session->create_index, 2u);
  EXPECT_EQ(created.session->expires_at, T(20));

  f.watches().Add(100, {WatchTopic::KVPrefix("k")});
  f.watches().Add(101, {WatchTopic::Table(kTableSessions)});
  ApplyResult put = Apply(f, 3, commands::KV(T(1), KVRequest::CAS, KV("k", "v"), 0));
  EXPECT_TRUE(put.ok);
  EXPECT_EQ(put.woken, std::vector<uint64_t>{100});
  ApplyResult again = Apply(f, 4, commands::KV(T(1), KVRequest::CAS, KV("k", "v"), 0));
  EXPECT_TRUE(again.status.ok());
  EXPECT_FALSE(again.ok);  // Consul's "false" body
  EXPECT_TRUE(again.woken.empty());

  ApplyResult txn = Apply(f, 5, commands::Txn(T(1), {TxnOp{TxnVerb::kGet, KV("k"), 0},
                                                     TxnOp{TxnVerb::kCheckIndex, KV("k"), 99}}));
  ASSERT_TRUE(txn.status.ok());
  ASSERT_TRUE(txn.txn.has_value());
  EXPECT_FALSE(txn.ok);
  EXPECT_EQ(txn.txn->errors.at(0).op_index, 1u);

  ApplyResult renew = Apply(f, 6, commands::SessionOp(T(15), SessionRequest::RENEW, "s1"));
  EXPECT_EQ(renew.session->expires_at, T(35));
  EXPECT_EQ(Apply(f, 7, commands::SessionOp(T(15), SessionRequest::RENEW, "ghost")).status.code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(Apply(f, 8, commands::SessionOp(T(34), SessionRequest::EXPIRE, "s1")).ok);
  ApplyResult expired = Apply(f, 9, commands::SessionOp(T(35), SessionRequest::EXPIRE, "s1"));
  EXPECT_TRUE(expired.ok);
  EXPECT_EQ(expired.woken, std::vector<uint64_t>{101});

  ApplyResult garbage = f.Apply(10, std::string("\xff\xff\xff", 3));
  EXPECT_FALSE(garbage.status.ok());
  EXPECT_EQ(f.store().last_index(), 10u);
  EXPECT_FALSE(Apply(f, 11, proto::state::Command()).status.ok());  // empty command
  EXPECT_TRUE(Apply(f, 12, commands::Deregister(T(40), "n1")).status.ok());
  EXPECT_FALSE(f.store().GetNode("n1").has_value());
}

// The leader-election recipe (docs: "Application leader election with sessions"): both
// candidates hold sessions and try to acquire one key; the holder's node fails (serfHealth
// turns critical), its session goes and the key is released; the other candidate, woken by
// its blocking query, gets the lock once the lock delay has passed.
TEST(FsmTest, LeaderElectionRecipeAcrossANodeFailure) {
  Fsm f;
  uint64_t i = 0;
  const std::string key = "service/web/leader";
  ASSERT_TRUE(Apply(f, ++i, commands::Register(T(0), LiveNodeReq("n1"))).status.ok());
  ASSERT_TRUE(Apply(f, ++i, commands::Register(T(0), LiveNodeReq("n2", "10.0.0.2"))).status.ok());
  ASSERT_TRUE(Apply(f, ++i, commands::SessionCreate(T(0), MakeSession("s1", "n1"), true)).status.ok());
  ASSERT_TRUE(Apply(f, ++i, commands::SessionCreate(T(0), MakeSession("s2", "n2"), true)).status.ok());
  EXPECT_TRUE(Apply(f, ++i, commands::KV(T(1), KVRequest::LOCK, KV(key, "n1", "s1"))).ok);
  EXPECT_FALSE(Apply(f, ++i, commands::KV(T(1), KVRequest::LOCK, KV(key, "n2", "s2"))).ok);

  // n2 blocks on the key at the index it saw.
  auto seen = f.store().KVGet(key);
  ASSERT_TRUE(f.watches().Add(7, {WatchTopic::KVKey(key)}));
  RegisterRequest failed = NodeReq("n1");
  failed.skip_node_update = true;
  failed.checks.push_back(MakeCheck("serfHealth", HealthStatus::kCritical));
  ApplyResult r = Apply(f, ++i, commands::Register(T(10), failed));
  EXPECT_EQ(r.woken, std::vector<uint64_t>{7});
  auto now = f.store().KVGet(key);
  EXPECT_GT(now.index, seen.index);
  EXPECT_EQ(now.value->session, "");
  EXPECT_EQ(now.value->value, "n1");  // release keeps the value
  EXPECT_FALSE(f.store().SessionGet("s1").value.has_value());

  EXPECT_FALSE(Apply(f, ++i, commands::KV(T(24), KVRequest::LOCK, KV(key, "n2", "s2"))).ok);  // lock delay
  EXPECT_TRUE(Apply(f, ++i, commands::KV(T(25), KVRequest::LOCK, KV(key, "n2", "s2"))).ok);
  EXPECT_EQ(f.store().KVGet(key).value->lock_index, 2u);
  EXPECT_EQ(f.store().KVGet(key).value->session, "s2");
}

TEST(FsmDeathTest, OutOfOrderApplyCrashes) {
  Fsm f;
  ASSERT_TRUE(Apply(f, 5, commands::KV(T(0), KVRequest::SET, KV("k"))).ok);
  EXPECT_DEATH(Apply(f, 5, commands::KV(T(0), KVRequest::SET, KV("k"))), "out of order");
}

TEST(FsmTest, SameCommandsGiveSameHashDifferentStateDifferentHash) {
  Fsm a, b;
  Populate(a);
  Populate(b);
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
  EXPECT_EQ(a.Snapshot(), b.Snapshot());
  ASSERT_TRUE(Apply(b, 100, commands::KV(T(9), KVRequest::SET, KV("cfg/a", "1", "", 7))).ok);
  EXPECT_NE(a.ContentHash(), b.ContentHash());  // same value, but a new ModifyIndex
}

template <typename T>
void ExpectSameKV(const Indexed<std::vector<T>>& a, const Indexed<std::vector<T>>& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.value, b.value);
}

TEST(FsmTest, SnapshotRoundTripHashesAndAnswersIdentically) {
  Fsm a;
  Populate(a);
  Fsm b;
  b.watches().Add(1, {WatchTopic::KVPrefix("zzz")});
  absl::StatusOr<std::vector<uint64_t>> woken = b.Restore(a.Snapshot());
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(*woken, std::vector<uint64_t>{1});  // a restore wakes every parked query
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
  const Store& sa = a.store();
  const Store& sb = b.store();
  EXPECT_EQ(sa.last_index(), sb.last_index());
  ExpectSameKV(sa.KVList(""), sb.KVList(""));
  for (const char* p : {"cfg/", "cfg/b", "lock/", "nope"}) {
    EXPECT_EQ(sa.KVPrefixIndex(p), sb.KVPrefixIndex(p)) << p;
    EXPECT_EQ(sa.KVKeys(p, "/").value, sb.KVKeys(p, "/").value);
  }
  ExpectSameKV(sa.SessionList(), sb.SessionList());
  auto ha = sa.ServiceHealthQuery("web", {}, false);
  auto hb = sb.ServiceHealthQuery("web", {}, false);
  EXPECT_EQ(ha.index, hb.index);
  ASSERT_EQ(ha.value.size(), 1u);
  ASSERT_EQ(hb.value.size(), 1u);
  EXPECT_TRUE(ha.value[0].node.SameContent(hb.value[0].node));
  EXPECT_TRUE(ha.value[0].service.SameContent(hb.value[0].service));
  EXPECT_EQ(hb.value[0].service.tagged_addresses.at("lan").port, 81);
  EXPECT_EQ(hb.value[0].service.weights.passing, 10);
  ASSERT_EQ(ha.value[0].checks.size(), hb.value[0].checks.size());
  for (size_t i = 0; i < ha.value[0].checks.size(); ++i) {
    EXPECT_TRUE(ha.value[0].checks[i].SameContent(hb.value[0].checks[i]));
    EXPECT_EQ(ha.value[0].checks[i].modify_index, hb.value[0].checks[i].modify_index);
  }
  EXPECT_EQ(sa.Nodes().index, sb.Nodes().index);
  EXPECT_EQ(sa.ServiceIndex("web"), sb.ServiceIndex("web"));
  EXPECT_EQ(sa.KVLockDelay("lock/b"), sb.KVLockDelay("lock/b"));
  EXPECT_EQ(sa.NextSessionExpiry(), sb.NextSessionExpiry());

  // Both keep evolving identically: the lock delay and the session's locks survived.
  for (Fsm* f : {&a, &b}) {
    ApplyResult r = Apply(*f, 50, commands::KV(T(5), KVRequest::LOCK, KV("lock/b", "", "s1")));
    EXPECT_FALSE(r.ok);  // still inside s2's lock delay
    ASSERT_TRUE(Apply(*f, 51, commands::SessionOp(T(6), SessionRequest::DESTROY, "s1")).status.ok());
    EXPECT_EQ(f->store().KVGet("lock/a").value->session, "");
  }
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
}

// The hash sees even the changes no query index shows: a renewed TTL deadline, a reaped
// tombstone, an expired lock delay that got pruned.
TEST(FsmTest, ContentHashCoversInvisibleState) {
  Fsm f;
  Populate(f);
  uint64_t h = f.ContentHash();
  auto changed = [&] {
    uint64_t now = f.ContentHash();
    bool differs = now != h;
    h = now;
    return differs;
  };
  ASSERT_TRUE(Apply(f, 20, commands::SessionOp(T(50), SessionRequest::RENEW, "s1")).status.ok());
  EXPECT_TRUE(changed());
  ASSERT_TRUE(Apply(f, 21, commands::ReapTombstones(T(50), 20)).status.ok());
  EXPECT_TRUE(changed());
  ASSERT_TRUE(Apply(f, 22, commands::ReapTombstones(T(50), 20)).status.ok());
  EXPECT_TRUE(changed());  // only the applied index moved, and that counts too
  Fsm g;
  ASSERT_TRUE(g.Restore(f.Snapshot()).ok());
  EXPECT_EQ(g.ContentHash(), f.ContentHash());
}

TEST(FsmTest, RestoreRejectsGarbageAndKeepsState) {
  Fsm f;
  Populate(f);
  const uint64_t hash = f.ContentHash();
  EXPECT_FALSE(f.Restore("definitely not a snapshot").ok());
  // A snapshot whose key names a session that is not in it.
  pb::Snapshot bad;
  bad.set_version(1);
  *bad.add_kvs() = ToProto(KV("k", "", "ghost"));
  EXPECT_FALSE(f.Restore(bad.SerializeAsString()).ok());
  EXPECT_EQ(f.ContentHash(), hash);
}

TEST(FsmTest, EmptyStoreRoundTrips) {
  Fsm a, b;
  ASSERT_TRUE(b.Restore(a.Snapshot()).ok());
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
  EXPECT_EQ(b.store().KVGet("x").index, 1u);
}

// A snapshot comes from the network: one whose tables or records carry indexes past its own
// last index is refused, not loaded (the fuzzer's: table index 23 at last_index 16 restored,
// and the next command aborted on "table services index went back").
TEST(FsmTest, ASnapshotWithIndexesPastItsOwnIsRefused) {
  Fsm a;
  ASSERT_TRUE(a.Apply(5, commands::Register(T(1), ServiceReq("n1", "web-1", "web"))).status.ok());
  proto::state::Snapshot snap;
  ASSERT_TRUE(snap.ParseFromString(a.Snapshot()));
  snap.set_last_index(3);
  Fsm b;
  absl::StatusOr<std::vector<uint64_t>> r = b.Restore(snap.SerializeAsString());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(b.Restore(a.Snapshot()).ok());  // the honest one still loads
  EXPECT_TRUE(b.Apply(6, commands::Register(T(2), ServiceReq("n1", "web-2", "web"))).status.ok());
}

}  // namespace
}  // namespace muster::state
