#include "core/agent/go_duration.h"

#include "absl/strings/str_cat.h"
#include "core/base/go_duration.h"

namespace muster::agent {

std::string GoDuration(Duration d) { return FormatGoDuration(d); }

absl::StatusOr<Duration> ParseGoDuration(std::string_view text, const std::string& field) {
  if (text.size() > 64) return absl::InvalidArgumentError(absl::StrCat(field, ": not a duration (too long)"));
  absl::StatusOr<Duration> d = muster::ParseGoDuration(text);
  if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ": ", d.status().message()));
  if (*d < absl::ZeroDuration() || *d > kClientDurationMax) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": out of range: \"", std::string(text), "\""));
  }
  return *d;
}

absl::StatusOr<Duration> DurationFromNanoseconds(uint64_t nanoseconds, const std::string& field) {
  if (nanoseconds > static_cast<uint64_t>(absl::ToInt64Nanoseconds(kClientDurationMax))) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": out of range: ", nanoseconds, "ns is over a year"));
  }
  return absl::Nanoseconds(static_cast<int64_t>(nanoseconds));
}

}  // namespace muster::agent
