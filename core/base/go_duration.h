// Durations in Go's syntax, as Consul's CLI reads flags and its JSON carries them ("-last-contact-threshold=200ms") and
// prints them (time.Duration.String: "200ms", "10s", "1m30s", "1h0m0s", "1.5µs", "0s").
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace muster {

// Go's time.ParseDuration: a signed sequence of decimal numbers with units ns, us (µs), ms, s,
// m, h; "0" alone needs no unit. "inf" and other spellings absl accepts but Go does not are
// refused.
absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text);

// Go's time.Duration.String.
std::string FormatGoDuration(absl::Duration d);

}  // namespace muster
