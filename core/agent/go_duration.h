// Durations in Go's syntax, as Consul's JSON carries them ("200ms", "10s", "1m30s"): what the
// agent reads from API bodies (autopilot's configuration, a session's TTL) and writes back.
// Untrusted input: bounded length, no regex, negative and absurd values refused.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/base/time.h"

namespace muster::agent {

// Go's time.Duration.String for the values the agent prints ("0s", "200ms", "10s", "1m30s").
std::string GoDuration(Duration d);

// The longest duration the agent takes from a client, in either form: a year.
inline constexpr Duration kClientDurationMax = absl::Hours(24 * 365);

// Go's time.ParseDuration for non-negative values up to kClientDurationMax; errors name `field`.
absl::StatusOr<Duration> ParseGoDuration(std::string_view text, const std::string& field);

// A duration sent as a bare JSON number (Go encodes a Duration as nanoseconds), with the same
// bound as the string form, so whatever the agent takes it can write back and read again.
absl::StatusOr<Duration> DurationFromNanoseconds(uint64_t nanoseconds, const std::string& field);

}  // namespace muster::agent
