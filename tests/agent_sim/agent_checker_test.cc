// LogMatchingTracker, the agent checker's log matching: compared check after check over what
// may have changed since the last, it still catches a diverged entry in the new tail at once,
// one under an uncommitted tail rewritten with the same term at once, and one changed in place
// inside an old committed region within kLogMatchingFullPassEvery checks; logs that only
// truncated and rewrote an uncommitted tail pass.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/raft/log.h"
#include "tests/agent_sim/agent_checker.h"

namespace muster::agent_sim {
namespace {

// A log holding entries 1..terms.size() with those terms; entry i's data is "d<i>", or
// `other_data` at index `other_at`.
raft::RaftLog MakeLog(const std::vector<uint64_t>& terms, uint64_t other_at = 0, std::string other_data = "") {
  raft::RaftLog log;
  StorageWrite w;
  for (size_t k = 0; k < terms.size(); ++k) {
    raft::pb::Entry e;
    e.set_index(k + 1);
    e.set_term(terms[k]);
    e.set_type(raft::pb::ENTRY_NORMAL);
    e.set_data(k + 1 == other_at ? other_data : "d" + std::to_string(k + 1));
    log.Append(std::move(e), &w);
  }
  return log;
}

const int kLifeA = 0, kLifeB = 0;  // two lives' identities (their addresses)

std::vector<LogMatchingTracker::Server> Pair(const raft::RaftLog& a, uint64_t commit_a, const raft::RaftLog& b,
                                             uint64_t commit_b) {
  return {{1, &kLifeA, &a, commit_a}, {2, &kLifeB, &b, commit_b}};
}

TEST(LogMatchingTrackerTest, AgreeingLogsPassAndLaterChecksCompareOnlyTheNewTail) {
  LogMatchingTracker t;
  const std::vector<uint64_t> terms(100, 1);
  raft::RaftLog a = MakeLog(terms), b = MakeLog(terms);
  EXPECT_EQ(t.Check(Pair(a, 100, b, 100)), std::nullopt);
  EXPECT_EQ(t.entries_compared(), 100u);
  std::vector<uint64_t> longer(110, 1);
  raft::RaftLog a2 = MakeLog(longer), b2 = MakeLog(longer);
  EXPECT_EQ(t.Check(Pair(a2, 105, b2, 110)), std::nullopt);
  EXPECT_EQ(t.entries_compared(), 110u);  // 101..110 only
}

TEST(LogMatchingTrackerTest, DivergedEntryInTheNewTailIsCaughtAtOnce) {
  LogMatchingTracker t;
  raft::RaftLog a = MakeLog(std::vector<uint64_t>(50, 1)), b = MakeLog(std::vector<uint64_t>(50, 1));
  ASSERT_EQ(t.Check(Pair(a, 50, b, 50)), std::nullopt);
  raft::RaftLog a2 = MakeLog(std::vector<uint64_t>(60, 1)), b2 = MakeLog(std::vector<uint64_t>(60, 1), 55, "x");
  const std::optional<std::string> why = t.Check(Pair(a2, 60, b2, 60));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("differ at 55"), std::string::npos) << *why;
}

TEST(LogMatchingTrackerTest, UncommittedTailRewrittenWithTheSameTermIsComparedAgain) {
  LogMatchingTracker t;
  // Both hold 1..20, committed only to 10: agreed up to 10, 11..20 still open.
  raft::RaftLog a = MakeLog(std::vector<uint64_t>(20, 1)), b = MakeLog(std::vector<uint64_t>(20, 1));
  ASSERT_EQ(t.Check(Pair(a, 10, b, 10)), std::nullopt);
  // b's entry 15 is now other bytes under the same term: a violation, even though 15 was
  // compared (and agreed) before.
  raft::RaftLog b2 = MakeLog(std::vector<uint64_t>(20, 1), 15, "x");
  ASSERT_TRUE(t.Check(Pair(a, 10, b2, 10)).has_value());
}

TEST(LogMatchingTrackerTest, TruncatedUncommittedTailPasses) {
  LogMatchingTracker t;
  std::vector<uint64_t> old_terms(20, 1);
  raft::RaftLog a = MakeLog(old_terms), b = MakeLog(old_terms);
  ASSERT_EQ(t.Check(Pair(a, 10, b, 10)), std::nullopt);
  // A new leader of term 2 replaced b's 11..20 (uncommitted) with its own entries; a still
  // holds the old tail: they differ in term from 11 on, which Log Matching allows.
  std::vector<uint64_t> new_terms(10, 1);
  new_terms.resize(25, 2);
  raft::RaftLog b2 = MakeLog(new_terms, 11, "new11");
  for (int k = 0; k < 3 * static_cast<int>(kLogMatchingFullPassEvery); ++k) {
    EXPECT_EQ(t.Check(Pair(a, 10, b2, 12)), std::nullopt) << k;
  }
}

TEST(LogMatchingTrackerTest, CommittedEntryChangedInPlaceIsCaughtByTheFullPass) {
  LogMatchingTracker t;
  raft::RaftLog a = MakeLog(std::vector<uint64_t>(40, 1)), b = MakeLog(std::vector<uint64_t>(40, 1));
  ASSERT_EQ(t.Check(Pair(a, 40, b, 40)), std::nullopt);
  // Entry 7, committed on both when they agreed, changes on b (same life): the incremental
  // checks skip it, the next full pass sees it.
  raft::RaftLog b2 = MakeLog(std::vector<uint64_t>(40, 1), 7, "x");
  uint64_t checks = 0;
  std::optional<std::string> why;
  while (!why.has_value() && checks < 2 * kLogMatchingFullPassEvery) {
    why = t.Check(Pair(a, 40, b2, 40));
    checks++;
  }
  ASSERT_TRUE(why.has_value());
  EXPECT_LE(checks, kLogMatchingFullPassEvery);
  EXPECT_NE(why->find("differ at 7"), std::string::npos) << *why;
}

TEST(LogMatchingTrackerTest, NewLifeStartsWithAFullPass) {
  LogMatchingTracker t;
  raft::RaftLog a = MakeLog(std::vector<uint64_t>(30, 1)), b = MakeLog(std::vector<uint64_t>(30, 1));
  ASSERT_EQ(t.Check(Pair(a, 30, b, 30)), std::nullopt);
  // b restarted (another Raft object) with entry 3 changed: compared at once.
  raft::RaftLog b2 = MakeLog(std::vector<uint64_t>(30, 1), 3, "x");
  const int new_life = 0;
  EXPECT_TRUE(t.Check({{1, &kLifeA, &a, 30}, {2, &new_life, &b2, 30}}).has_value());
  // The same after Forget, with the old life's identity.
  LogMatchingTracker u;
  ASSERT_EQ(u.Check(Pair(a, 30, b, 30)), std::nullopt);
  u.Forget(2);
  EXPECT_TRUE(u.Check(Pair(a, 30, b2, 30)).has_value());
}

}  // namespace
}  // namespace muster::agent_sim
