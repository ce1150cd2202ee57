// The linearizability checker on histories whose answer is known: good ones (sequential,
// overlapping, with maybe-ops), bad ones (a stale read, a lost write, a cas against a value
// never current, two concurrent cas both true), its budget, and a randomized check against a
// real register with a high catch rate for one flipped answer.
#include "sim/checkers/linearizability.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"
#include "sim/checkers/random_kv_history.h"

namespace muster::sim::checkers {
namespace {

Time T(int64_t ms) { return SimEpoch() + absl::Milliseconds(ms); }

// Shorthands writing a history as it reads in a report.
class Builder {
 public:
  void Put(int client, const std::string& key, const std::string& value, int64_t call,
           int64_t ret) {
    h_.CompleteWrite(h_.InvokePut(client, key, value, T(call)), T(ret), true);
  }
  void Get(int client, const std::string& key, std::optional<std::string> read, int64_t call,
           int64_t ret) {
    h_.CompleteGet(h_.InvokeGet(client, key, ReadMode::kConsistent, T(call)), T(ret), read);
  }
  void Cas(int client, const std::string& key, std::optional<std::string> expected,
           const std::string& value, int64_t call, int64_t ret, bool ok) {
    h_.CompleteWrite(h_.InvokeCas(client, key, expected, value, T(call)), T(ret), ok);
  }
  void Delete(int client, const std::string& key, int64_t call, int64_t ret) {
    h_.CompleteWrite(h_.InvokeDelete(client, key, T(call)), T(ret), true);
  }
  void MaybePut(int client, const std::string& key, const std::string& value, int64_t call) {
    h_.Unknown(h_.InvokePut(client, key, value, T(call)));
  }
  void MaybeCas(int client, const std::string& key, std::optional<std::string> expected,
                const std::string& value, int64_t call) {
    h_.Unknown(h_.InvokeCas(client, key, expected, value, T(call)));
  }
  void MaybeDelete(int client, const std::string& key, int64_t call) {
    h_.InvokeDelete(client, key, T(call));  // left pending: counts as unknown
  }
  LinearizabilityResult Check(const LinearizabilityOptions& options = {}) const {
    return CheckLinearizable(h_, options);
  }

