// KV semantics following Consul's docs: api/kv "Read Key" (recurse, keys, separator),
// "Create/Update Key" (flags, cas, acquire, release), "Delete Key" (recurse, cas), and
// the X-Consul-Index rules of api/features/blocking.
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "core/state/store.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using testing::KV;
using testing::LiveNodeReq;
using testing::MakeSession;
using testing::T;

std::vector<std::string> Keys(const std::vector<KVEntry>& entries) {
  std::vector<std::string> out;
  for (const KVEntry& e : entries) out.push_back(e.key);
  return out;
}

TEST(KVTest, PutThenGetWithFlagsAndIndexes) {
  Store s;
  ASSERT_TRUE(*s.KVSet(3, KV("foo", "bar", "", 42)));
  auto got = s.KVGet("foo");
  ASSERT_TRUE(got.value.has_value());
  EXPECT_EQ(got.value->value, "bar");
  EXPECT_EQ(got.value->flags, 42u);
  EXPECT_EQ(got.value->create_index, 3u);
  EXPECT_EQ(got.value->modify_index, 3u);
  EXPECT_EQ(got.value->lock_index, 0u);
  EXPECT_EQ(got.index, 3u);
  ASSERT_TRUE(*s.KVSet(5, KV("foo", "baz")));
  got = s.KVGet("foo");
  EXPECT_EQ(got.value->create_index, 3u);
  EXPECT_EQ(got.value->modify_index, 5u);
  EXPECT_EQ(got.value->flags, 0u);
}

// A missing key still answers with an index (X-Consul-Index on the 404), never 0.
TEST(KVTest, MissingKeyHasANonZeroIndex) {
  Store s;
  EXPECT_EQ(s.KVGet("nope").index, 1u);
  ASSERT_TRUE(*s.KVSet(7, KV("other")));
  auto got = s.KVGet("nope");
  EXPECT_FALSE(got.value.has_value());
  EXPECT_EQ(got.index, 7u);
}

TEST(KVTest, EmptyKeyAndOversizeValueAreRejected) {
  Store s;
  EXPECT_EQ(s.KVSet(1, KV("")).status().code(), absl::StatusCode::kInvalidArgument);
  std::string big(512 * 1024 + 1, 'x');
  EXPECT_EQ(s.KVSet(1, KV("k", big)).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(*s.KVSet(1, KV("k", std::string(512 * 1024, 'x'))));  // exactly the limit is fine
  EXPECT_EQ(s.kv_count(), 1u);
}

// api/kv "recurse" returns every key with the prefix, in key order; the index is the
// highest ModifyIndex under the prefix.
TEST(KVTest, RecurseListsPrefixInOrderWithPrefixIndex) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("foo/bar2")));
  ASSERT_TRUE(*s.KVSet(2, KV("foo/bar1")));
  ASSERT_TRUE(*s.KVSet(3, KV("foo/")));
  ASSERT_TRUE(*s.KVSet(4, KV("fop")));
  ASSERT_TRUE(*s.KVSet(5, KV("zzz")));
  auto list = s.KVList("foo/");
  EXPECT_EQ(Keys(list.value), (std::vector<std::string>{"foo/", "foo/bar1", "foo/bar2"}));
  EXPECT_EQ(list.index, 3u);
  EXPECT_EQ(s.KVList("").value.size(), 5u);
  EXPECT_EQ(s.KVList("").index, 5u);
}

// api/kv "keys" with "separator": keys are cut just after the first separator past the prefix.
TEST(KVTest, KeysWithSeparator) {
  Store s;
  for (const char* k : {"web/a", "web/b/c", "web/b/d", "web/b0", "web/e/f/g", "webx"}) {
    ASSERT_TRUE(*s.KVSet(1 + s.kv_count(), KV(k)));
  }
  EXPECT_EQ(s.KVKeys("web/", "/").value,
            (std::vector<std::string>{"web/a", "web/b/", "web/b0", "web/e/"}));
  EXPECT_EQ(s.KVKeys("web/", "").value.size(), 5u);
  EXPECT_EQ(s.KVKeys("", "/").value, (std::vector<std::string>{"web/", "webx"}));
}

