// Committed entries that Ready hands out point into Raft's log (no copy per entry). They must
// stay valid while the host applies them even when applying proposes (session expiry, the
// leader's reconcile): the log keeps entries in a std::deque, whose push_back never moves the
// elements already in it. Only Compact, a received snapshot or a conflicting append free
// entries, and the host makes none of those calls while it applies (raft.h, Ready).
#include "core/raft/raft.h"
#include "core/raft/test_configuration.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

TEST(CommittedEntries, StayValidWhileApplyingProposes) {
  Time now = SimEpoch();
  Ready boot;
  std::unique_ptr<Raft> leader = SingleServerLeader(now, &boot);
  Raft& r = *leader;
  uint64_t last_write = 0;
  for (const StorageWrite& w : boot.effects.writes) last_write = w.id;
  for (int i = 0; i < 200; ++i) {
    Ready out;
    ASSERT_TRUE(r.Propose(now, "first-" + std::to_string(i), &out).ok());
    for (const StorageWrite& w : out.effects.writes) last_write = w.id;
  }
  Ready ready;
  r.WriteDurable(now, last_write, &ready);
  ASSERT_GE(ready.committed.size(), 200u);
  // Apply: every entry proposes 15 more (3,000 appends, hundreds of deque blocks; under the write-in-flight bound), then reads the
  // entries handed out before and after.
  size_t applied = 0;
  for (const pb::Entry* e : ready.committed) {
    const std::string before = e->data();
    for (int j = 0; j < 15; ++j) {
      Ready more;
      ASSERT_TRUE(r.Propose(now, "second", &more).ok());
    }
    EXPECT_EQ(e->data(), before);
    EXPECT_EQ(ready.committed.front()->index(), ready.committed.front()->index());
    ++applied;
  }
  EXPECT_EQ(applied, ready.committed.size());
  EXPECT_EQ(ready.committed.back()->data(), "first-199");
}

}  // namespace
}  // namespace muster::raft
