// Histories generated from a real linearizable KV store, for the checkers' tests and the
// benchmark: simulated clients issue ops one at a time with random latencies, each op takes
// effect at a random instant between its call and its return, and its answer is what the
// registers held at that instant. Some ops lose their answer (maybe-ops); those took effect
// or not, at random. Deterministic in the seed.
#pragma once

#include <cstdint>

#include "core/base/time.h"
#include "sim/checkers/kv_history.h"

namespace muster::sim::checkers {

struct RandomKvHistoryOptions {
  uint64_t seed = 1;
  int ops = 200;
  int clients = 5;
  int keys = 3;
  // Shares of the op kinds (the rest are gets, all consistent reads).
  double put_share = 0.3;
  double cas_share = 0.2;
  double delete_share = 0.05;
  // Probability an op loses its answer (a timeout); such an op took effect with probability
  // 1/2, at a random instant after its call.
  double maybe_share = 0.02;
  // A client's op takes an exponential time with this mean, then it waits an exponential
  // think time: latency/think sets how many ops overlap (about clients * latency / (latency +
  // think) in flight at once).
  Duration latency_mean = absl::Milliseconds(5);
  Duration think_mean = absl::Milliseconds(2);
};

KvHistory RandomLinearizableKvHistory(const RandomKvHistoryOptions& options);

// A copy of `history` with one answered op's answer changed, chosen by `seed`: a get reads
// another value of its key (or absent), a cas answers the opposite. Most such changes make
// the history non-linearizable (not all: a read overlapping two writes may see either).
// Returns the history unchanged if it has no answered get or cas.
KvHistory FlipOneAnswer(const KvHistory& history, uint64_t seed);

}  // namespace muster::sim::checkers
