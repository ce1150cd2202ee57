#include "core/state/replicated_clock.h"

#include <algorithm>

namespace muster::state {

void ReplicatedClock::Observe(Time stamp, Time local) { last_applied_ = Anchor{stamp, local}; }

Time ReplicatedClock::Now(Time local, uint64_t term) const {
  if (timeline_.has_value() && timeline_term_ == term) return timeline_->At(local);
  if (last_applied_.has_value()) return last_applied_->At(local);
  return local;  // nothing stamped yet in this cluster: the wall clock starts the timeline
}

Time ReplicatedClock::Stamp(Time local, uint64_t term) {
  const Time t = Now(local, term);
  // Re-anchoring at every stamp keeps the timeline monotonic if the local clock steps back.
  timeline_ = Anchor{t, local};
  timeline_term_ = term;
  return t;
}

}  // namespace muster::state
