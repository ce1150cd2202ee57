#include "core/agent/go_duration.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace muster::agent {

// Go's time.Duration.String() for the whole milliseconds and seconds autopilot uses ("200ms",
// "10s", "1m30s", "0s").
std::string GoDuration(Duration d) {
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns == 0) return "0s";
  if (ns < 1'000'000'000 && ns % 1'000'000 == 0) return absl::StrCat(ns / 1'000'000, "ms");
  if (ns < 1'000'000) return absl::StrCat(ns / 1000, "us");
  std::string out;
  int64_t s = ns / 1'000'000'000;
  const int64_t frac_ns = ns % 1'000'000'000;
  if (s >= 3600) {
    absl::StrAppend(&out, s / 3600, "h");
    s %= 3600;
  }
  if (!out.empty() || s >= 60) {
    absl::StrAppend(&out, s / 60, "m");
    s %= 60;
  }
  if (frac_ns == 0) {
    absl::StrAppend(&out, s, "s");
  } else {
    std::string frac = absl::StrCat(1'000'000'000 + frac_ns).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    absl::StrAppend(&out, s, ".", frac, "s");
  }
  return out;
}

// Go's time.ParseDuration for the units people write here; bounded input, no regex.
absl::StatusOr<Duration> ParseGoDuration(std::string_view text, const std::string& field) {
  if (text.empty() || text.size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not a duration: \"", std::string(text), "\""));
  }
  if (text == "0") return absl::ZeroDuration();
  Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (start == i) return absl::InvalidArgumentError(absl::StrCat(field, ": not a duration: \"", std::string(text), "\""));
    double value = 0;
    if (!absl::SimpleAtod(std::string(text.substr(start, i - start)), &value)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": not a duration: \"", std::string(text), "\""));
    }
    size_t unit_start = i;
    while (i < text.size() && !((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    Duration u;
    if (unit == "ns") u = absl::Nanoseconds(1);
    else if (unit == "us" || unit == "µs") u = absl::Microseconds(1);
    else if (unit == "ms") u = absl::Milliseconds(1);
    else if (unit == "s") u = absl::Seconds(1);
    else if (unit == "m") u = absl::Minutes(1);
    else if (unit == "h") u = absl::Hours(1);
    else return absl::InvalidArgumentError(absl::StrCat(field, ": unknown unit in \"", std::string(text), "\""));
    total += value * u;
  }
  if (total < absl::ZeroDuration() || total > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": out of range: \"", std::string(text), "\""));
  }
  return total;
}

}  // namespace muster::agent
