// ContentHash keeps KV's and the tombstones' share as running sums of row hashes: after any
// sequence of writes (sets, CAS, locks, deletes, delete-trees, transactions that roll back,
// sessions invalidated with their locks, reaped tombstones) and after a snapshot restore, the
// sums equal a fresh pass over the rows, and the hash still tells states apart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "core/state/store.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using testing::KV;
using testing::LiveNodeReq;
using testing::MakeSession;
using testing::T;

// One random write to `store` at index `idx` (time `idx` seconds), over a few keys under a
// few prefixes so that rows are replaced, deleted and re-created often.
void RandomWrite(Store& store, Rng& rng, uint64_t idx) {
  const Time now = T(static_cast<int>(idx));
  const std::string key = absl::StrCat(rng.Bernoulli(0.5) ? "a/" : "b/", rng.Uniform(6));
  const std::string value = absl::StrCat("v", rng.Uniform(4));
  const std::string session = absl::StrCat("s", rng.Uniform(3));
  switch (rng.Uniform(11)) {
    case 0:
    case 1:
      ASSERT_TRUE(store.KVSet(idx, KV(key, value, "", rng.Uniform(3))).ok());
      break;
    case 2: {
      const auto got = store.KVGet(key);
      const uint64_t cas = rng.Bernoulli(0.7) && got.value.has_value() ? got.value->modify_index : rng.Uniform(3);
      ASSERT_TRUE(store.KVCas(idx, KV(key, value), cas).ok());
      break;
    }
    case 3:
      ASSERT_TRUE(store.KVDelete(idx, key).ok());
      break;
    case 4:
      ASSERT_TRUE(store.KVDeleteTree(idx, rng.Bernoulli(0.5) ? "a/" : "b/1").ok());
      break;
    case 5:
      if (store.SessionGet(session).value.has_value()) {
        ASSERT_TRUE(store.KVLock(idx, now, KV(key, value, session)).ok());
      } else if (!store.GetNode("n1").has_value()) {
        ASSERT_TRUE(store.Register(idx, now, LiveNodeReq("n1")).ok());
      } else {
        const SessionBehavior behavior = rng.Bernoulli(0.5) ? SessionBehavior::kRelease : SessionBehavior::kDelete;
        ASSERT_TRUE(store.SessionCreate(idx, now, MakeSession(session, "n1", absl::ZeroDuration(), behavior), false).ok());
      }
      break;
    case 6:
      ASSERT_TRUE(store.KVUnlock(idx, KV(key, value, session)).ok());
      break;
    case 7:
      ASSERT_TRUE(store.SessionDestroy(idx, now, session).ok());
      break;
    case 8:
      store.ReapTombstones(idx, idx - rng.Uniform(idx));
      break;
    case 9: {
      // A transaction of writes, the last of which fails half the time: all rolled back.
      std::vector<TxnOp> ops;
      for (int i = 0; i < 3; ++i) {
        TxnOp op;
        op.verb = rng.Bernoulli(0.3) ? TxnVerb::kDelete : TxnVerb::kSet;
        op.entry = KV(absl::StrCat("a/", rng.Uniform(6)), value);
        ops.push_back(op);
      }
      TxnOp last;
      last.verb = TxnVerb::kCas;
      last.entry = KV(key, value);
      last.index = rng.Bernoulli(0.5) ? 999'999 : 0;  // 999999: never a ModifyIndex here
      ops.push_back(last);
      ASSERT_TRUE(store.Txn(idx, now, ops).ok());
      break;
    }
    default:
      // The node's deregistration invalidates its sessions (their locks released or
      // deleted, lock delays set); the next registration brings it back.
      if (rng.Bernoulli(0.5)) {
        ASSERT_TRUE(store.DeregisterNode(idx, now, "n1").ok());
      } else {
        ASSERT_TRUE(store.Register(idx, now, LiveNodeReq("n1")).ok());
      }
      break;
  }
  store.SetLastIndex(idx);
}

TEST(ContentHashTest, RunningSumsEqualAFreshPassAfterRandomWrites) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    Store store;
    ASSERT_TRUE(store.Register(1, T(1), LiveNodeReq("n1")).ok());
    store.SetLastIndex(1);
    for (uint64_t idx = 2; idx < 400; ++idx) {
      RandomWrite(store, rng, idx);
      ASSERT_EQ(store.ContentHash(), store.ContentHashRecomputed()) << "seed " << seed << " index " << idx;
    }
    EXPECT_GT(store.kv_count() + store.tombstone_count(), 0u);
    // A restore builds the sums from the snapshot's rows: the same hash as the original.
    Store restored;
    ASSERT_TRUE(restored.Restore(store.Snapshot()).ok());
    EXPECT_EQ(restored.ContentHash(), store.ContentHash()) << "seed " << seed;
    EXPECT_EQ(restored.ContentHashRecomputed(), store.ContentHash()) << "seed " << seed;
    // And a store restored over one with other rows drops their share.
    Store other;
    ASSERT_TRUE(other.KVSet(1, KV("zzz", "other")).ok());
    ASSERT_TRUE(other.KVDelete(2, "zzz").ok());
    ASSERT_TRUE(other.KVSet(3, KV("yyy", "other")).ok());
    ASSERT_TRUE(other.Restore(store.Snapshot()).ok());
    EXPECT_EQ(other.ContentHash(), store.ContentHash()) << "seed " << seed;
  }
}

