// Autopilot's configuration in the state store: applied through the log with its indexes set by
// the apply, check-and-set, validation naming the field, in snapshots (version 2) and the
// content hash, and snapshots written before it existed (version 1) still restoring; random
// sets against a model.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "core/base/rng.h"
#include "core/state/codec.h"
#include "core/state/fsm.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using proto::state::KVRequest;
using testing::KV;
using testing::LiveNodeReq;
using testing::MakeSession;
using testing::ServiceReq;
using testing::T;

ApplyResult Apply(Fsm& f, uint64_t index, const proto::state::Command& c) {
  return f.Apply(index, c.SerializeAsString());  // through the bytes, as from the log
}

// Nodes, a service, a session, KV (a tombstone, a lock taken and released): applied at 1-8.
void PopulateSmall(Fsm& f) {
  ASSERT_TRUE(Apply(f, 1, commands::Register(T(0), ServiceReq("n1", "web-1", "web", {"v1"}, 8080))).status.ok());
  ASSERT_TRUE(Apply(f, 2, commands::Register(T(0), LiveNodeReq("n2", "10.0.0.2"))).status.ok());
  ASSERT_TRUE(Apply(f, 3, commands::SessionCreate(T(1), MakeSession("s1", "n2", absl::Seconds(30)), true)).status.ok());
  ASSERT_TRUE(Apply(f, 4, commands::KV(T(2), KVRequest::SET, KV("cfg/a", "1", "", 7))).ok);
  ASSERT_TRUE(Apply(f, 5, commands::KV(T(2), KVRequest::SET, KV("cfg/b", "2"))).ok);
  ASSERT_TRUE(Apply(f, 6, commands::KV(T(2), KVRequest::DELETE, KV("cfg/b"))).ok);
  ASSERT_TRUE(Apply(f, 7, commands::KV(T(3), KVRequest::LOCK, KV("lock/a", "x", "s1"))).ok);
  ASSERT_TRUE(Apply(f, 8, commands::KV(T(4), KVRequest::UNLOCK, KV("lock/a", "x", "s1"))).ok);
}

// Fsm::Snapshot() of PopulateSmall's state as the store wrote it before autopilot's
// configuration was added (commit 400ec7d, snapshot version 1), and its ContentHash since KV
// and tombstones enter the hash as row sums (the bytes are unchanged; the hash was
// 10873578414760887095 while every table was folded in order).
constexpr char kPreAutopilotSnapshotHex[] =
    "080110081a1712026e311a0831302e302e302e312203646331380140011a1712026e321a0831302e302e302e32220364"
    "63313802400222210a026e31121b0a057765622d3112037765621a02763128903f38014001580160012a280a026e3212"
    "0a736572664865616c74681a1253657266204865616c7468205374617475735802600232100a056366672f6112013118"
    "073004380432110a066c6f636b2f611201782001300738083a090a056366672f62100642300a0273311a026e32220a73"
    "6572664865616c74683080acc7f0374080d88ee16f4803500358016080c4b0d0c6a1e7cb17520a0a06636865636b7310"
    "0252070a036b7673100852090a056e6f6465731002520c0a0873657276696365731001520c0a0873657373696f6e7310"
    "035a070a0377656210016080d0d4a4f29fe7cb176880d0d4a4f29fe7cb17";
constexpr uint64_t kPreAutopilotContentHash = 14856598283455900224ULL;

// Every field away from Consul's default.
AutopilotConfiguration Custom() {
  AutopilotConfiguration c;
  c.cleanup_dead_servers = false;
  c.last_contact_threshold = absl::Milliseconds(500);
  c.max_trailing_logs = 1000;
  c.min_quorum = 3;
  c.server_stabilization_time = absl::Seconds(30);
  c.redundancy_zone_tag = "zone";
  c.disable_upgrade_migration = true;
  c.upgrade_version_tag = "build";
  return c;
}

