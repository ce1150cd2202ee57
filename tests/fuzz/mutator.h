// A seeded byte mutator for the randomized decoder tests: libFuzzer's classic moves (bit
// flips, interesting bytes, inserts, erases, copies, splices of two inputs, varint and length
// tampering, truncation) plus inputs of pure noise. Deterministic for a seed, so a failing
// iteration is reproduced by its seed and count alone.
#pragma once

#include <string>
#include <vector>

#include "core/base/rng.h"

namespace muster::fuzz {

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  // A new input: random bytes (1 in 16), a corpus entry as it is (1 in 8 of the rest), or one
  // mutated 1-8 times.
  std::string Next(const std::vector<std::string>& corpus);
  Rng& rng() { return rng_; }

 private:
  void MutateOnce(std::string& s, const std::vector<std::string>& corpus);
  std::string RandomBytes(size_t n);

  Rng rng_;
};

}  // namespace muster::fuzz
