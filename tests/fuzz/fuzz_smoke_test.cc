// The short run of the randomized decoder tests inside make test: each target takes a fixed
// number of mutated and random inputs (deterministic for the seed), must not crash or trip a
// check, and must stay within its bounds. The long run is `bazel run //tests/fuzz:fuzz`.
#include "google/protobuf/stubs/logging.h"
#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_loop.h"

namespace muster::fuzz {
namespace {

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
  EXPECT_LT(r.resident_bytes_max, size_t{512} << 20);
}

INSTANTIATE_TEST_SUITE_P(Decoders, Smoke, ::testing::ValuesIn(TargetNames()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace muster::fuzz