TEST(AutopilotStateTest, SetStoresTheConfigurationWithIndexesFromTheApply) {
  Fsm f;
  PopulateSmall(f);
  EXPECT_FALSE(f.store().Autopilot().has_value());
  f.watches().Add(7, {WatchTopic::Table(kTableAutopilot)});
  f.watches().Add(8, {WatchTopic::Table(kTableKVs)});

  AutopilotConfiguration proposed = Custom();
  proposed.create_index = 77;  // a proposer's indexes are ignored
  proposed.modify_index = 78;
  ApplyResult set = Apply(f, 9, commands::AutopilotSet(T(5), proposed));
  ASSERT_TRUE(set.status.ok()) << set.status;
  EXPECT_TRUE(set.ok);
  EXPECT_EQ(set.woken, std::vector<uint64_t>{7});
  ASSERT_TRUE(f.store().Autopilot().has_value());
  AutopilotConfiguration want = Custom();
  want.create_index = 9;
  want.modify_index = 9;
  EXPECT_EQ(*f.store().Autopilot(), want);
  EXPECT_EQ(f.store().TableIndex(kTableAutopilot), 9u);

  // A second set keeps CreateIndex and moves ModifyIndex.
  AutopilotConfiguration defaults;
  ASSERT_TRUE(Apply(f, 10, commands::AutopilotSet(T(6), defaults)).ok);
  defaults.create_index = 9;
  defaults.modify_index = 10;
  EXPECT_EQ(*f.store().Autopilot(), defaults);
  EXPECT_EQ(f.store().TableIndex(kTableAutopilot), 10u);
  EXPECT_EQ(f.store().TableIndex(kTableKVs), 8u);  // nothing else moved
}

TEST(AutopilotStateTest, CheckAndSet) {
  Fsm f;
  PopulateSmall(f);
  // cas 0: only while none is stored (what a new leader proposes to seed its defaults).
  ApplyResult first = Apply(f, 9, commands::AutopilotSet(T(5), Custom(), /*has_cas=*/true, 0));
  ASSERT_TRUE(first.status.ok());
  EXPECT_TRUE(first.ok);
  EXPECT_EQ(f.store().Autopilot()->modify_index, 9u);

  f.watches().Add(1, {WatchTopic::Table(kTableAutopilot)});
  const uint64_t hash = f.ContentHash();
  for (uint64_t stale_cas : {uint64_t{0}, uint64_t{8}, uint64_t{10}}) {
    const uint64_t index = f.store().last_index() + 1;
    ApplyResult lost = Apply(f, index, commands::AutopilotSet(T(6), AutopilotConfiguration{}, true, stale_cas));
    EXPECT_TRUE(lost.status.ok()) << "a failed CAS is not an error";
    EXPECT_FALSE(lost.ok) << "cas " << stale_cas;
    EXPECT_TRUE(lost.woken.empty());
    EXPECT_EQ(f.store().Autopilot()->modify_index, 9u);
    EXPECT_FALSE(f.store().Autopilot()->cleanup_dead_servers);
  }
  // Only the applied index moved.
  Fsm same;
  PopulateSmall(same);
  ASSERT_TRUE(Apply(same, 9, commands::AutopilotSet(T(5), Custom(), true, 0)).ok);
  ASSERT_TRUE(Apply(same, 12, commands::KV(T(6), KVRequest::CAS, KV("cfg/a"), 1)).status.ok());
  EXPECT_EQ(f.ContentHash(), same.ContentHash());
  EXPECT_NE(f.ContentHash(), hash);

  ApplyResult won = Apply(f, 13, commands::AutopilotSet(T(7), AutopilotConfiguration{}, true, 9));
  ASSERT_TRUE(won.status.ok());
  EXPECT_TRUE(won.ok);
  EXPECT_EQ(won.woken, std::vector<uint64_t>{1});
  EXPECT_TRUE(f.store().Autopilot()->cleanup_dead_servers);
  EXPECT_EQ(f.store().Autopilot()->create_index, 9u);
  EXPECT_EQ(f.store().Autopilot()->modify_index, 13u);
}