// api/kv "cas": 0 creates only if absent; otherwise the ModifyIndex must match.
TEST(KVTest, CheckAndSet) {
  Store s;
  EXPECT_FALSE(*s.KVCas(1, KV("k", "v"), 5));  // CAS on a missing key with an index fails
  EXPECT_EQ(s.kv_count(), 0u);
  EXPECT_TRUE(*s.KVCas(2, KV("k", "v1"), 0));  // cas=0: create only
  EXPECT_FALSE(*s.KVCas(3, KV("k", "v2"), 0));  // ... and only once
  EXPECT_FALSE(*s.KVCas(4, KV("k", "v2"), 1));  // stale index
  EXPECT_TRUE(*s.KVCas(5, KV("k", "v2"), 2));
  EXPECT_EQ(s.KVGet("k").value->value, "v2");
  EXPECT_EQ(s.KVGet("k").value->modify_index, 5u);
  EXPECT_EQ(s.TableIndex(kTableKVs), 5u);  // failed CAS moved nothing
}

// api/kv "Delete Key": single, recursive and cas deletes; a delete moves the prefix index.
TEST(KVTest, DeletesLeaveTombstonesSoPrefixIndexCoversThem) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("a/1")));
  ASSERT_TRUE(*s.KVSet(2, KV("a/2")));
  ASSERT_TRUE(*s.KVSet(3, KV("b/1")));
  ASSERT_TRUE(*s.KVDelete(4, "a/2"));
  EXPECT_EQ(s.KVList("a/").index, 4u);
  EXPECT_EQ(s.KVList("b/").index, 3u);
  EXPECT_EQ(s.KVGet("a/2").index, 4u);
  ASSERT_TRUE(*s.KVDelete(5, "missing"));  // deleting nothing is fine and moves nothing
  EXPECT_EQ(s.TableIndex(kTableKVs), 4u);
  ASSERT_TRUE(*s.KVDeleteTree(6, "a/"));
  EXPECT_TRUE(s.KVList("a/").value.empty());
  EXPECT_EQ(s.KVList("a/").index, 6u);
  EXPECT_EQ(s.tombstone_count(), 2u);
  // Re-creating a key drops its tombstone.
  ASSERT_TRUE(*s.KVSet(7, KV("a/1")));
  EXPECT_EQ(s.tombstone_count(), 1u);
  // Reaping forgets tombstones; the prefix then falls back to its live keys or the table.
  s.ReapTombstones(8, 6);
  EXPECT_EQ(s.tombstone_count(), 0u);
  EXPECT_EQ(s.KVList("a/").index, 7u);
  EXPECT_EQ(s.KVList("zzz/").index, 7u);
}

TEST(KVTest, DeleteTreeWithEmptyPrefixWipesAll) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("a")));
  ASSERT_TRUE(*s.KVSet(2, KV("b/c")));
  ASSERT_TRUE(*s.KVDeleteTree(3, ""));
  EXPECT_EQ(s.kv_count(), 0u);
}

TEST(KVTest, DeleteCas) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("k")));
  EXPECT_FALSE(*s.KVDeleteCas(2, "k", 9));
  EXPECT_EQ(s.kv_count(), 1u);
  EXPECT_TRUE(*s.KVDeleteCas(3, "k", 1));
  EXPECT_EQ(s.kv_count(), 0u);
  // As Consul's state store: a key already gone counts as deleted.
  EXPECT_TRUE(*s.KVDeleteCas(4, "k", 1));
}

class KVLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(s.Register(1, T(0), LiveNodeReq("n1")).ok());
    ASSERT_TRUE(s.SessionCreate(2, T(0), MakeSession("s1", "n1"), true).ok());
    ASSERT_TRUE(s.SessionCreate(3, T(0), MakeSession("s2", "n1"), true).ok());
  }
  Store s;
};

