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

// Go's time.ParseDuration for non-negative values up to a year; errors name `field`.
absl::StatusOr<Duration> ParseGoDuration(std::string_view text, const std::string& field);

}  // namespace muster::agent