TEST(AutopilotStateTest, CasWithoutAStoredConfigurationFailsUnlessZero) {
  Store s;
  absl::StatusOr<bool> r = s.AutopilotSet(1, Custom(), true, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_FALSE(s.Autopilot().has_value());
  EXPECT_TRUE(s.TakeChanges().empty());
  r = s.AutopilotSet(2, Custom(), true, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

TEST(AutopilotStateTest, AbsurdValuesAreRefusedNamingTheField) {
  struct Case {
    std::string field;
    std::function<void(AutopilotConfiguration&)> spoil;
  };
  const StoreConfig limits;
  const std::vector<Case> cases = {
      {"LastContactThreshold", [](AutopilotConfiguration& c) { c.last_contact_threshold = absl::Nanoseconds(-1); }},
      {"LastContactThreshold",
       [&](AutopilotConfiguration& c) { c.last_contact_threshold = limits.autopilot_duration_max + absl::Nanoseconds(1); }},
      {"ServerStabilizationTime", [](AutopilotConfiguration& c) { c.server_stabilization_time = absl::Seconds(-10); }},
      {"ServerStabilizationTime", [](AutopilotConfiguration& c) { c.server_stabilization_time = absl::Hours(25); }},
      {"MaxTrailingLogs", [](AutopilotConfiguration& c) { c.max_trailing_logs = ~uint64_t{0}; }},
      {"MinQuorum", [&](AutopilotConfiguration& c) { c.min_quorum = limits.autopilot_min_quorum_max + 1; }},
      {"RedundancyZoneTag",
       [&](AutopilotConfiguration& c) { c.redundancy_zone_tag.assign(limits.autopilot_tag_bytes_max + 1, 'z'); }},
      {"UpgradeVersionTag",
       [&](AutopilotConfiguration& c) { c.upgrade_version_tag.assign(limits.autopilot_tag_bytes_max + 1, 'v'); }},
  };
  Fsm f;
  PopulateSmall(f);
  ASSERT_TRUE(Apply(f, 9, commands::AutopilotSet(T(5), Custom())).ok);
  const AutopilotConfiguration stored = *f.store().Autopilot();
  uint64_t index = 10;
  for (const Case& c : cases) {
    AutopilotConfiguration bad = Custom();
    c.spoil(bad);
    // Refused whether or not the CAS would have matched.
    for (bool has_cas : {false, true}) {
      ApplyResult r = Apply(f, index++, commands::AutopilotSet(T(6), bad, has_cas, 9));
      EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.field;
      EXPECT_TRUE(absl::StrContains(r.status.message(), c.field)) << r.status;
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(*f.store().Autopilot(), stored) << c.field;
    }
  }
  // The bounds themselves are allowed.
  AutopilotConfiguration edge;
  edge.last_contact_threshold = absl::ZeroDuration();
  edge.server_stabilization_time = limits.autopilot_duration_max;
  edge.max_trailing_logs = limits.autopilot_trailing_logs_max;
  edge.min_quorum = limits.autopilot_min_quorum_max;
  edge.redundancy_zone_tag.assign(limits.autopilot_tag_bytes_max, 'z');
  EXPECT_TRUE(Apply(f, index, commands::AutopilotSet(T(7), edge)).ok);
}

TEST(AutopilotStateTest, SnapshotRoundTrip) {
  Fsm f;
  PopulateSmall(f);
  ASSERT_TRUE(Apply(f, 9, commands::AutopilotSet(T(5), AutopilotConfiguration{})).ok);
  ASSERT_TRUE(Apply(f, 10, commands::AutopilotSet(T(6), Custom())).ok);
  const std::string bytes = f.Snapshot();
  proto::state::Snapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.version(), 2u);

  Fsm restored;
  restored.watches().Add(3, {WatchTopic::Table(kTableAutopilot)});
  absl::StatusOr<std::vector<uint64_t>> woken = restored.Restore(bytes);
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_EQ(*woken, std::vector<uint64_t>{3});
  ASSERT_TRUE(restored.store().Autopilot().has_value());
  EXPECT_EQ(*restored.store().Autopilot(), *f.store().Autopilot());
  EXPECT_EQ(restored.store().Autopilot()->create_index, 9u);
  EXPECT_EQ(restored.store().TableIndex(kTableAutopilot), 10u);
  EXPECT_EQ(restored.ContentHash(), f.ContentHash());
  EXPECT_EQ(restored.Snapshot(), bytes);

  // The restored ModifyIndex is what a CAS must name.
  EXPECT_FALSE(Apply(restored, 11, commands::AutopilotSet(T(7), AutopilotConfiguration{}, true, 9)).ok);
  EXPECT_TRUE(Apply(restored, 12, commands::AutopilotSet(T(7), AutopilotConfiguration{}, true, 10)).ok);

  // A restore of a state without one drops it.
  Fsm plain;
  PopulateSmall(plain);
  ASSERT_TRUE(restored.Restore(plain.Snapshot()).ok());
  EXPECT_FALSE(restored.store().Autopilot().has_value());
  EXPECT_EQ(restored.ContentHash(), plain.ContentHash());
}

TEST(AutopilotStateTest, ContentHashCoversEveryField) {
  Fsm base;
  PopulateSmall(base);
  const uint64_t without = base.ContentHash();
  ASSERT_TRUE(Apply(base, 9, commands::AutopilotSet(T(5), Custom())).ok);
  const uint64_t with = base.ContentHash();
  EXPECT_NE(with, without);

  const std::vector<std::function<void(AutopilotConfiguration&)>> changes = {
      [](AutopilotConfiguration& c) { c.cleanup_dead_servers = true; },
      [](AutopilotConfiguration& c) { c.last_contact_threshold += absl::Nanoseconds(1); },
      [](AutopilotConfiguration& c) { c.max_trailing_logs += 1; },
      [](AutopilotConfiguration& c) { c.min_quorum += 1; },
      [](AutopilotConfiguration& c) { c.server_stabilization_time += absl::Nanoseconds(1); },
      [](AutopilotConfiguration& c) { c.redundancy_zone_tag += "x"; },
      [](AutopilotConfiguration& c) { c.disable_upgrade_migration = false; },
      [](AutopilotConfiguration& c) { c.upgrade_version_tag += "x"; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    Fsm other;
    PopulateSmall(other);
    AutopilotConfiguration c = Custom();
    changes[i](c);
    ASSERT_TRUE(Apply(other, 9, commands::AutopilotSet(T(5), c)).ok);
    EXPECT_NE(other.ContentHash(), with) << "change " << i;
  }
  // The indexes count too: equal but for CreateIndex (set at 9 and again at 10, or at 10).
  Fsm twice;
  PopulateSmall(twice);
  ASSERT_TRUE(Apply(twice, 9, commands::AutopilotSet(T(5), Custom())).ok);
  ASSERT_TRUE(Apply(twice, 10, commands::AutopilotSet(T(5), Custom())).ok);
  Fsm once;
  PopulateSmall(once);
  ASSERT_TRUE(Apply(once, 10, commands::AutopilotSet(T(5), Custom())).ok);
  ASSERT_EQ(twice.store().Autopilot()->modify_index, once.store().Autopilot()->modify_index);
  EXPECT_NE(twice.ContentHash(), once.ContentHash());
}

TEST(AutopilotStateTest, SnapshotFromBeforeAutopilotStillRestores) {
  const std::string old_bytes = absl::HexStringToBytes(kPreAutopilotSnapshotHex);
  Fsm f;
  ASSERT_TRUE(f.Restore(old_bytes).ok());
  EXPECT_FALSE(f.store().Autopilot().has_value());
  EXPECT_EQ(f.store().last_index(), 8u);
  ASSERT_TRUE(f.store().KVGet("cfg/a").value.has_value());
  EXPECT_EQ(f.store().KVGet("cfg/a").value->flags, 7u);
  EXPECT_EQ(f.store().Nodes().value.size(), 2u);
  // Its hash is the one the old store gave it, and a state without a configuration is still
  // written byte for byte as before (so runs that never set one keep their fingerprints).
  EXPECT_EQ(f.ContentHash(), kPreAutopilotContentHash);
  EXPECT_EQ(f.Snapshot(), old_bytes);
  Fsm rebuilt;
  PopulateSmall(rebuilt);
  EXPECT_EQ(rebuilt.Snapshot(), old_bytes);

  // And it carries on: a configuration set after it is snapshotted as version 2.
  ASSERT_TRUE(Apply(f, 9, commands::AutopilotSet(T(5), Custom(), true, 0)).ok);
  proto::state::Snapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(f.Snapshot()));
  EXPECT_EQ(parsed.version(), 2u);
  EXPECT_TRUE(parsed.has_autopilot());
}

TEST(AutopilotStateTest, InconsistentSnapshotsAreRefused) {
  Fsm f;
  PopulateSmall(f);
  ASSERT_TRUE(Apply(f, 9, commands::AutopilotSet(T(5), Custom())).ok);
  proto::state::Snapshot good;
  ASSERT_TRUE(good.ParseFromString(f.Snapshot()));

  struct Case {
    std::string what;
    std::function<void(proto::state::Snapshot&)> spoil;
    absl::StatusCode code = absl::StatusCode::kDataLoss;
  };
  const std::vector<Case> cases = {
      {"version 1 with a configuration", [](proto::state::Snapshot& s) { s.set_version(1); }},
      {"version 2 without one", [](proto::state::Snapshot& s) { s.clear_autopilot(); }},
      {"an unknown version", [](proto::state::Snapshot& s) { s.set_version(4); }, absl::StatusCode::kFailedPrecondition},
      {"an index past the snapshot", [](proto::state::Snapshot& s) { s.mutable_autopilot()->set_modify_index(10); }},
      {"no create index", [](proto::state::Snapshot& s) { s.mutable_autopilot()->set_create_index(0); }},
      {"create after modify",
       [](proto::state::Snapshot& s) {
         s.mutable_autopilot()->set_create_index(9);
         s.mutable_autopilot()->set_modify_index(8);
       }},
      {"a negative duration", [](proto::state::Snapshot& s) { s.mutable_autopilot()->set_last_contact_threshold_ns(-1); }},
  };
  for (const Case& c : cases) {
    proto::state::Snapshot bad = good;
    c.spoil(bad);
    Fsm target;
    PopulateSmall(target);
    const uint64_t before = target.ContentHash();
    absl::StatusOr<std::vector<uint64_t>> r = target.Restore(bad.SerializeAsString());
    EXPECT_EQ(r.status().code(), c.code) << c.what << ": " << r.status();
    EXPECT_EQ(target.ContentHash(), before) << c.what << ": a refused restore changed state";
  }
}

// Random sets (no CAS, cas 0, the stored index, a stale one; valid and refused values), with
// the store now and then replaced by restore(snapshot(store)), against a model of two lines:
// the stored configuration and whether a set applies.
TEST(AutopilotStateTest, RandomSetsAgreeWithAModel) {
  constexpr int kSteps = 3000;
  const StoreConfig limits;
  Rng rng(11);
  auto fsm = std::make_unique<Fsm>();
  std::optional<AutopilotConfiguration> model;
  int applied = 0, lost = 0, refused = 0, restores = 0;
  for (int step = 1; step <= kSteps; ++step) {
    const uint64_t index = static_cast<uint64_t>(step);
    AutopilotConfiguration c;
    c.cleanup_dead_servers = rng.Bernoulli(0.5);
    c.last_contact_threshold = rng.UniformDuration(absl::Seconds(-1), absl::Hours(25));
    c.max_trailing_logs = rng.Uniform(10) == 0 ? rng.Next() : rng.Uniform(10000);
    c.min_quorum = static_cast<uint32_t>(rng.Uniform(270));
    c.server_stabilization_time = rng.UniformDuration(absl::ZeroDuration(), absl::Minutes(5));
    c.redundancy_zone_tag = rng.Bernoulli(0.5) ? "zone" : "";
    const bool valid = c.last_contact_threshold >= absl::ZeroDuration() &&
                       c.last_contact_threshold <= limits.autopilot_duration_max &&
                       c.max_trailing_logs <= limits.autopilot_trailing_logs_max &&
                       c.min_quorum <= limits.autopilot_min_quorum_max;
    const uint64_t stored = model.has_value() ? model->modify_index : 0;
    bool has_cas = true;
    uint64_t cas = 0;
    switch (rng.Uniform(4)) {
      case 0: has_cas = false; break;
      case 1: cas = 0; break;
      case 2: cas = stored; break;
      case 3: cas = stored + 1 + rng.Uniform(3); break;
    }
    ApplyResult r = Apply(*fsm, index, commands::AutopilotSet(T(step), c, has_cas, cas));
    if (!valid) {
      ASSERT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << "step " << step;
      ++refused;
    } else if (has_cas && cas != stored) {
      ASSERT_TRUE(r.status.ok()) << r.status;
      ASSERT_FALSE(r.ok) << "step " << step;
      ++lost;
    } else {
      ASSERT_TRUE(r.ok) << "step " << step << ": " << r.status;
      c.create_index = model.has_value() ? model->create_index : index;
      c.modify_index = index;
      model = c;
      ++applied;
    }
    ASSERT_EQ(fsm->store().Autopilot(), model) << "step " << step;
    if (rng.Uniform(100) == 0) {
      auto restored = std::make_unique<Fsm>();
      ASSERT_TRUE(restored->Restore(fsm->Snapshot()).ok());
      ASSERT_EQ(restored->ContentHash(), fsm->ContentHash());
      fsm = std::move(restored);
      ++restores;
    }
  }
  std::printf("autopilot model: %d steps, %d applied, %d lost the CAS, %d refused, %d restores\n", kSteps,
              applied, lost, refused, restores);
  EXPECT_GT(applied, kSteps / 10);
  EXPECT_GT(lost, kSteps / 10);
  EXPECT_GT(refused, kSteps / 10);
  EXPECT_GT(restores, 10);
}

TEST(AutopilotStateTest, CommandRoundTripsThroughProto) {
  AutopilotConfiguration c = Custom();
  c.create_index = 4;
  c.modify_index = 5;
  EXPECT_EQ(FromProto(ToProto(c)), c);
  proto::state::Command cmd = commands::AutopilotSet(T(3), c, true, 42);
  proto::state::Command parsed;
  ASSERT_TRUE(parsed.ParseFromString(cmd.SerializeAsString()));
  ASSERT_EQ(parsed.cmd_case(), proto::state::Command::kAutopilotSet);
  EXPECT_TRUE(parsed.autopilot_set().has_cas());
  EXPECT_EQ(parsed.autopilot_set().cas(), 42u);
  EXPECT_EQ(parsed.autopilot_set().config().last_contact_threshold_ns(), 500'000'000);
  EXPECT_EQ(FromProto(parsed.autopilot_set().config()), c);
}

}  // namespace
}  // namespace muster::state
