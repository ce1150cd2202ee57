#include "core/gossip/suspicion.h"

#include <algorithm>
#include <cmath>

#include "core/base/check.h"
#include "core/base/portable_math.h"

namespace muster::gossip {

Duration SuspicionTimeoutMin(int suspicion_mult, int num_nodes, Duration interval) {
  double node_scale = std::max(1.0, PortableLog10(std::max(1.0, static_cast<double>(num_nodes))));
  // Millisecond precision, as memberlist, so results are exact and portable.
  int64_t scale_milli = static_cast<int64_t>(node_scale * 1000);
  return suspicion_mult * interval * scale_milli / 1000;
}

Duration SuspicionTimeout(int confirmations, int expected, Duration min, Duration max) {
  MUSTER_CHECK(min <= max);
  if (expected < 1) return min;
  double frac = PortableLog(confirmations + 1.0) / PortableLog(expected + 1.0);
  double raw = absl::ToDoubleSeconds(max) - frac * absl::ToDoubleSeconds(max - min);
  Duration timeout = absl::Milliseconds(std::floor(1000.0 * raw));
  return std::max(timeout, min);
}

Suspicion::Suspicion(std::string from, int expected, Duration min, Duration max, Time start)
    : expected_(expected), min_(min), max_(max), start_(start) {
  confirmers_.insert(std::move(from));
}

bool Suspicion::Confirm(const std::string& from) {
  if (confirmations() >= expected_) return false;
  return confirmers_.insert(from).second;
}

Time Suspicion::deadline() const {
  return start_ + SuspicionTimeout(confirmations(), expected_, min_, max_);
}

}  // namespace muster::gossip
