// Lifeguard's local health awareness: a small score that grows when this node's own probes
// go unanswered without the nacks that healthy relays would send (evidence that *we* are
// slow), and shrinks on successful probes. Timeouts are stretched by (score + 1), so a
// struggling node probes less often and waits longer before accusing anyone.
// It never goes below 0 nor reaches `max_multiplier`.
#pragma once

#include "core/base/check.h"
#include "core/base/time.h"

namespace muster::gossip {

class Awareness {
 public:
  explicit Awareness(int max_multiplier) : max_(max_multiplier) {
    MUSTER_CHECK(max_multiplier >= 1, "awareness max multiplier ", max_multiplier);
  }

  void ApplyDelta(int delta) {
    score_ += delta;
    if (score_ < 0) score_ = 0;
    if (score_ > max_ - 1) score_ = max_ - 1;
  }
  int score() const { return score_; }
  Duration ScaleTimeout(Duration timeout) const { return timeout * (score_ + 1); }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace muster::gossip
