// The short run of the randomized decoder tests inside make test: each target takes a fixed
// number of mutated and random inputs (deterministic for the seed), must not crash or trip a
// check, and must stay within its bounds. The long run is `bazel run //tests/fuzz:fuzz`.
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_loop.h"

namespace muster::fuzz {
namespace {

// Peak resident memory of the whole test process (measured: 10-15 MiB). Under AddressSanitizer
// freed memory sits in its quarantine (256 MiB) beside the shadow, so the process measures
// 560-610 MiB there whatever the victims do; the bound leaves room for that.
#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kResidentBytesMax = size_t{1} << 30;
#else
constexpr size_t kResidentBytesMax = size_t{256} << 20;
#endif

class Smoke : public ::testing::TestWithParam<std::string> {};

TEST_P(Smoke, MutatedAndRandomInputsNeitherCrashNorGrow) {
  google::protobuf::SetLogHandler(nullptr);  // one line per refused invalid UTF-8 string
  std::unique_ptr<FuzzTarget> target = MakeTarget(GetParam(), 1);
  ASSERT_NE(target, nullptr);
  ASSERT_GT(target->corpus().size(), 0u);
  LoopOptions o;
  o.seed = 1;
  o.inputs_max = 300000;  // about a second per target; the long run is the binary
  LoopResult r = RunLoop(*target, o);
  EXPECT_EQ(r.inputs, o.inputs_max);
  EXPECT_EQ(r.bound_violation, "");
  EXPECT_LT(r.resident_bytes_max, kResidentBytesMax);
}

INSTANTIATE_TEST_SUITE_P(Decoders, Smoke, ::testing::ValuesIn(TargetNames()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace muster::fuzz
