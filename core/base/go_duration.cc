// Go's duration syntax on top of absl's parser (see go_duration.h).
#include "core/base/go_duration.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace muster {

absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text) {
  const std::string bad = absl::StrCat("time: invalid duration \"", std::string(text), "\"");
  if (text.empty()) return absl::InvalidArgumentError(bad);
  // absl takes "inf" and a unit-less "0"; Go takes only the latter.
  if (text.find("inf") != std::string_view::npos) return absl::InvalidArgumentError(bad);
  // Go's two spellings of micro (U+00B5, U+03BC) are absl's "us".
  std::string ascii = absl::StrReplaceAll(std::string(text), {{"\xC2\xB5s", "us"}, {"\xCE\xBCs", "us"}});
  absl::Duration d;
  if (!absl::ParseDuration(ascii, &d)) return absl::InvalidArgumentError(bad);
  // Go's Duration counts whole nanoseconds ("0.25ns" is 0, "1.5ns" is 1); absl keeps quarters.
  return absl::Trunc(d, absl::Nanoseconds(1));
}

namespace {

// `value` / 10^digits with the fraction's trailing zeros (and a bare point) dropped.
std::string Decimal(uint64_t value, int digits) {
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  std::string out = absl::StrCat(value / scale);
  uint64_t fraction = value % scale;
  if (fraction == 0) return out;
  std::string frac_digits = absl::StrCat(fraction);
  frac_digits.insert(0, static_cast<size_t>(digits) - frac_digits.size(), '0');
  while (!frac_digits.empty() && frac_digits.back() == '0') frac_digits.pop_back();
  return absl::StrCat(out, ".", frac_digits);
}

}  // namespace

std::string FormatGoDuration(absl::Duration d) {
  const int64_t ns_signed = absl::ToInt64Nanoseconds(d);
  if (ns_signed == 0) return "0s";
  const std::string sign = ns_signed < 0 ? "-" : "";
  // Negating INT64_MIN in uint64 arithmetic is well defined and gives its magnitude.
  const uint64_t ns = ns_signed < 0 ? 0 - static_cast<uint64_t>(ns_signed) : static_cast<uint64_t>(ns_signed);
  constexpr uint64_t kMicro = 1000, kMilli = 1000 * kMicro, kSecond = 1000 * kMilli;
  if (ns < kMicro) return absl::StrCat(sign, ns, "ns");
  if (ns < kMilli) return absl::StrCat(sign, Decimal(ns, 3), "\xC2\xB5s");
  if (ns < kSecond) return absl::StrCat(sign, Decimal(ns, 6), "ms");
  const uint64_t total_seconds = ns / kSecond;
  const std::string seconds = absl::StrCat(Decimal((total_seconds % 60) * kSecond + ns % kSecond, 9), "s");
  const uint64_t total_minutes = total_seconds / 60;
  if (total_minutes == 0) return absl::StrCat(sign, seconds);
  const std::string minutes = absl::StrCat(total_minutes % 60, "m");
  const uint64_t hours = total_minutes / 60;
  if (hours == 0) return absl::StrCat(sign, minutes, seconds);
  return absl::StrCat(sign, hours, "h", minutes, seconds);
}

}  // namespace muster
