// The bounded-staleness checker: stale reads that miss only recent writes pass; a miss older
// than the bound, a value never written, and an absence after an old write fail.
#include "sim/checkers/stale_read_checker.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace muster::sim::checkers {
namespace {

Time T(int64_t ms) { return SimEpoch() + absl::Milliseconds(ms); }

void Put(KvHistory& h, const std::string& key, const std::string& value, int64_t call,
         int64_t ret) {
  h.CompleteWrite(h.InvokePut(1, key, value, T(call)), T(ret), true);
}

void Read(KvHistory& h, const std::string& key, std::optional<std::string> value, int64_t call,
          ReadMode mode = ReadMode::kStale) {
  h.CompleteGet(h.InvokeGet(2, key, mode, T(call)), T(call + 1), value);
}

StaleReadOptions Bound(int64_t ms) {
  StaleReadOptions options;
  options.bound = absl::Milliseconds(ms);
  return options;
}

TEST(StaleReadCheckerTest, MissingARecentWriteIsFine) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  Put(h, "k", "b", 2, 3);
  Read(h, "k", "a", 500);         // 'b' acknowledged 497 ms before: within the bound
  Read(h, "k", std::nullopt, 0);  // before 'a' was acknowledged
  Read(h, "k", "b", 5000);
  const CheckResult result = CheckStaleReads(h, Bound(1000));
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(StaleReadCheckerTest, MissingAnOldWriteFails) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  Put(h, "k", "b", 2, 3);
  Read(h, "k", "a", 3000);
  const CheckResult result = CheckStaleReads(h, Bound(1000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.violation_count, 1);
  EXPECT_NE(result.violations[0].find("misses #1 c1 put k 'b'"), std::string::npos)
      << result.Report();
  EXPECT_NE(result.violations[0].find("acknowledged 2.997s before"), std::string::npos)
      << result.Report();
  EXPECT_TRUE(CheckStaleReads(h, Bound(5000)).ok());
}

TEST(StaleReadCheckerTest, AReadsOwnBoundReplacesTheOption) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  Put(h, "k", "b", 2, 3);
  // Both miss 'b' by about 3 s: the first server said it last heard from the leader 4 s
  // before (X-Consul-LastContact), the second 1 s before.
  const KvOpId lagging = h.InvokeGet(2, "k", ReadMode::kStale, T(3000));
  h.CompleteGet(lagging, T(3001), "a");
  h.SetStalenessBound(lagging, absl::Seconds(4));
  const KvOpId fresh = h.InvokeGet(2, "k", ReadMode::kStale, T(3000));
  h.CompleteGet(fresh, T(3001), "a");
  h.SetStalenessBound(fresh, absl::Seconds(1));
  const CheckResult result = CheckStaleReads(h, Bound(10'000));
  ASSERT_EQ(result.violation_count, 1) << result.Report();
  EXPECT_NE(result.violations[0].find("(bound 1s)"), std::string::npos) << result.Report();
}

TEST(StaleReadCheckerTest, AbsenceAfterAnOldWriteFailsUnlessDeleted) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  Read(h, "k", std::nullopt, 2000);
  EXPECT_FALSE(CheckStaleReads(h, Bound(1000)).ok());

  KvHistory deleted;
  Put(deleted, "k", "a", 0, 1);
  deleted.CompleteWrite(deleted.InvokeDelete(1, "k", T(10)), T(11), true);
  Read(deleted, "k", std::nullopt, 2000);
  Read(deleted, "k", "a", 500);
  const CheckResult result = CheckStaleReads(deleted, Bound(1000));
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(StaleReadCheckerTest, ValueNeverWrittenOrFromTheFutureFails) {
  KvHistory h;
  Read(h, "k", "ghost", 10);
  Read(h, "k", "later", 20);
  Put(h, "k", "later", 100, 101);
  const CheckResult result = CheckStaleReads(h, Bound(1000));
  EXPECT_EQ(result.violation_count, 2) << result.Report();
  EXPECT_NE(result.Report().find("no write of that value was called before the read returned"),
            std::string::npos);
}

TEST(StaleReadCheckerTest, UnansweredWritesMayBeSeenLateButNeverSupersede) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  h.Unknown(h.InvokePut(1, "k", "b", T(2)));
  h.Unknown(h.InvokePut(1, "k", "c", T(3)));
  Read(h, "k", "b", 10'000);  // applied late
  Read(h, "k", "a", 10'000);  // or never
  const CheckResult result = CheckStaleReads(h, Bound(1000));
  EXPECT_TRUE(result.ok()) << result.Report();
}

TEST(StaleReadCheckerTest, OnlyStaleAndDefaultReadsAreChecked) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  Put(h, "k", "b", 2, 3);
  Read(h, "k", "a", 3000, ReadMode::kConsistent);  // the linearizability checker's
  EXPECT_TRUE(CheckStaleReads(h, Bound(1000)).ok());
  Read(h, "k", "a", 3000, ReadMode::kDefault);
  EXPECT_FALSE(CheckStaleReads(h, Bound(1000)).ok());
  StaleReadOptions stale_only = Bound(1000);
  stale_only.check_default_reads = false;
  EXPECT_TRUE(CheckStaleReads(h, stale_only).ok());
}

TEST(StaleReadCheckerTest, CasWritesAndFailedCas) {
  KvHistory h;
  Put(h, "k", "a", 0, 1);
  h.CompleteWrite(h.InvokeCas(1, "k", "a", "b", T(2)), T(3), true);
  h.CompleteWrite(h.InvokeCas(1, "k", "a", "c", T(4)), T(5), false);  // never written
  Read(h, "k", "b", 100);
  Read(h, "k", "c", 200);
  const CheckResult result = CheckStaleReads(h, Bound(1000));
  EXPECT_EQ(result.violation_count, 1) << result.Report();
}

}  // namespace
}  // namespace muster::sim::checkers