 private:
  KvHistory h_;
};

TEST(LinearizabilityTest, EmptyHistoryIsLinearizable) {
  Builder b;
  EXPECT_TRUE(b.Check().ok());
}

TEST(LinearizabilityTest, SequentialHistory) {
  Builder b;
  b.Get(1, "k", std::nullopt, 0, 1);
  b.Put(1, "k", "a", 2, 3);
  b.Get(2, "k", "a", 4, 5);
  b.Cas(1, "k", "a", "b", 6, 7, true);
  b.Cas(2, "k", "a", "c", 8, 9, false);
  b.Get(2, "k", "b", 10, 11);
  b.Delete(1, "k", 12, 13);
  b.Get(1, "k", std::nullopt, 14, 15);
  b.Cas(1, "k", std::nullopt, "d", 16, 17, true);  // ?cas=0 on an absent key
  b.Cas(2, "k", std::nullopt, "e", 18, 19, false);
  const LinearizabilityResult result = b.Check();
  EXPECT_TRUE(result.ok()) << result.report;
  EXPECT_EQ(result.keys_checked, 1);
  EXPECT_EQ(result.ops_checked, 10);
}

TEST(LinearizabilityTest, OverlappingReadsMaySeeEitherSideButNotGoBack) {
  Builder ok;
  ok.Put(1, "k", "a", 0, 1);
  ok.Put(1, "k", "b", 10, 20);
  ok.Get(3, "k", "a", 11, 12);  // before the write took effect
  ok.Get(2, "k", "b", 13, 14);  // after
  ok.Get(4, "k", "b", 15, 16);
  const LinearizabilityResult result = ok.Check();
  EXPECT_TRUE(result.ok()) << result.report;

  // Once one reader saw the slow write, a later read may not see the old value again.
  Builder back;
  back.Put(1, "k", "a", 0, 1);
  back.Put(1, "k", "b", 10, 20);
  back.Get(2, "k", "b", 11, 12);
  back.Get(3, "k", "a", 13, 14);
  EXPECT_TRUE(back.Check().violation());
}

TEST(LinearizabilityTest, ConcurrentCasOneWins) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.Cas(2, "k", "a", "b", 2, 10, false);
  b.Cas(3, "k", "a", "c", 3, 9, true);
  b.Get(1, "k", "c", 11, 12);
  const LinearizabilityResult result = b.Check();
  EXPECT_TRUE(result.ok()) << result.report;
}

TEST(LinearizabilityTest, TouchingIntervalsOverlap) {
  // A return and a call at the same instant may be ordered either way.
  Builder b;
  b.Put(1, "k", "a", 0, 5);
  b.Get(2, "k", std::nullopt, 5, 6);
  EXPECT_TRUE(b.Check().ok());
}

TEST(LinearizabilityTest, MaybeWriteMayHappenLateOrNever) {
  Builder never;
  never.MaybePut(1, "k", "a", 0);
  never.Get(2, "k", std::nullopt, 10, 11);
  never.Get(2, "k", std::nullopt, 100, 101);
  EXPECT_TRUE(never.Check().ok());

  Builder late;
  late.MaybePut(1, "k", "a", 0);
  late.Get(2, "k", std::nullopt, 10, 11);
  late.Get(2, "k", "a", 1000, 1001);  // applied long after the client gave up
  const LinearizabilityResult result = late.Check();
  EXPECT_TRUE(result.ok()) << result.report;

  Builder undone;
  undone.MaybePut(1, "k", "a", 0);
  undone.Get(2, "k", "a", 10, 11);
  undone.Get(2, "k", std::nullopt, 20, 21);  // nothing deleted it
  EXPECT_TRUE(undone.Check().violation());

  Builder before_call;
  before_call.Get(2, "k", "a", 0, 1);  // reads a write not yet issued
  before_call.MaybePut(1, "k", "a", 5);
  EXPECT_TRUE(before_call.Check().violation());
}

TEST(LinearizabilityTest, MaybeCasAndDelete) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.MaybeCas(2, "k", "a", "b", 2);
  b.Get(3, "k", "b", 10, 11);  // the cas did succeed
  b.MaybeDelete(1, "k", 12);
  b.Get(3, "k", "b", 20, 21);
  b.Get(3, "k", std::nullopt, 30, 31);  // the delete landed late
  const LinearizabilityResult result = b.Check();
  EXPECT_TRUE(result.ok()) << result.report;

  Builder bad;
  bad.Put(1, "k", "x", 0, 1);
  bad.MaybeCas(2, "k", "a", "b", 2);  // expects a value the key never had
  bad.Get(3, "k", "b", 10, 11);
  EXPECT_TRUE(bad.Check().violation());
}

TEST(LinearizabilityTest, MaybeWriteWithFailedCasStaysInTheSearch) {
  // The unread maybe-put is what makes the failed cas legal.
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.MaybePut(2, "k", "z", 2);
  b.Cas(3, "k", "a", "c", 10, 11, false);
  b.Get(3, "k", "z", 12, 13);
  EXPECT_TRUE(b.Check().ok());

  Builder unread;
  unread.Put(1, "k", "a", 0, 1);
  unread.MaybePut(2, "k", "z", 2);
  unread.Cas(3, "k", "a", "c", 10, 11, false);
  unread.Get(3, "k", "a", 12, 13);  // z came and went? Nothing wrote a back.
  EXPECT_TRUE(unread.Check().violation());
}

TEST(LinearizabilityTest, StaleReadAfterAcknowledgedWriteFails) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.Put(1, "k", "b", 2, 3);
  b.Get(2, "k", "a", 4, 5);
  const LinearizabilityResult result = b.Check();
  ASSERT_TRUE(result.violation());
  EXPECT_EQ(result.key, "k");
  EXPECT_NE(result.report.find("key 'k' is not linearizable"), std::string::npos) << result.report;
  EXPECT_NE(result.report.find("c2 get k [4ms, 5ms] -> 'a' <- cannot be placed"), std::string::npos)
      << result.report;
}