// A listing as ServeStoreRead memoizes it: the keys (cut at the separator) and the index.
Store::KeyListingMemo FreshListing(const Store& store, const std::string& prefix, const std::string& separator) {
  Store::KeyListingMemo m{prefix, separator, 0, ""};
  m.index = store.ForEachKVKey(prefix, separator, [&](std::string_view key) { m.body.append(key.data(), key.size()).append(","); });
  return m;
}

// The key listing memo (store.h) lives only while nothing under its prefix changed: after
// every kind of write RandomWrite makes, a memo still there equals a fresh listing, and one
// is kept again for the next write; writes elsewhere leave it; a restore drops them all.
TEST(ContentHashTest, KeyListingMemosAreDroppedByWritesUnderTheirPrefix) {
  const std::vector<std::pair<std::string, std::string>> listings = {{"a/", ""}, {"b/1", ""}, {"a/", "/"}, {"", "/"}};
  uint64_t hits = 0, drops = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Rng rng(seed);
    Store store;
    ASSERT_TRUE(store.Register(1, T(1), LiveNodeReq("n1")).ok());
    store.SetLastIndex(1);
    for (uint64_t idx = 2; idx < 400; ++idx) {
      RandomWrite(store, rng, idx);
      for (const auto& [prefix, separator] : listings) {
        const Store::KeyListingMemo fresh = FreshListing(store, prefix, separator);
        if (const Store::KeyListingMemo* memo = store.FindKeyListingMemo(prefix, separator)) {
          hits++;
          ASSERT_EQ(memo->body, fresh.body) << "seed " << seed << " index " << idx << " prefix " << prefix;
          ASSERT_EQ(memo->index, fresh.index) << "seed " << seed << " index " << idx << " prefix " << prefix;
        } else {
          drops++;
        }
        // As ServeStoreRead: an empty listing is not kept (its index is the KV table's,
        // which every write moves).
        if (!fresh.body.empty()) store.KeepKeyListingMemo(fresh);
      }
    }
  }
  // Both happen often: the prefixes share few keys.
  EXPECT_GT(hits, 5'000u);
  EXPECT_GT(drops, 5'000u);

  Store store;
  ASSERT_TRUE(store.KVSet(1, KV("a/1", "x")).ok());
  ASSERT_TRUE(store.KVSet(2, KV("b/1", "x")).ok());
  store.KeepKeyListingMemo(FreshListing(store, "a/", ""));
  ASSERT_TRUE(store.KVSet(3, KV("b/2", "y")).ok());
  EXPECT_NE(store.FindKeyListingMemo("a/", ""), nullptr);  // a write elsewhere
  EXPECT_EQ(store.FindKeyListingMemo("a/", "/"), nullptr);  // another separator: another listing
  ASSERT_TRUE(store.KVSet(4, KV("a/1", "z")).ok());
  EXPECT_EQ(store.FindKeyListingMemo("a/", ""), nullptr);  // a value changed: the index moved
  store.KeepKeyListingMemo(FreshListing(store, "a/", ""));
  store.SetLastIndex(4);
  const std::string snapshot = store.Snapshot();
  const absl::Status restored = store.Restore(snapshot);
  ASSERT_TRUE(restored.ok()) << restored;
  EXPECT_EQ(store.FindKeyListingMemo("a/", ""), nullptr);
  // Bounded: the oldest goes first.
  for (int i = 0; i < 6; ++i) store.KeepKeyListingMemo(FreshListing(store, absl::StrCat("p", i), ""));
  EXPECT_EQ(store.FindKeyListingMemo("p1", ""), nullptr);
  EXPECT_NE(store.FindKeyListingMemo("p2", ""), nullptr);
  EXPECT_NE(store.FindKeyListingMemo("p5", ""), nullptr);
}

TEST(ContentHashTest, TellsRowsApart) {
  Store a, b;
  for (Store* s : {&a, &b}) {
    ASSERT_TRUE(s->KVSet(1, KV("k1", "x")).ok());
    ASSERT_TRUE(s->KVSet(2, KV("k2", "y")).ok());
    s->SetLastIndex(2);
  }
  EXPECT_EQ(a.ContentHash(), b.ContentHash());
  // The same values under swapped keys, at the same indexes.
  Store swapped;
  ASSERT_TRUE(swapped.KVSet(1, KV("k1", "y")).ok());
  ASSERT_TRUE(swapped.KVSet(2, KV("k2", "x")).ok());
  swapped.SetLastIndex(2);
  EXPECT_NE(swapped.ContentHash(), a.ContentHash());
  // A value changed and changed back at the same index: the same hash again.
  const uint64_t before = a.ContentHash();
  ASSERT_TRUE(a.KVSet(2, KV("k2", "z")).ok());
  EXPECT_NE(a.ContentHash(), before);
  ASSERT_TRUE(a.KVSet(2, KV("k2", "y")).ok());
  EXPECT_EQ(a.ContentHash(), before);
  // A key deleted leaves a tombstone, which counts; reaping it counts too.
  ASSERT_TRUE(b.KVDelete(3, "k1").ok());
  b.SetLastIndex(3);
  const uint64_t with_tombstone = b.ContentHash();
  b.ReapTombstones(3, 3);
  EXPECT_NE(b.ContentHash(), with_tombstone);
  EXPECT_EQ(b.ContentHash(), b.ContentHashRecomputed());
}

}  // namespace
}  // namespace muster::state
