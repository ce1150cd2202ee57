// The simulated disk: what a crash keeps, and that messages gated on a write wait for it.
#include "sim/disk.h"

#include "gtest/gtest.h"
#include "sim/chatter_machine.h"
#include "sim/simulator.h"

namespace muster::sim {
namespace {

StorageWrite Write(uint64_t id, std::string key, std::string value, bool sync = true) {
  StorageWrite w;
  w.id = id;
  w.sync = sync;
  w.Put(std::move(key), std::move(value));
  return w;
}

TEST(DiskTest, UnsyncedWritesAreVisibleButLostOnCrash) {
  Disk disk;
  Rng rng(1);
  disk.Apply(Write(1, "a", "1"));
  disk.Apply(Write(2, "b", "2"));
  disk.SyncThrough(1);
  disk.Apply(Write(3, "c", "3", /*sync=*/false));
  EXPECT_EQ(disk.Get("b"), "2");
  EXPECT_EQ(disk.Get("c"), "3");
  EXPECT_EQ(disk.unsynced_writes(), 2u);
  disk.Crash(rng, /*torn=*/false);
  EXPECT_EQ(disk.Get("a"), "1");
  EXPECT_EQ(disk.Get("b"), std::nullopt);
  EXPECT_EQ(disk.Get("c"), std::nullopt);
}

TEST(DiskTest, TornWriteKeepsAPrefixOfTheFirstUnsyncedWrite) {
  int kept_some = 0, kept_all = 0, kept_none = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Disk disk;
    Rng rng(seed);
    StorageWrite w;
    w.id = 1;
    w.sync = true;
    for (int i = 0; i < 4; ++i) w.Put("k" + std::to_string(i), "v");
    disk.Apply(w);
    disk.Crash(rng, /*torn=*/true);
    int present = 0;
    bool prefix = true;
    for (int i = 0; i < 4; ++i) {
      bool has = disk.Get("k" + std::to_string(i)).has_value();
      if (has && present != i) prefix = false;
      present += has;
    }
    ASSERT_TRUE(prefix) << "a torn write keeps a prefix, never a hole";
    kept_none += present == 0;
    kept_all += present == 4;
    kept_some += present > 0 && present < 4;
  }
  EXPECT_GT(kept_none, 0);
  EXPECT_GT(kept_all, 0);
  EXPECT_GT(kept_some, 0);
}

TEST(DiskTest, DeleteAndDeleteRangeAndScan) {
  Disk disk;
  StorageWrite w;
  w.id = 1;
  for (const char* k : {"log/1", "log/2", "log/3", "meta"}) w.Put(k, "x");
  disk.Apply(w);
  StorageWrite d;
  d.id = 2;
  d.DeleteRange("log/1", "log/3");
  d.Delete("meta");
  disk.Apply(d);
  std::vector<std::string> keys;
  disk.Scan("", "", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  });
  EXPECT_EQ(keys, std::vector<std::string>{"log/3"});
}

TEST(DiskTest, WipeLosesEverything) {
  Disk disk;
  disk.Apply(Write(1, "a", "1"));
  disk.SyncThrough(1);
  disk.Wipe();
  EXPECT_EQ(disk.Get("a"), std::nullopt);
}

// Seam rule 2 end to end: a message gated on a write is never seen before that write is
// durable, over many seeds with random sync latencies and crashes.
TEST(DiskTest, GatedMessagesNeverOvertakeDurability) {
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    Simulator sim(seed);
    DiskConfig disk_config;
    disk_config.sync_latency_max = absl::Milliseconds(30);  // slower than the send period
    sim.set_disk_config(disk_config);
    std::vector<ChatterMachine*> live;
    ChatterConfig config;
    config.peers = {"n1", "n2"};
    config.persist_before_send = true;
    sim.AddNode(ChatterMachine::Factory(config, &live));
    sim.AddNode(ChatterMachine::Factory(config, &live));
    sim.set_step_observer([&](NodeId node, const Input& input, const Effects&) {
      const auto* m = std::get_if<MessageInput>(&input.what);
      if (m == nullptr || node != NodeId{2}) return;
      const uint64_t seq = std::stoull(m->payload);
      // The sender's durable counter (what survives a crash right now) covers this seq.
      Disk probe = sim.disk(NodeId{1});
      Rng rng(0);
      probe.Crash(rng, false);
      const auto durable = probe.Get("chatter/seq");
      ASSERT_TRUE(durable.has_value());
      ASSERT_GE(std::stoull(*durable), seq) << "seed " << seed;
    });
    sim.At(SimEpoch() + absl::Milliseconds(333), [&] { sim.Kill(NodeId{1}, true); });
    sim.At(SimEpoch() + absl::Milliseconds(400), [&] { sim.Restart(NodeId{1}); });
    sim.RunFor(absl::Seconds(1));
    EXPECT_GT(live[1]->received().size(), 20u);
  }
}

}  // namespace
}  // namespace muster::sim