TEST(LinearizabilityTest, LostWriteFails) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.Get(2, "k", std::nullopt, 2, 3);  // the acknowledged write is gone
  EXPECT_TRUE(b.Check().violation());
}

TEST(LinearizabilityTest, CasAgainstAValueNeverCurrentFails) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.Put(1, "k", "b", 2, 3);
  b.Cas(2, "k", "a", "c", 4, 5, true);  // 'a' was overwritten before the cas was sent
  EXPECT_TRUE(b.Check().violation());

  Builder absent;
  absent.Put(1, "k", "a", 0, 1);
  absent.Cas(2, "k", std::nullopt, "c", 4, 5, true);  // ?cas=0 on an existing key
  EXPECT_TRUE(absent.Check().violation());
}

TEST(LinearizabilityTest, TwoConcurrentCasBothTrueFail) {
  Builder b;
  b.Put(1, "k", "a", 0, 1);
  b.Cas(2, "k", "a", "b", 2, 10, true);
  b.Cas(3, "k", "a", "c", 3, 9, true);
  const LinearizabilityResult result = b.Check();
  EXPECT_TRUE(result.violation());
}

TEST(LinearizabilityTest, KeysAreIndependentAndTheSmallestFailingKeyIsReported) {
  Builder b;
  // "a": fine. "b": bad with 4 ops. "c": bad with 3 ops: the one reported.
  b.Put(1, "a", "x", 0, 1);
  b.Get(2, "a", "x", 2, 3);
  b.Put(1, "b", "y", 0, 1);
  b.Put(1, "b", "y2", 2, 3);
  b.Get(2, "b", "y", 4, 5);
  b.Get(2, "b", "y2", 6, 7);
  b.Put(1, "c", "z", 0, 1);
  b.Get(2, "c", std::nullopt, 2, 3);
  b.Get(3, "c", "z", 10, 11);
  const LinearizabilityResult result = b.Check();
  ASSERT_TRUE(result.violation());
  EXPECT_EQ(result.key, "c") << result.report;
  EXPECT_EQ(result.keys_checked, 3);
  EXPECT_EQ(result.keys_violated, 2);
}

TEST(LinearizabilityTest, StaleAndDefaultReadsAreLeftOutUnlessAsked) {
  KvHistory h;
  h.CompleteWrite(h.InvokePut(1, "k", "a", T(0)), T(1), true);
  h.CompleteGet(h.InvokeGet(2, "k", ReadMode::kStale, T(2)), T(3), std::nullopt);
  h.CompleteGet(h.InvokeGet(2, "k", ReadMode::kDefault, T(4)), T(5), std::nullopt);
  EXPECT_TRUE(CheckLinearizable(h).ok());
  LinearizabilityOptions with_default;
  with_default.include_default_reads = true;
  EXPECT_TRUE(CheckLinearizable(h, with_default).violation());
}

TEST(LinearizabilityTest, FailedPutIsLeftOut) {
  KvHistory h;
  h.CompleteWrite(h.InvokePut(1, "k", "a", T(0)), T(1), false);
  h.CompleteGet(h.InvokeGet(2, "k", ReadMode::kConsistent, T(2)), T(3), std::nullopt);
  EXPECT_TRUE(CheckLinearizable(h).ok());
}

TEST(LinearizabilityTest, BudgetMakesItUndecidedNotWrong) {
  RandomKvHistoryOptions gen;
  gen.seed = 7;
  gen.ops = 300;
  gen.keys = 1;
  const KvHistory history = RandomLinearizableKvHistory(gen);
  LinearizabilityOptions tiny;
  tiny.steps_per_key_max = 10;
  const LinearizabilityResult result = CheckLinearizable(history, tiny);
  EXPECT_TRUE(result.undecided());
  EXPECT_EQ(result.key, "k0");
  EXPECT_NE(result.report.find("steps_per_key_max"), std::string::npos) << result.report;
  LinearizabilityOptions small_cache;
  small_cache.cache_bytes_per_key_max = 1000;
  EXPECT_TRUE(CheckLinearizable(history, small_cache).undecided());
  EXPECT_TRUE(CheckLinearizable(history).ok());
}

