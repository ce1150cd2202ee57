// Session semantics following Consul's docs: api/session ("Create Session": Node, Checks
// defaulting to serfHealth, LockDelay, Behavior, TTL between 10s and 86400s; "Renew
// Session"; "Delete Session"; "Read Session"; "List Sessions for Node") and the
// invalidation rules of docs/dynamic-app-config/sessions.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "core/state/store.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using testing::KV;
using testing::LiveNodeReq;
using testing::MakeCheck;
using testing::MakeSession;
using testing::NodeReq;
using testing::T;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterRequest n1 = LiveNodeReq("n1");
    n1.checks.push_back(MakeCheck("disk", HealthStatus::kPassing));
    ASSERT_TRUE(s.Register(1, T(0), n1).ok());
    ASSERT_TRUE(s.Register(2, T(0), LiveNodeReq("n2", "10.0.0.2")).ok());
  }
  void SetCheck(uint64_t idx, const std::string& node, const std::string& check, HealthStatus st) {
    RegisterRequest r = NodeReq(node);
    r.skip_node_update = true;
    r.checks.push_back(MakeCheck(check, st));
    ASSERT_TRUE(s.Register(idx, T(0), r).ok());
  }
  Store s;
};

TEST_F(SessionTest, CreateDefaultsToSerfHealthAndIsListed) {
  absl::StatusOr<Session> created = s.SessionCreate(5, T(0), MakeSession("a", "n1"), true);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->node_checks, std::vector<std::string>{"serfHealth"});
  EXPECT_EQ(created->create_index, 5u);
  EXPECT_EQ(created->lock_delay, absl::Seconds(15));
  auto info = s.SessionGet("a");
  ASSERT_TRUE(info.value.has_value());
  EXPECT_EQ(info.index, 5u);
  ASSERT_TRUE(s.SessionCreate(6, T(0), MakeSession("b", "n2"), true).ok());
  EXPECT_EQ(s.SessionList().value.size(), 2u);
  ASSERT_EQ(s.NodeSessions("n2").value.size(), 1u);
  EXPECT_EQ(s.NodeSessions("n2").value[0].id, "b");
  // An unknown ID answers an empty result, not an error.
  EXPECT_FALSE(s.SessionGet("zzz").value.has_value());
}

TEST_F(SessionTest, CreateRejectsBadInput) {
  EXPECT_FALSE(s.SessionCreate(5, T(0), MakeSession("a", "ghost"), true).ok());
  absl::Status ttl = s.SessionCreate(5, T(0), MakeSession("a", "n1", absl::Seconds(5)), true).status();
  EXPECT_TRUE(absl::StartsWith(ttl.message(), "Invalid Session TTL")) << ttl;
  EXPECT_FALSE(s.SessionCreate(5, T(0), MakeSession("a", "n1", absl::Hours(25)), true).ok());
  Session missing_check = MakeSession("a", "n1");
  missing_check.node_checks = {"nope"};
  EXPECT_FALSE(s.SessionCreate(5, T(0), missing_check, false).ok());
  SetCheck(6, "n1", "disk", HealthStatus::kCritical);
  Session critical = MakeSession("a", "n1");
  critical.node_checks = {"disk"};
  absl::Status st = s.SessionCreate(7, T(0), critical, false).status();
  EXPECT_TRUE(absl::StrContains(st.message(), "critical")) << st;
  ASSERT_TRUE(s.SessionCreate(8, T(0), MakeSession("a", "n1"), true).ok());
  EXPECT_FALSE(s.SessionCreate(9, T(0), MakeSession("a", "n1"), true).ok());  // duplicate ID
  EXPECT_EQ(s.SessionList().value.size(), 1u);
}

TEST_F(SessionTest, LockDelayIsCappedAtSixtySeconds) {
  auto created = s.SessionCreate(5, T(0), MakeSession("a", "n1", absl::ZeroDuration(),
                                                      SessionBehavior::kRelease, absl::Seconds(90)), true);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->lock_delay, absl::Seconds(60));
}

