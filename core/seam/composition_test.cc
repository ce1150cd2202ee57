#include "core/seam/composition.h"

#include "gtest/gtest.h"

namespace muster {
namespace {

Time T(int ms) { return absl::UnixEpoch() + absl::Milliseconds(ms); }

StorageWrite Write(uint64_t id, bool sync = true) {
  StorageWrite w;
  w.id = id;
  w.sync = sync;
  w.Put("k" + std::to_string(id), "v");
  return w;
}

OutboundMessage Gated(uint64_t after) {
  OutboundMessage m;
  m.to = "peer";
  m.payload = "x";
  m.after_write_id = after;
  return m;
}

TEST(Composition, OneIncreasingWriteSequenceAndGatesRewritten) {
  Composition comp;
  auto raft = comp.Add("raft");
  auto serf = comp.Add("serf");
  Effects out;
  Effects a;
  a.writes = {Write(1), Write(2)};
  a.messages = {Gated(2), Gated(0)};
  comp.Merge(raft, std::move(a), &out);
  Effects b;
  b.writes = {Write(1)};
  b.messages = {Gated(1)};
  b.responses = {Response{.request_id = 7, .after_write_id = 1}};
  comp.Merge(serf, std::move(b), &out);
  ASSERT_EQ(out.writes.size(), 3u);
  EXPECT_EQ(out.writes[0].id, 1u);
  EXPECT_EQ(out.writes[1].id, 2u);
  EXPECT_EQ(out.writes[2].id, 3u);
  EXPECT_EQ(out.writes[2].ops[0].key, "k1");  // serf's own write 1
  ASSERT_EQ(out.messages.size(), 3u);
  EXPECT_EQ(out.messages[0].after_write_id, 2u);
  EXPECT_EQ(out.messages[1].after_write_id, 0u);
  EXPECT_EQ(out.messages[2].after_write_id, 3u);  // serf's write 1 is the machine's 3
  EXPECT_EQ(out.responses[0].after_write_id, 3u);
  EXPECT_EQ(comp.writes_in_flight(), 3u);
}

TEST(Composition, DurabilityIsRoutedToEachWriterOnceWithPrefixMeaning) {
  Composition comp;
  auto raft = comp.Add("raft");
  auto serf = comp.Add("serf");
  Effects out;
  Effects a;
  a.writes = {Write(1), Write(2, /*sync=*/false)};
  comp.Merge(raft, std::move(a), &out);  // machine 1, 2
  Effects b;
  b.writes = {Write(5)};
  comp.Merge(serf, std::move(b), &out);  // machine 3
  Effects c;
  c.writes = {Write(3)};
  comp.Merge(raft, std::move(c), &out);  // machine 4

  auto d1 = comp.OnDurable(1);
  ASSERT_EQ(d1.size(), 1u);
  EXPECT_EQ(d1[0].component, raft);
  EXPECT_EQ(d1[0].write_id, 1u);
  // Machine write 3 durable: raft's 2 (unsynced, but before it) and serf's 5.
  auto d3 = comp.OnDurable(3);
  ASSERT_EQ(d3.size(), 2u);
  EXPECT_EQ(d3[0].component, raft);
  EXPECT_EQ(d3[0].write_id, 2u);
  EXPECT_EQ(d3[1].component, serf);
  EXPECT_EQ(d3[1].write_id, 5u);
  EXPECT_TRUE(comp.OnDurable(3).empty());  // told once
  EXPECT_TRUE(comp.OnDurable(2).empty());  // an older acknowledgement changes nothing
  // A gate on a write already durable leaves at once.
  Effects e;
  e.messages = {Gated(2), Gated(3)};
  comp.Merge(raft, std::move(e), &out);
  EXPECT_EQ(out.messages[0].after_write_id, 0u);
  EXPECT_EQ(out.messages[1].after_write_id, 4u);
  auto d4 = comp.OnDurable(4);
  ASSERT_EQ(d4.size(), 1u);
  EXPECT_EQ(d4[0].write_id, 3u);
  EXPECT_EQ(comp.writes_in_flight(), 0u);
}

TEST(Composition, TheEarliestWakeUpOfAllAndEachComponentReplacesItsOwn) {
  Composition comp;
  auto raft = comp.Add("raft");
  auto serf = comp.Add("serf");
  Effects out;
  Effects a;
  a.wake_at = T(50);
  comp.Merge(raft, std::move(a), &out);
  Effects b;
  b.wake_at = T(200);
  comp.Merge(serf, std::move(b), &out);
  EXPECT_EQ(out.wake_at, T(50));
  // Raft now wants 300: the earliest is serf's 200, though 50 was asked earlier.
  Effects c;
  c.wake_at = T(300);
  comp.Merge(raft, std::move(c), &out);
  EXPECT_EQ(out.wake_at, T(200));
  Effects none;
  comp.Merge(serf, std::move(none), &out);  // serf wants no wake-up any more
  EXPECT_EQ(out.wake_at, T(300));
  EXPECT_EQ(comp.wake_at(), T(300));
}

TEST(Composition, ProcessIdsAreOneSequenceAndExitsGoToTheStarter) {
  Composition comp;
  auto serf = comp.Add("serf");
  auto checks = comp.Add("checks");
  Effects out;
  Effects a;
  a.processes = {ProcessStart{.id = 1, .command = "handler"}};
  comp.Merge(serf, std::move(a), &out);
  Effects b;
  b.processes = {ProcessStart{.id = 1, .command = "check"}};
  comp.Merge(checks, std::move(b), &out);
  ASSERT_EQ(out.processes.size(), 2u);
  EXPECT_EQ(out.processes[0].id, 1u);
  EXPECT_EQ(out.processes[1].id, 2u);
  auto p = comp.OnProcessExited(2);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->component, checks);
  EXPECT_EQ(p->process_id, 1u);
  EXPECT_FALSE(comp.OnProcessExited(2).has_value());   // routed once
  EXPECT_FALSE(comp.OnProcessExited(99).has_value());  // never issued
}

TEST(CompositionDeathTest, AComponentWhoseWriteIdsGoBackIsABug) {
  Composition comp;
  auto raft = comp.Add("raft");
  Effects out;
  Effects a;
  a.writes = {Write(2)};
  comp.Merge(raft, std::move(a), &out);
  Effects b;
  b.writes = {Write(2)};
  EXPECT_DEATH(comp.Merge(raft, std::move(b), &out), "write ids must increase");
}

}  // namespace
}  // namespace muster
