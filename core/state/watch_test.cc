// Blocking-query wake-ups (docs: api/features/blocking): an apply wakes exactly the parked
// watches whose topics it touched, in ascending id order, once.
#include <gtest/gtest.h>

#include "core/state/store.h"
#include "core/state/test_util.h"
#include "core/state/watch.h"

namespace muster::state {
namespace {

using testing::KV;
using testing::MakeCheck;
using testing::NodeReq;
using testing::ServiceReq;
using testing::T;

TEST(WatchTest, KVPrefixWatchesWakeOnWritesAndDeletesUnderThePrefix) {
  Store s;
  WatchRegistry w;
  w.Add(3, {WatchTopic::KVPrefix("app/")});
  w.Add(1, {WatchTopic::KVPrefix("app/db")});
  w.Add(2, {WatchTopic::KVPrefix("other/")});
  w.Add(4, {WatchTopic::KVPrefix("")});
  ASSERT_TRUE(*s.KVSet(5, KV("app/db/url")));
  EXPECT_EQ(w.Notify(s.TakeChanges()), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.Notify(s.TakeChanges()).empty());
  w.Add(5, {WatchTopic::KVPrefix("app/")});
  ASSERT_TRUE(*s.KVDelete(6, "app/db/url"));
  EXPECT_EQ(w.Notify(s.TakeChanges()), std::vector<uint64_t>{5});
  // A failed CAS changes nothing and wakes nobody.
  EXPECT_FALSE(*s.KVCas(7, KV("other/x"), 3));
  EXPECT_TRUE(w.Notify(s.TakeChanges()).empty());
  EXPECT_EQ(w.size(), 1u);
}

TEST(WatchTest, KVKeyWatchesWakeOnlyForTheirKey) {
  Store s;
  WatchRegistry w;
  w.Add(1, {WatchTopic::KVKey("lock")});
  w.Add(2, {WatchTopic::KVKey("lock"), WatchTopic::KVPrefix("lock")});  // both: woken once
  ASSERT_TRUE(*s.KVSet(1, KV("lock/child")));
  EXPECT_EQ(w.Notify(s.TakeChanges()), std::vector<uint64_t>{2});
  ASSERT_TRUE(*s.KVDelete(2, "lock"));  // nothing to delete: no change
  EXPECT_TRUE(w.Notify(s.TakeChanges()).empty());
  ASSERT_TRUE(*s.KVSet(3, KV("lock")));
  EXPECT_EQ(w.Notify(s.TakeChanges()), std::vector<uint64_t>{1});
  EXPECT_EQ(w.size(), 0u);
}

TEST(WatchTest, ServiceWatchesWakeOnlyForTheirService) {
  Store s;
  WatchRegistry w;
  ASSERT_TRUE(s.Register(1, T(0), ServiceReq("n1", "web", "web")).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n2", "db", "db")).ok());
  s.TakeChanges();
  w.Add(10, {WatchTopic::ServiceName("web")});
  w.Add(11, {WatchTopic::ServiceName("db")});
  w.Add(12, {WatchTopic::Table(kTableChecks)});
  w.Add(13, {WatchTopic::NodeName("n1"), WatchTopic::ServiceName("web")});
  RegisterRequest c = NodeReq("n1");
  c.skip_node_update = true;
  c.checks.push_back(MakeCheck("serfHealth", HealthStatus::kCritical));
  ASSERT_TRUE(s.Register(3, T(0), c).ok());
  EXPECT_EQ(w.Notify(s.TakeChanges()), (std::vector<uint64_t>{10, 12, 13}));
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.Remove(11));
  EXPECT_FALSE(w.Remove(11));
  EXPECT_EQ(w.size(), 0u);
}

TEST(WatchTest, FullRegistryRefusesToPark) {
  WatchRegistry w(2);
  EXPECT_TRUE(w.Add(1, {WatchTopic::KVKey("a")}));
  EXPECT_TRUE(w.Add(2, {WatchTopic::KVKey("a")}));
  EXPECT_FALSE(w.Add(3, {WatchTopic::KVKey("a")}));
  ChangeSet ch;
  ch.kv_keys.insert("a");
  EXPECT_EQ(w.Notify(ch), (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(w.Add(3, {WatchTopic::KVKey("a")}));
}

TEST(WatchTest, SessionAndEverythingTopics) {
  WatchRegistry w;
  w.Add(7, {WatchTopic::SessionId("abc")});
  w.Add(8, {WatchTopic::Table(kTableNodes)});
  ChangeSet ch;
  ch.sessions.insert("abc");
  EXPECT_EQ(w.Notify(ch), std::vector<uint64_t>{7});
  ChangeSet all;
  all.everything = true;
  EXPECT_EQ(w.Notify(all), std::vector<uint64_t>{8});
}

// The blocking-query loop a host runs: the result's index is what the client compares.
TEST(WatchTest, IndexPassesTheClientsIndexOnlyWhenThePrefixChanges) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("a/x")));
  uint64_t seen = s.KVList("a/").index;
  ASSERT_TRUE(*s.KVSet(2, KV("b/x")));
  EXPECT_EQ(s.KVList("a/").index, seen);  // unrelated churn does not move it
  ASSERT_TRUE(*s.KVDelete(3, "a/x"));
  EXPECT_GT(s.KVList("a/").index, seen);
}

}  // namespace
}  // namespace muster::state