TEST_F(SessionTest, ExplicitEmptyChecksMeansNoChecks) {
  auto created = s.SessionCreate(5, T(0), MakeSession("a", "n1"), false);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->node_checks.empty());
  SetCheck(6, "n1", "serfHealth", HealthStatus::kCritical);
  EXPECT_TRUE(s.SessionGet("a").value.has_value());  // not tied to serfHealth
}

// "Delete Session" is idempotent and releases the session's locks.
TEST_F(SessionTest, DestroyReleasesLocksAndIsIdempotent) {
  ASSERT_TRUE(s.SessionCreate(5, T(0), MakeSession("a", "n1"), true).ok());
  ASSERT_TRUE(*s.KVLock(6, T(0), KV("k1", "v", "a")));
  ASSERT_TRUE(*s.KVLock(7, T(0), KV("k2", "v", "a")));
  ASSERT_TRUE(s.SessionDestroy(8, T(0), "a").ok());
  EXPECT_EQ(s.KVGet("k1").value->session, "");
  EXPECT_EQ(s.KVGet("k2").value->session, "");
  EXPECT_EQ(s.KVGet("k2").value->modify_index, 8u);
  EXPECT_EQ(s.KVGet("k2").value->value, "v");
  EXPECT_TRUE(s.SessionDestroy(9, T(0), "a").ok());
  EXPECT_EQ(s.TableIndex(kTableSessions), 8u);
}

// Behavior "delete": the session's locked keys are deleted on invalidation.
TEST_F(SessionTest, DeleteBehaviorDeletesHeldKeys) {
  ASSERT_TRUE(s.SessionCreate(5, T(0), MakeSession("a", "n1", absl::ZeroDuration(),
                                                   SessionBehavior::kDelete), true).ok());
  ASSERT_TRUE(*s.KVLock(6, T(0), KV("k1", "v", "a")));
  ASSERT_TRUE(*s.KVSet(7, KV("k2", "untouched")));
  ASSERT_TRUE(s.SessionDestroy(8, T(0), "a").ok());
  EXPECT_FALSE(s.KVGet("k1").value.has_value());
  EXPECT_EQ(s.KVGet("k1").index, 8u);
  EXPECT_TRUE(s.KVGet("k2").value.has_value());
  // The lock delay applies to the deleted key too.
  ASSERT_TRUE(s.SessionCreate(9, T(1), MakeSession("b", "n1"), true).ok());
  EXPECT_FALSE(*s.KVLock(10, T(1), KV("k1", "", "b")));
}

// A session is invalidated when one of its checks turns critical: a failed node's
// serfHealth going critical releases its locks.
TEST_F(SessionTest, CriticalCheckInvalidatesSessionAndReleasesLocks) {
  ASSERT_TRUE(s.SessionCreate(5, T(0), MakeSession("a", "n1"), true).ok());
  Session disk_only = MakeSession("b", "n1");
  disk_only.node_checks = {"disk"};
  ASSERT_TRUE(s.SessionCreate(6, T(0), disk_only, false).ok());
  ASSERT_TRUE(*s.KVLock(7, T(0), KV("leader", "n1", "a")));
  SetCheck(8, "n1", "serfHealth", HealthStatus::kWarning);  // warning is not critical
  EXPECT_TRUE(s.SessionGet("a").value.has_value());
  SetCheck(9, "n1", "serfHealth", HealthStatus::kCritical);
  EXPECT_FALSE(s.SessionGet("a").value.has_value());
  EXPECT_TRUE(s.SessionGet("b").value.has_value());
  EXPECT_EQ(s.KVGet("leader").value->session, "");
  EXPECT_EQ(s.TableIndex(kTableSessions), 9u);
}

// docs/automate/session "Session Design": deregistering any of the session's checks
// invalidates it.
TEST_F(SessionTest, DeregisteringACheckInvalidatesSessionsUsingIt) {
  Session s_disk = MakeSession("a", "n1");
  s_disk.node_checks = {"disk"};
  ASSERT_TRUE(s.SessionCreate(5, T(0), s_disk, false).ok());
  ASSERT_TRUE(s.SessionCreate(6, T(0), MakeSession("b", "n1"), true).ok());
  ASSERT_TRUE(*s.KVLock(7, T(0), KV("k", "v", "a")));
  ASSERT_TRUE(s.DeregisterCheck(8, T(0), "n1", "disk").ok());
  EXPECT_FALSE(s.SessionGet("a").value.has_value());
  EXPECT_TRUE(s.SessionGet("b").value.has_value());
  auto k = *s.KVGet("k").value;
  EXPECT_EQ(k.session, "");
  EXPECT_EQ(k.modify_index, 8u);  // release bumps the key's ModifyIndex
}

