// Transactions following Consul's docs: api/txn "Create Transaction": up to 64 ops, all
// applied or none, per-op errors with OpIndex, results without Value for writes.
#include <gtest/gtest.h>

#include "core/state/store.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using testing::KV;
using testing::LiveNodeReq;
using testing::MakeSession;
using testing::T;

TxnOp Op(TxnVerb v, std::string key, std::string value = "", uint64_t index = 0, std::string session = "") {
  return TxnOp{v, KV(std::move(key), std::move(value), std::move(session)), index};
}

TEST(TxnTest, AllOpsApplyAtOneIndex) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("existing", "old")));
  auto r = s.Txn(5, T(0), {Op(TxnVerb::kSet, "a", "1"), Op(TxnVerb::kCas, "existing", "new", 1),
                           Op(TxnVerb::kGet, "a"), Op(TxnVerb::kCheckNotExists, "zzz"),
                           Op(TxnVerb::kCheckIndex, "existing", "", 5)});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok());
  ASSERT_EQ(r->results.size(), 4u);
  EXPECT_EQ(r->results[0].key, "a");
  EXPECT_EQ(r->results[0].value, "");  // writes come back without their value
  EXPECT_EQ(r->results[0].modify_index, 5u);
  EXPECT_EQ(r->results[2].value, "1");  // get sees the earlier op, with the value
  EXPECT_EQ(s.KVGet("existing").value->value, "new");
  EXPECT_EQ(s.TableIndex(kTableKVs), 5u);
}

// One failing op: nothing applies, no index moves, every failing op is reported.
TEST(TxnTest, OneFailingOpRollsBackEverything) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("k", "v")));
  ASSERT_TRUE(*s.KVSet(2, KV("gone", "v")));
  s.TakeChanges();
  const uint64_t hash = s.ContentHash();
  auto r = s.Txn(5, T(0), {Op(TxnVerb::kSet, "k", "changed"), Op(TxnVerb::kSet, "new", "x"),
                           Op(TxnVerb::kDelete, "gone"), Op(TxnVerb::kCas, "k", "y", 99),
                           Op(TxnVerb::kDeleteTree, ""), Op(TxnVerb::kGet, "nope")});
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->ok());
  EXPECT_TRUE(r->results.empty());
  ASSERT_EQ(r->errors.size(), 2u);
  EXPECT_EQ(r->errors[0].op_index, 3u);
  EXPECT_EQ(r->errors[0].what, "failed to set key \"k\", index is stale");
  EXPECT_EQ(r->errors[1].op_index, 5u);
  EXPECT_EQ(s.KVGet("k").value->value, "v");
  EXPECT_TRUE(s.KVGet("gone").value.has_value());
  EXPECT_FALSE(s.KVGet("new").value.has_value());
  EXPECT_EQ(s.tombstone_count(), 0u);
  EXPECT_EQ(s.TableIndex(kTableKVs), 2u);
  EXPECT_TRUE(s.TakeChanges().empty());
  EXPECT_EQ(s.ContentHash(), hash);
}

TEST(TxnTest, TooManyOpsIsAnError) {
  Store s;
  std::vector<TxnOp> ops(65, Op(TxnVerb::kSet, "k"));
  EXPECT_EQ(s.Txn(1, T(0), ops).status().code(), absl::StatusCode::kResourceExhausted);
  ops.resize(64);
  EXPECT_TRUE(s.Txn(1, T(0), ops)->ok());
}

