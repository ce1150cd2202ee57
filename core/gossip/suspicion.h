// One suspicion of one member (Lifeguard's "local health aware suspicion"). The timeout
// starts at `max` and shrinks towards `min` as independent members confirm the suspicion:
//   timeout(c) = max - log(c + 1) / log(k + 1) * (max - min),   never below min,
// where c confirmations have arrived and k are expected. With k = 0 (or Lifeguard off:
// min == max) it is a fixed timeout. A confirmer counts once; the one who started the
// suspicion is not a confirmation.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "core/base/time.h"

namespace muster::gossip {

// memberlist's minimum: suspicion_mult * max(1, log10(max(1, n))) * interval.
Duration SuspicionTimeoutMin(int suspicion_mult, int num_nodes, Duration interval);

// The full timeout (from the start) after `confirmations` of `expected`.
Duration SuspicionTimeout(int confirmations, int expected, Duration min, Duration max);

class Suspicion {
 public:
  Suspicion(std::string from, int expected, Duration min, Duration max, Time start);

  // Records a confirmation; true if it was new (and the deadline may have moved).
  bool Confirm(const std::string& from);
  Time deadline() const;
  int confirmations() const { return static_cast<int>(confirmers_.size()) - 1; }
  Time start() const { return start_; }

 private:
  int expected_;
  Duration min_;
  Duration max_;
  Time start_;
  std::set<std::string> confirmers_;  // includes the first accuser
};

}  // namespace muster::gossip
