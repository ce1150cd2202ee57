// The base of every simulation checker: the first violation of a run is kept with the seed,
// the virtual time and the one command that reproduces it; later ones are ignored (they are
// usually consequences). A checker never aborts the process, so a tripped invariant deep in a
// step still prints the seed and the repro command (TigerBeetle's VOPR, FoundationDB's sim).
#pragma once

#include <cstdint>
#include <string>

#include "core/base/time.h"

namespace muster::sim::testing {

class CheckerBase {
 public:
  // `repro` is the command line that reruns this seed (Harness::ReproCommand).
  CheckerBase(uint64_t seed, std::string repro) : seed_(seed), repro_(std::move(repro)) {}
  virtual ~CheckerBase() = default;

  // Records `what` at virtual time `now` if it is the run's first failure.
  void Fail(Time now, const std::string& what);
  bool failed() const { return !failure_.empty(); }
  // "at t=1.2s: <what>" (empty while the run holds).
  const std::string& failure() const { return failure_; }
  // The failure with the seed and the repro command, as every harness prints it.
  std::string Report() const;
  uint64_t seed() const { return seed_; }
  const std::string& repro() const { return repro_; }

 private:
  uint64_t seed_;
  std::string repro_;
  std::string failure_;
};

}  // namespace muster::sim::testing
