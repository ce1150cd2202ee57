// Time in the core is always an input: absl::Time / absl::Duration values handed in by the
// host (libuv's clock in io/, the virtual clock in sim/). Nothing in core/ may call
// absl::Now() or any other clock.
#pragma once

#include "absl/time/time.h"

namespace muster {

using Time = absl::Time;
using Duration = absl::Duration;

// The virtual epoch the simulator starts from; a fixed, readable instant.
inline Time SimEpoch() { return absl::FromUnixSeconds(1'700'000'000); }

}  // namespace muster
