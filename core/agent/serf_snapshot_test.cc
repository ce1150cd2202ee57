// The serf snapshot's record (encode, decode of garbage and of oversize text) and the
// component's rules: the leave mark, the restored clocks, the rate-bounded writes, the re-join
// of the previous members and its end.
#include "core/agent/serf_snapshot.h"

#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

class MapStorage final : public StorageView {
 public:
  std::optional<std::string> Get(std::string_view key) const override {
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    for (auto it = data_.lower_bound(std::string(begin)); it != data_.end(); ++it) {
      if (!end.empty() && it->first >= end) break;
      if (!visit(it->first, it->second)) break;
    }
  }
  void Apply(const Effects& out) {
    for (const StorageWrite& w : out.writes) {
      for (const StorageOp& op : w.ops) {
        if (op.kind == StorageOp::Kind::kPut) data_[op.key] = op.value;
      }
    }
  }
  std::map<std::string, std::string> data_;
};

const Time kT0 = absl::FromUnixSeconds(1'000'000);

SerfSnapshotRecord Sample() {
  SerfSnapshotRecord r;
  r.members = {{"s1", "10.0.0.1:8301", false}, {"node with space", "10.0.0.2:8301", false},
               {"s3", "[::1]:8301", true}};
  r.clock = 17;
  r.event_clock = 5;
  r.query_clock = 3;
  return r;
}

