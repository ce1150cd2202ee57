#include "sim/testing/swarm.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/base/check.h"

namespace muster::sim::testing {

// A swarm has tens of knobs; more means a name built from data by mistake.
inline constexpr size_t kSwarmKnobsMax = 256;

std::string SwarmValueString(int64_t v) { return absl::StrCat(v); }
std::string SwarmValueString(uint64_t v) { return absl::StrCat(v); }
std::string SwarmValueString(int v) { return absl::StrCat(v); }
std::string SwarmValueString(double v) { return absl::StrCat(v); }
std::string SwarmValueString(bool v) { return v ? "on" : "off"; }
std::string SwarmValueString(Duration v) { return absl::FormatDuration(v); }
std::string SwarmValueString(const char* v) { return v; }
std::string SwarmValueString(const std::string& v) { return v; }

bool SwarmDraw::Chance(const char* name, const char* doc, double p) {
  bool v = rng_.Bernoulli(p);
  Record(name, doc, SwarmValueString(v));
  return v;
}

double SwarmDraw::Uniform(const char* name, const char* doc, double lo, double hi) {
  double v = lo + (hi - lo) * rng_.UniformDouble();
  Record(name, doc, SwarmValueString(v));
  return v;
}

Duration SwarmDraw::UniformDuration(const char* name, const char* doc, Duration lo, Duration hi) {
  Duration v = rng_.UniformDuration(lo, hi);
  Record(name, doc, SwarmValueString(v));
  return v;
}

void SwarmDraw::Record(const char* name, const char* doc, std::string value) {
  knobs_.push_back(Knob{name, doc, std::move(value)});
  MUSTER_CHECK_LE(knobs_.size(), kSwarmKnobsMax, "swarm knob names must be fixed strings");
}

std::string SwarmDraw::Describe() const {
  std::string out;
  for (const Knob& k : knobs_) absl::StrAppend(&out, out.empty() ? "" : " ", k.name, "=", k.value);
  return out;
}

std::string SwarmDraw::Knobs() const {
  std::string out;
  for (const Knob& k : knobs_) absl::StrAppend(&out, "  ", k.name, ": ", k.doc, "\n");
  return out;
}

}  // namespace muster::sim::testing