TEST(LinearizabilityTest, ReportIsDeterministic) {
  RandomKvHistoryOptions gen;
  gen.seed = 3;
  gen.ops = 400;
  const KvHistory bad = FlipOneAnswer(RandomLinearizableKvHistory(gen), 11);
  const LinearizabilityResult first = CheckLinearizable(bad);
  const LinearizabilityResult second = CheckLinearizable(bad);
  EXPECT_EQ(first.verdict, second.verdict);
  EXPECT_EQ(first.report, second.report);
  EXPECT_EQ(first.steps, second.steps);
}

TEST(LinearizabilityTest, ReportOfALongKeyShowsTheOpsAroundTheFailure) {
  RandomKvHistoryOptions gen;
  gen.ops = 2000;
  gen.keys = 1;
  int reports = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    gen.seed = seed;
    const LinearizabilityResult result =
        CheckLinearizable(FlipOneAnswer(RandomLinearizableKvHistory(gen), seed));
    if (!result.violation()) continue;
    ++reports;
    const LinearizabilityOptions defaults;
    const auto lines = std::count(result.report.begin(), result.report.end(), '\n');
    EXPECT_LE(lines, defaults.report_ops_max + 4) << result.report;
    EXPECT_NE(result.report.find("<- cannot be placed"), std::string::npos) << result.report;
    const bool elided = result.report.find(" earlier ops\n") != std::string::npos ||
                        result.report.find(" later ops\n") != std::string::npos;
    EXPECT_TRUE(elided) << result.report;
    EXPECT_NE(result.report.find("the longest linearizable order ends: #"), std::string::npos);
  }
  EXPECT_GE(reports, 3);
}

// Histories from a real register pass; one flipped answer is caught almost always (a flip
// can be harmless: a read overlapping two writes may legally see either).
TEST(LinearizabilityTest, RandomHistoriesPassAndFlippedOnesMostlyFail) {
  constexpr int kSeeds = 300;
  int caught = 0;
  for (int seed = 1; seed <= kSeeds; ++seed) {
    RandomKvHistoryOptions gen;
    gen.seed = seed;
    gen.ops = 100 + seed % 200;
    gen.clients = 2 + seed % 6;
    gen.keys = 1 + seed % 4;
    gen.maybe_share = (seed % 3) * 0.03;
    gen.latency_mean = absl::Milliseconds(1 + seed % 10);
    const KvHistory good = RandomLinearizableKvHistory(gen);
    const LinearizabilityResult result = CheckLinearizable(good);
    ASSERT_TRUE(result.ok()) << "seed " << seed << ": " << result.report;
    const LinearizabilityResult flipped = CheckLinearizable(FlipOneAnswer(good, seed));
    ASSERT_FALSE(flipped.undecided()) << "seed " << seed << ": " << flipped.report;
    if (flipped.violation()) ++caught;
  }
  std::printf("caught %d of %d flipped histories\n", caught, kSeeds);
  EXPECT_GE(caught, kSeeds * 85 / 100);
}

std::string FormatOps(const KvHistory& history) {
  std::string ops;
  for (const KvOp& op : history.ops()) absl::StrAppend(&ops, FormatKvOp(op), "\n");
  return ops;
}