// api/kv "acquire": takes the lock if free, bumps LockIndex, sets Session; the holder may
// re-acquire (an update); another session gets false.
TEST_F(KVLockTest, AcquireRelease) {
  EXPECT_TRUE(*s.KVLock(10, T(1), KV("lock", "me", "s1")));
  auto e = *s.KVGet("lock").value;
  EXPECT_EQ(e.session, "s1");
  EXPECT_EQ(e.lock_index, 1u);
  EXPECT_EQ(e.value, "me");
  EXPECT_TRUE(*s.KVLock(11, T(1), KV("lock", "again", "s1")));
  EXPECT_EQ(s.KVGet("lock").value->lock_index, 1u);
  EXPECT_FALSE(*s.KVLock(12, T(1), KV("lock", "you", "s2")));
  EXPECT_EQ(s.KVGet("lock").value->value, "again");

  // Releasing a lock held by another session fails and changes nothing.
  EXPECT_FALSE(*s.KVUnlock(13, KV("lock", "x", "s2")));
  EXPECT_EQ(s.KVGet("lock").value->session, "s1");
  EXPECT_EQ(s.KVGet("lock").value->modify_index, 11u);

  EXPECT_TRUE(*s.KVUnlock(14, KV("lock", "done", "s1")));
  e = *s.KVGet("lock").value;
  EXPECT_EQ(e.session, "");
  EXPECT_EQ(e.lock_index, 1u);
  EXPECT_EQ(e.value, "done");
  // The next holder bumps LockIndex.
  EXPECT_TRUE(*s.KVLock(15, T(1), KV("lock", "", "s2")));
  EXPECT_EQ(s.KVGet("lock").value->lock_index, 2u);
  EXPECT_FALSE(*s.KVUnlock(16, KV("nokey", "", "s2")));
}

TEST_F(KVLockTest, PlainPutKeepsTheLockHolder) {
  ASSERT_TRUE(*s.KVLock(10, T(1), KV("lock", "", "s1")));
  ASSERT_TRUE(*s.KVSet(11, KV("lock", "new")));
  EXPECT_EQ(s.KVGet("lock").value->session, "s1");
  EXPECT_EQ(s.KVGet("lock").value->lock_index, 1u);
}

TEST_F(KVLockTest, AcquireWithUnknownSessionIsAnError) {
  absl::StatusOr<bool> r = s.KVLock(10, T(1), KV("lock", "", "ghost"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StartsWith(r.status().message(), "invalid session"));
  EXPECT_FALSE(s.KVLock(10, T(1), KV("lock", "", "")).ok());
  EXPECT_EQ(s.kv_count(), 0u);
}

// api/session "LockDelay": when the holder's session is invalidated, the key cannot be
// acquired again until lock-delay has passed (times are the entries' leader times).
TEST_F(KVLockTest, LockDelayAfterInvalidation) {
  ASSERT_TRUE(*s.KVLock(10, T(100), KV("lock", "", "s1")));
  ASSERT_TRUE(s.SessionDestroy(11, T(100), "s1").ok());
  auto e = *s.KVGet("lock").value;
  EXPECT_EQ(e.session, "");
  EXPECT_EQ(e.modify_index, 11u);
  EXPECT_EQ(*s.KVLockDelay("lock"), T(115));
  EXPECT_FALSE(*s.KVLock(12, T(114), KV("lock", "", "s2")));
  EXPECT_TRUE(*s.KVLock(13, T(115), KV("lock", "", "s2")));
  EXPECT_EQ(s.KVGet("lock").value->lock_index, 2u);
}

// A voluntary release sets no lock delay (only invalidation does).
TEST_F(KVLockTest, ReleaseSetsNoLockDelay) {
  ASSERT_TRUE(*s.KVLock(10, T(100), KV("lock", "", "s1")));
  ASSERT_TRUE(*s.KVUnlock(11, KV("lock", "", "s1")));
  EXPECT_TRUE(*s.KVLock(12, T(100), KV("lock", "", "s2")));
}

}  // namespace
}  // namespace muster::state
