#include "sim/testing/checker.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::sim::testing {

void CheckerBase::Fail(Time now, const std::string& what) {
  if (!failure_.empty()) return;
  failure_ = absl::StrCat("at t=", absl::FormatDuration(now - SimEpoch()), ": ", what);
}

std::string CheckerBase::Report() const {
  if (failure_.empty()) return "";
  return absl::StrCat("FAIL seed=", seed_, " ", failure_, "\n  reproduce: ", repro_);
}

}  // namespace muster::sim::testing