TEST(TxnTest, LockUnlockAndCheckSessionRollBackTheirLocks) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), LiveNodeReq("n1")).ok());
  ASSERT_TRUE(s.SessionCreate(2, T(0), MakeSession("s1", "n1"), true).ok());
  ASSERT_TRUE(s.SessionCreate(3, T(0), MakeSession("s2", "n1"), true).ok());
  auto ok = s.Txn(4, T(0), {Op(TxnVerb::kLock, "l", "v", 0, "s1"),
                            Op(TxnVerb::kCheckSession, "l", "", 0, "s1")});
  ASSERT_TRUE(ok->ok());
  EXPECT_EQ(ok->results[0].lock_index, 1u);
  // Unlock then fail: the lock must still be held by s1 afterwards.
  auto bad = s.Txn(5, T(0), {Op(TxnVerb::kUnlock, "l", "", 0, "s1"), Op(TxnVerb::kLock, "l", "", 0, "s2"),
                             Op(TxnVerb::kCheckSession, "l", "", 0, "s1")});
  ASSERT_FALSE(bad->ok());
  ASSERT_EQ(bad->errors.size(), 1u);
  EXPECT_EQ(bad->errors[0].op_index, 2u);
  EXPECT_EQ(s.KVGet("l").value->session, "s1");
  EXPECT_EQ(s.KVGet("l").value->lock_index, 1u);
  // Destroying s1 must still release "l" (the session's lock set was restored too).
  ASSERT_TRUE(s.SessionDestroy(6, T(0), "s1").ok());
  EXPECT_EQ(s.KVGet("l").value->session, "");
  // Locking by another session fails with an error.
  auto held = s.Txn(7, T(100), {Op(TxnVerb::kLock, "m", "", 0, "s2"), Op(TxnVerb::kLock, "m", "", 0, "ghost")});
  ASSERT_FALSE(held->ok());
  EXPECT_FALSE(s.KVGet("m").value.has_value());
}

TEST(TxnTest, GetTreeDeleteCasAndVerbNames) {
  Store s;
  ASSERT_TRUE(*s.KVSet(1, KV("t/a", "1")));
  ASSERT_TRUE(*s.KVSet(2, KV("t/b", "2")));
  auto r = s.Txn(3, T(0), {Op(TxnVerb::kGetTree, "t/"), Op(TxnVerb::kDeleteCas, "t/a", "", 1),
                           Op(TxnVerb::kGetTree, "t/")});
  ASSERT_TRUE(r->ok());
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[1].value, "2");
  EXPECT_EQ(r->results[2].key, "t/b");
  auto stale = s.Txn(4, T(0), {Op(TxnVerb::kDeleteCas, "t/b", "", 1)});
  EXPECT_EQ(stale->errors.at(0).what, "failed to delete key \"t/b\", index is stale");
  for (TxnVerb v : {TxnVerb::kSet, TxnVerb::kGetTree, TxnVerb::kCheckNotExists, TxnVerb::kDeleteTree}) {
    EXPECT_EQ(*ParseTxnVerb(TxnVerbName(v)), v);
  }
  EXPECT_FALSE(ParseTxnVerb("frobnicate").ok());
}

// Read-only transactions are served without the log; writes are refused there.
TEST(TxnTest, ReadOnlyTransactions) {
  Store s;
  ASSERT_TRUE(*s.KVSet(4, KV("r/a", "1")));
  auto r = s.TxnRead({Op(TxnVerb::kGet, "r/a"), Op(TxnVerb::kCheckIndex, "r/a", "", 4),
                      Op(TxnVerb::kGetTree, "r/"), Op(TxnVerb::kCheckNotExists, "r/b")});
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok());
  EXPECT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].value, "1");
  EXPECT_EQ(s.TxnReadIndex(), 4u);
  auto failed = s.TxnRead({Op(TxnVerb::kGet, "r/a"), Op(TxnVerb::kGet, "r/zz")});
  ASSERT_FALSE(failed->ok());
  EXPECT_EQ(failed->errors.at(0).op_index, 1u);
  EXPECT_EQ(failed->errors.at(0).what, "key \"r/zz\" doesn't exist");
  EXPECT_TRUE(failed->results.empty());
  EXPECT_EQ(s.TxnRead({Op(TxnVerb::kSet, "r/a")}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace muster::state