TEST(SerfSnapshotRecord, EncodesAndDecodesInSerfsLines) {
  SerfSnapshotRecord r = Sample();
  const std::string text = EncodeSerfSnapshot(r);
  EXPECT_NE(text.find("alive: s1 10.0.0.1:8301\n"), std::string::npos) << text;
  EXPECT_NE(text.find("failed: s3 [::1]:8301\n"), std::string::npos) << text;
  EXPECT_NE(text.find("event-clock: 5\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("leave"), std::string::npos) << text;
  DecodedSerfSnapshot d = DecodeSerfSnapshot(text);
  EXPECT_EQ(d.bad_lines, 0u);
  EXPECT_EQ(d.record, r);
  r.left = true;
  DecodedSerfSnapshot left = DecodeSerfSnapshot(EncodeSerfSnapshot(r));
  EXPECT_TRUE(left.record.left);
  EXPECT_EQ(left.record, r);
}

TEST(SerfSnapshotRecord, MembersThatWouldNotReadBackAreLeftOut) {
  SerfSnapshotRecord r;
  r.members = {{"evil\nalive: fake 1.2.3.4:1", "10.0.0.1:8301", false},
               {"ok", "10.0.0.2:8301 extra", false},
               {"", "10.0.0.3:8301", false},
               {std::string(129, 'n'), "10.0.0.4:8301", false},
               {"good", "10.0.0.5:8301", false}};
  DecodedSerfSnapshot d = DecodeSerfSnapshot(EncodeSerfSnapshot(r));
  EXPECT_EQ(d.bad_lines, 0u);
  ASSERT_EQ(d.record.members.size(), 1u);
  EXPECT_EQ(d.record.members[0].name, "good");
}

TEST(SerfSnapshotRecord, GarbageIsSkippedWithWarningsNeverACrash) {
  const std::string text =
      "alive: s1 10.0.0.1:8301\n"
      "alive: nospace\n"
      "clock: twelve\n"
      "what is this\n"
      "event-clock: 99999999999999999999999\n"
      "not-alive: s1\n"
      "alive: s2 10.0.0.2:8301\n"
      "alive: s1 10.0.0.9:8301\n"  // named again: the last line wins
      "query-clock: 4\n"
      "alive: torn 10.0.0.3:83";   // no newline: a torn write
  DecodedSerfSnapshot d = DecodeSerfSnapshot(text);
  EXPECT_EQ(d.bad_lines, 6u);
  EXPECT_EQ(d.warnings.size(), 6u);
  ASSERT_EQ(d.record.members.size(), 2u);
  EXPECT_EQ(d.record.members[0], (SnapshotMember{"s1", "10.0.0.9:8301", false}));
  EXPECT_EQ(d.record.members[1].name, "s2");
  EXPECT_EQ(d.record.clock, 0u);
  EXPECT_EQ(d.record.event_clock, 0u);
  EXPECT_EQ(d.record.query_clock, 4u);

  // Seeded random bytes and mutations of a good record: decoded, bounded warnings, no crash.
  Rng rng(42);
  const std::string good = EncodeSerfSnapshot(Sample());
  for (int i = 0; i < 2000; ++i) {
    std::string t = good;
    if (i % 2 == 0) {
      t.resize(rng.Uniform(300));
      for (char& c : t) c = static_cast<char>(rng.Uniform(256));
    } else {
      for (int k = 0; k < 4; ++k) t[rng.Uniform(t.size())] = static_cast<char>(rng.Uniform(256));
    }
    DecodedSerfSnapshot r = DecodeSerfSnapshot(t);
    EXPECT_LE(r.warnings.size(), kSnapshotWarningsMax + 1);
    EXPECT_LE(r.record.members.size(), 3u);
    for (const SnapshotMember& m : r.record.members) EXPECT_FALSE(m.name.empty());
  }
}

TEST(SerfSnapshotRecord, OversizeIsCut) {
  SerfSnapshotRecord r;
  for (size_t i = 0; i < kSnapshotMembersMax + 10; ++i) {
    r.members.push_back({absl::StrCat("n", i), absl::StrCat("10.1.", i / 256, ".", i % 256, ":8301"), false});
  }
  const std::string text = EncodeSerfSnapshot(r);
  DecodedSerfSnapshot d = DecodeSerfSnapshot(text);
  EXPECT_EQ(d.record.members.size(), kSnapshotMembersMax);  // the encoder kept the first ones

  // Hand-written text past both bounds: members and bytes.
  std::string big;
  for (size_t i = 0; i < kSnapshotMembersMax + 10; ++i) absl::StrAppend(&big, "alive: m", i, " 10.0.0.1:8301\n");
  DecodedSerfSnapshot many = DecodeSerfSnapshot(big);
  EXPECT_EQ(many.record.members.size(), kSnapshotMembersMax);
  EXPECT_EQ(many.bad_lines, 1u);
  std::string huge = big;
  while (huge.size() <= kSnapshotBytesMax) absl::StrAppend(&huge, "# padding padding padding padding padding\n");
  absl::StrAppend(&huge, "clock: 77\n");  // past the bound: not read
  DecodedSerfSnapshot cut = DecodeSerfSnapshot(huge);
  EXPECT_EQ(cut.record.clock, 0u);
  EXPECT_EQ(cut.record.members.size(), kSnapshotMembersMax);
  EXPECT_GE(cut.bad_lines, 2u);
}

gossip::Serf MakePool(const std::string& name) {
  return gossip::Serf(gossip::SerfConfig::Lan(name), absl::StrCat(name, ":8301"), 7, Logger());
}

TEST(SerfSnapshot, ALeaveMeansNoRejoinUnlessRejoinAfterLeave) {
  MapStorage storage;
  SerfSnapshotRecord r = Sample();
  r.left = true;
  storage.data_[std::string(kSerfSnapshotLanKey)] = EncodeSerfSnapshot(r);
  {
    SerfSnapshot snap(std::string(kSerfSnapshotLanKey), &storage, /*rejoin_after_leave=*/false, 1, kT0, Logger());
    EXPECT_TRUE(snap.previous().empty());
    gossip::Serf pool = MakePool("me");
    snap.RestoreClocks(pool);
    EXPECT_EQ(pool.member_ltime(), 0u);
    EXPECT_EQ(pool.event_min_time(), 0u);
    EXPECT_TRUE(snap.StartRejoin(kT0, pool, "me:8301").empty());
    EXPECT_FALSE(snap.rejoining());
  }
  {
    SerfSnapshot snap(std::string(kSerfSnapshotLanKey), &storage, /*rejoin_after_leave=*/true, 1, kT0, Logger());
    EXPECT_EQ(snap.previous().size(), 3u);
    gossip::Serf pool = MakePool("me");
    snap.RestoreClocks(pool);
    EXPECT_EQ(pool.member_ltime(), 18u);
    EXPECT_EQ(pool.event_ltime(), 6u);
    EXPECT_EQ(pool.query_ltime(), 4u);
    // Events at or before the previous life's latest are not handed out again.
    EXPECT_EQ(pool.event_min_time(), 6u);
    EXPECT_EQ(snap.StartRejoin(kT0, pool, "me:8301").size(), 3u);
  }
}

TEST(SerfSnapshot, WritesAreRateBoundedCoalescedAndReadBack) {
  MapStorage storage;
  gossip::Serf pool = MakePool("me");
  Effects start;
  pool.Start(kT0, &start);
  SerfSnapshot snap(std::string(kSerfSnapshotLanKey), &storage, false, 1, kT0, Logger());
  Effects out;
  snap.Tick(kT0, pool, /*members_changed=*/true, &out);
  EXPECT_EQ(out.writes.size(), 1u);
  // More changes within the period: one write at its end, not one each.
  for (int i = 1; i <= 9; ++i) {
    Effects more;
    snap.Tick(kT0 + absl::Milliseconds(100 * i), pool, true, &more);
    EXPECT_TRUE(more.writes.empty());
    ASSERT_TRUE(more.wake_at.has_value());
    EXPECT_EQ(*more.wake_at, kT0 + kSnapshotWritePeriod);
  }
  Effects due;
  snap.Tick(kT0 + kSnapshotWritePeriod, pool, false, &due);
  ASSERT_EQ(due.writes.size(), 1u);
  EXPECT_EQ(due.writes[0].id, 2u);
  EXPECT_TRUE(due.writes[0].sync);
  Effects quiet;
  snap.Tick(kT0 + absl::Seconds(5), pool, false, &quiet);
  EXPECT_TRUE(quiet.writes.empty());
  // A graceful leave: written at once, synced, with its mark; nothing after.
  Effects leave;
  snap.Leave(kT0 + absl::Seconds(5), pool, &leave);
  ASSERT_EQ(leave.writes.size(), 1u);
  EXPECT_TRUE(leave.writes[0].sync);
  storage.Apply(leave);
  Effects after;
  snap.Tick(kT0 + absl::Seconds(9), pool, true, &after);
  EXPECT_TRUE(after.writes.empty());
  EXPECT_TRUE(DecodeSerfSnapshot(*storage.Get(kSerfSnapshotLanKey)).record.left);
}

TEST(SerfSnapshot, RejoinRetriesTheMissingUntilTheWindowEnds) {
  MapStorage storage;
  SerfSnapshotRecord r;
  for (int i = 1; i <= 6; ++i) r.members.push_back({absl::StrCat("n", i), absl::StrCat("n", i, ":8301"), i > 4});
  r.members.push_back({"me", "me:8301", false});  // ourselves: never a seed
  storage.data_[std::string(kSerfSnapshotLanKey)] = EncodeSerfSnapshot(r);
  SerfSnapshot snap(std::string(kSerfSnapshotLanKey), &storage, false, 3, kT0, Logger());
  gossip::Serf pool = MakePool("me");
  Effects start;
  pool.Start(kT0, &start);
  std::vector<Address> first = snap.StartRejoin(kT0, pool, "me:8301");
  EXPECT_EQ(first.size(), kSnapshotRejoinSeedsMax);
  EXPECT_EQ(std::set<Address>(first.begin(), first.end()).size(), first.size());
  for (const Address& a : first) EXPECT_NE(a, "me:8301");
  std::set<Address> tried(first.begin(), first.end());
  int attempts = 0;
  Time now = kT0;
  for (; now < kT0 + kSnapshotRejoinWindow + absl::Seconds(30); now += absl::Seconds(1)) {
    Effects out;
    std::vector<Address> seeds = snap.Tick(now, pool, false, &out);
    if (!seeds.empty()) {
      ++attempts;
      EXPECT_LE(seeds.size(), kSnapshotRejoinSeedsMax);
      tried.insert(seeds.begin(), seeds.end());
    }
    storage.Apply(out);
    if (now < kT0 + absl::Minutes(1)) {
      // While re-joining, the previous members stay in the record (the first one's, until a
      // change is written).
      EXPECT_GE(DecodeSerfSnapshot(storage.Get(kSerfSnapshotLanKey).value_or("")).record.members.size(), 6u);
    }
  }
  EXPECT_FALSE(snap.rejoining());
  EXPECT_EQ(attempts, kSnapshotRejoinWindow / kSnapshotRejoinInterval - 1);
  EXPECT_EQ(tried.size(), 6u);  // every previous member but ourselves, over the attempts
  // Once the window is over, the members never seen again are no longer kept.
  EXPECT_TRUE(DecodeSerfSnapshot(*storage.Get(kSerfSnapshotLanKey)).record.members.empty());
}

}  // namespace
}  // namespace muster::agent