TEST_F(SessionTest, ServiceCheckSessions) {
  RegisterRequest svc = testing::ServiceReq("n1", "web", "web");
  svc.checks.push_back(MakeCheck("web-http", HealthStatus::kPassing, "web"));
  ASSERT_TRUE(s.Register(5, T(0), svc).ok());
  Session with_service = MakeSession("a", "n1");
  with_service.service_checks = {"web-http"};
  ASSERT_TRUE(s.SessionCreate(6, T(0), with_service, true).ok());
  // Deregistering the service takes its checks, and the session with them.
  ASSERT_TRUE(s.DeregisterService(7, T(0), "n1", "web").ok());
  EXPECT_FALSE(s.SessionGet("a").value.has_value());
}

TEST_F(SessionTest, DeregisteringTheNodeDestroysItsSessions) {
  ASSERT_TRUE(s.SessionCreate(5, T(0), MakeSession("a", "n1"), false).ok());
  ASSERT_TRUE(s.SessionCreate(6, T(0), MakeSession("b", "n2"), true).ok());
  ASSERT_TRUE(*s.KVLock(7, T(0), KV("k", "", "a")));
  ASSERT_TRUE(s.DeregisterNode(8, T(0), "n1").ok());
  EXPECT_FALSE(s.SessionGet("a").value.has_value());
  EXPECT_TRUE(s.SessionGet("b").value.has_value());
  EXPECT_EQ(s.KVGet("k").value->session, "");
}

// TTL: the leader asks which sessions ran out at its time; Consul allows up to 2x the TTL.
TEST_F(SessionTest, TtlExpiryDecidedFromTimeInputs) {
  ASSERT_TRUE(s.SessionCreate(5, T(0), MakeSession("a", "n1", absl::Seconds(10)), true).ok());
  ASSERT_TRUE(s.SessionCreate(6, T(5), MakeSession("b", "n1", absl::Seconds(30)), true).ok());
  ASSERT_TRUE(s.SessionCreate(7, T(5), MakeSession("c", "n1"), true).ok());  // no TTL
  EXPECT_EQ(*s.NextSessionExpiry(), T(20));
  EXPECT_TRUE(s.SessionsExpiredAt(T(19)).empty());
  EXPECT_EQ(s.SessionsExpiredAt(T(20)), std::vector<std::string>{"a"});
  // Renew pushes the deadline out, visibly to no blocking query.
  uint64_t before = s.TableIndex(kTableSessions);
  ASSERT_TRUE(s.SessionRenew(T(15), "a").ok());
  EXPECT_EQ(s.TableIndex(kTableSessions), before);
  EXPECT_EQ(*s.NextSessionExpiry(), T(35));
  // An expiry proposed for the old deadline, applied after the renew, does nothing.
  EXPECT_FALSE(s.SessionExpire(8, T(20), "a"));
  EXPECT_TRUE(s.SessionGet("a").value.has_value());
  ASSERT_TRUE(*s.KVLock(9, T(20), KV("k", "", "a")));
  EXPECT_TRUE(s.SessionExpire(10, T(35), "a"));
  EXPECT_FALSE(s.SessionGet("a").value.has_value());
  EXPECT_EQ(s.KVGet("k").value->session, "");
  EXPECT_EQ(s.SessionsExpiredAt(T(1000)), std::vector<std::string>{"b"});
  EXPECT_FALSE(s.SessionExpire(11, T(1000), "c"));  // no TTL, never expires
}

// "Renew Session" answers 404 for an unknown session.
TEST_F(SessionTest, RenewUnknownIsNotFound) {
  EXPECT_EQ(s.SessionRenew(T(0), "ghost").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace muster::state
