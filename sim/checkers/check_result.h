// What the trace checkers (lock, stale read, event) answer: ok, or the violations found,
// each one readable line; the first `kViolationsKept` are kept, all are counted.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace muster::sim::checkers {

struct CheckResult {
  static constexpr size_t kViolationsKept = 20;

  std::vector<std::string> violations;  // the first kViolationsKept, in the checker's order
  int64_t violation_count = 0;

  bool ok() const { return violation_count == 0; }
  void Add(std::string violation) {
    ++violation_count;
    if (violations.size() < kViolationsKept) violations.push_back(std::move(violation));
  }
  // "ok", or "N violations:" and one per line.
  std::string Report() const {
    if (ok()) return "ok";
    std::string report =
        absl::StrCat(violation_count, " violation", violation_count == 1 ? "" : "s", ":\n  ",
                     absl::StrJoin(violations, "\n  "));
    if (violation_count > static_cast<int64_t>(violations.size())) {
      absl::StrAppend(&report, "\n  ... ", violation_count - violations.size(), " more");
    }
    return report;
  }
};

}  // namespace muster::sim::checkers
