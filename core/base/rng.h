// The core's only source of randomness: a small seeded generator (xoshiro256**, seeded
// through splitmix64) with its own distributions. std:: and absl:: distributions are not
// reproducible across library versions, so nothing here uses them: the same seed gives the
// same draws on every machine, which the simulator's reproducibility rests on.
#pragma once

#include <cstdint>

#include "core/base/time.h"

namespace muster {

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n); n > 0. Unbiased (rejection sampling).
  uint64_t Uniform(uint64_t n);
  // Uniform in [lo, hi]; lo <= hi.
  int64_t UniformInRange(int64_t lo, int64_t hi);
  // Uniform in [0, 1).
  double UniformDouble();
  // True with probability p.
  bool Bernoulli(double p);
  // Exponentially distributed with the given mean (> 0).
  double Exponential(double mean);
  // Uniform duration in [lo, hi], at nanosecond resolution.
  Duration UniformDuration(Duration lo, Duration hi);
  // A new generator whose stream is independent of this one; advances this one.
  Rng Fork();

 private:
  uint64_t s_[4];
};

// One splitmix64 step: also a good 64-bit mixer for deterministic hashing.
uint64_t SplitMix64(uint64_t& state);

}  // namespace muster
