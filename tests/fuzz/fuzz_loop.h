// The loop both the smoke test and the long-run binary use: mutate, feed, and every
// `reset_every` inputs check the victim's bounds and start a fresh one. The current input is
// kept where a crash handler can write it out (fuzz_main), so a crash leaves its reproducer.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "tests/fuzz/targets.h"

namespace muster::fuzz {

struct LoopResult {
  uint64_t inputs = 0;
  std::string bound_violation;  // empty: none
  size_t resident_bytes_max = 0;
};

struct LoopOptions {
  uint64_t seed = 1;
  uint64_t inputs_max = UINT64_MAX;
  absl::Duration duration = absl::InfiniteDuration();  // wall time (this is a test tool, not core)
  uint64_t reset_every = 2000;
};

LoopResult RunLoop(FuzzTarget& target, const LoopOptions& options);

// The input being run right now, for a crash handler.
const std::string& CurrentInput();

}  // namespace muster::fuzz
