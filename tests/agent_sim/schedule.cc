#include "tests/agent_sim/schedule.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace muster::agent_sim {
namespace {

constexpr WorkloadKind kWorkloadKinds[] = {WorkloadKind::kKv,   WorkloadKind::kCas,    WorkloadKind::kRegister,
                                           WorkloadKind::kLock, WorkloadKind::kEvents, WorkloadKind::kMixed};

bool ParseDurationText(const std::string& text, Duration* out) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) return false;
  *out = d;
  return true;
}

}  // namespace

const char* KillModeName(KillMode m) {
  switch (m) {
    case KillMode::kOff: return "off";
    case KillMode::kPlain: return "plain";
    case KillMode::kTorn: return "torn";
    case KillMode::kWipe: return "wipe";
  }
  return "?";
}

const char* WorkloadName(WorkloadKind w) {
  switch (w) {
    case WorkloadKind::kKv: return "kv";
    case WorkloadKind::kCas: return "cas";
    case WorkloadKind::kRegister: return "register";
    case WorkloadKind::kLock: return "lock";
    case WorkloadKind::kEvents: return "events";
    case WorkloadKind::kMixed: return "mixed";
  }
  return "?";
}

bool ParseWorkloadName(const std::string& name, WorkloadKind* out) {
  for (WorkloadKind w : kWorkloadKinds) {
    if (name == WorkloadName(w)) {
      *out = w;
      return true;
    }
  }
  return false;
}

std::string WorkloadNames() {
  std::string out;
  for (WorkloadKind w : kWorkloadKinds) absl::StrAppend(&out, out.empty() ? "" : ", ", WorkloadName(w));
  return out;
}

bool ParseDelay(const std::string& text, DelaySpec* out, std::string* error) {
  DelaySpec d;
  d.text = text;
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  bool ok = false;
  if (kind == "fixed") {
    ok = ParseDurationText(rest, &d.latency_min);
    d.jitter_mean = absl::ZeroDuration();
  } else if (kind == "exp") {
    const size_t plus = rest.find('+');
    ok = plus != std::string::npos && ParseDurationText(rest.substr(0, plus), &d.latency_min) &&
         ParseDurationText(rest.substr(plus + 1), &d.jitter_mean);
  } else if (kind == "uniform") {
    const size_t dash = rest.find('-');
    Duration lo, hi;
    ok = dash != std::string::npos && ParseDurationText(rest.substr(0, dash), &lo) &&
         ParseDurationText(rest.substr(dash + 1), &hi) && lo <= hi;
    d.latency_min = lo;
    d.jitter_mean = (hi - lo) / 2;
  }
  if (!ok) {
    *error = absl::StrCat("--delay ", text, ": expected fixed:D, exp:FLOOR+MEAN or uniform:LO-HI (e.g. uniform:1ms-20ms)");
    return false;
  }
  *out = d;
  return true;
}

std::vector<Action> SortedActions(const Schedule& schedule) {
  std::vector<Action> out = schedule.actions;
  std::stable_sort(out.begin(), out.end(), [](const Action& a, const Action& b) { return a.at < b.at; });
  return out;
}

}  // namespace muster::agent_sim