// The reference: every subset of the unanswered ops, in every order real time allows, run on
// a register. Exponential: small histories only.
bool BruteForceLinearizable(const KvHistory& history) {
  std::vector<const KvOp*> definite;
  std::vector<const KvOp*> maybe;
  for (const KvOp& op : history.ops()) {
    const bool answered = op.status == KvOpStatus::kOk;
    if (op.kind == KvOpKind::kGet && (!answered || op.read_mode != ReadMode::kConsistent)) continue;
    if ((op.kind == KvOpKind::kPut || op.kind == KvOpKind::kDelete) && answered && !op.ok) continue;
    (answered ? definite : maybe).push_back(&op);
  }
  for (uint32_t subset = 0; subset < (1u << maybe.size()); ++subset) {
    std::vector<const KvOp*> ops = definite;
    for (size_t i = 0; i < maybe.size(); ++i) {
      if (subset & (1u << i)) ops.push_back(maybe[i]);
    }
    std::sort(ops.begin(), ops.end());
    do {
      bool legal = true;
      for (size_t i = 0; i < ops.size() && legal; ++i) {
        for (size_t j = i + 1; j < ops.size() && legal; ++j) {
          // ops[j] after ops[i]: not allowed if ops[j] returned before ops[i] was called.
          if (ops[j]->status == KvOpStatus::kOk && ops[j]->ret < ops[i]->call) legal = false;
        }
      }
      std::optional<std::string> value;
      for (size_t i = 0; i < ops.size() && legal; ++i) {
        const KvOp& op = *ops[i];
        const bool answered = op.status == KvOpStatus::kOk;
        switch (op.kind) {
          case KvOpKind::kGet:
            legal = op.read == value;
            break;
          case KvOpKind::kPut:
            value = op.value;
            break;
          case KvOpKind::kDelete:
            value.reset();
            break;
          case KvOpKind::kCas:
          case KvOpKind::kDeleteCas: {
            const bool matches = value == op.expected;
            if (answered && op.ok != matches) legal = false;
            if (legal && matches) {
              value =
                  op.kind == KvOpKind::kCas ? std::optional<std::string>(op.value) : std::nullopt;
            }
            break;
          }
        }
      }
      if (legal) return true;
    } while (std::next_permutation(ops.begin(), ops.end()));
  }
  return false;
}

// Small random histories, answers drawn at random (unique values written, reads and
// expectations among them): the checker with all its reductions agrees with brute force.
TEST(LinearizabilityTest, AgreesWithBruteForceOnSmallHistories) {
  int linearizable = 0;
  constexpr int kHistories = 3000;
  for (int seed = 1; seed <= kHistories; ++seed) {
    Rng rng(seed);
    const int n = 2 + static_cast<int>(rng.Uniform(6));
    std::vector<std::optional<std::string>> values{std::nullopt};
    for (int i = 0; i < n; ++i) values.push_back(absl::StrCat("v", i));
    auto any_value = [&]() { return values[rng.Uniform(values.size())]; };
    KvHistory h;
    for (int i = 0; i < n; ++i) {
      const Time call = T(static_cast<int64_t>(rng.Uniform(20)));
      const Time ret = call + absl::Milliseconds(static_cast<int64_t>(rng.Uniform(8)));
      const bool unknown = rng.Bernoulli(0.25);
      KvOpId id = 0;
      switch (rng.Uniform(5)) {
        case 0:
          id = h.InvokePut(i, "k", absl::StrCat("v", i), call);
          if (!unknown) h.CompleteWrite(id, ret, true);
          break;
        case 1:
          id = h.InvokeGet(i, "k", ReadMode::kConsistent, call);
          if (!unknown) h.CompleteGet(id, ret, any_value());
          break;
        case 2:
          id = h.InvokeCas(i, "k", any_value(), absl::StrCat("v", i), call);
          if (!unknown) h.CompleteWrite(id, ret, rng.Bernoulli(0.5));
          break;
        case 3:
          id = h.InvokeDelete(i, "k", call);
          if (!unknown) h.CompleteWrite(id, ret, true);
          break;
        default:
          id = h.InvokeDeleteCas(i, "k", any_value(), call);
          if (!unknown) h.CompleteWrite(id, ret, rng.Bernoulli(0.5));
          break;
      }
      if (unknown) h.Unknown(id);
    }
    const bool expected = BruteForceLinearizable(h);
    const LinearizabilityResult result = CheckLinearizable(h);
    ASSERT_FALSE(result.undecided()) << "seed " << seed;
    ASSERT_EQ(result.ok(), expected) << "seed " << seed << ": " << result.report << "\n"
                                     << FormatOps(h);
    if (expected) ++linearizable;
  }
  std::printf("%d of %d random small histories linearizable\n", linearizable, kHistories);
  EXPECT_GT(linearizable, kHistories / 10);  // both verdicts are exercised
  EXPECT_LT(linearizable, kHistories * 9 / 10);
}

}  // namespace
}  // namespace muster::sim::checkers
