// Swarm options drawn from one seed (swarm testing: each run switches knobs on and off at
// random, so bugs that need an unusual mix appear). Every knob is drawn through a SwarmDraw
// with a name and a line of documentation, so a run's summary lists what its seed chose and
// `Knobs()` documents them all (a harness's --help prints it).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/base/rng.h"
#include "core/base/time.h"

namespace muster::sim::testing {

class SwarmDraw {
 public:
  explicit SwarmDraw(uint64_t seed) : rng_(seed ^ 0x5a12'3d00'5eedULL) {}
  // Draws from `rng` (a harness that drew its knobs by hand before keeps its seeds' runs).
  explicit SwarmDraw(Rng rng) : rng_(rng) {}

  // One of `choices`, uniformly.
  template <typename T>
  T OneOf(const char* name, const char* doc, std::initializer_list<T> choices);
  bool Chance(const char* name, const char* doc, double p);
  double Uniform(const char* name, const char* doc, double lo, double hi);
  Duration UniformDuration(const char* name, const char* doc, Duration lo, Duration hi);
  // A knob fixed by the caller (a flag overriding the seed's choice), still listed.
  template <typename T>
  T Fixed(const char* name, const char* doc, T value);

  // "name=value ..." of every knob drawn so far, in draw order.
  std::string Describe() const;
  // "name: doc" per knob.
  std::string Knobs() const;
  // For draws during the run that are not knobs (the workload, fault timing): a generator
  // forked off the swarm's, so adding a knob changes the run, never the knob list's meaning.
  Rng& rng() { return rng_; }

 private:
  void Record(const char* name, const char* doc, std::string value);
  Rng rng_;
  struct Knob {
    std::string name, doc, value;
  };
  std::vector<Knob> knobs_;
};

std::string SwarmValueString(int64_t v);
std::string SwarmValueString(uint64_t v);
std::string SwarmValueString(int v);
std::string SwarmValueString(double v);
std::string SwarmValueString(bool v);
std::string SwarmValueString(Duration v);
std::string SwarmValueString(const char* v);
std::string SwarmValueString(const std::string& v);

template <typename T>
T SwarmDraw::OneOf(const char* name, const char* doc, std::initializer_list<T> choices) {
  T v = *(choices.begin() + rng_.Uniform(choices.size()));
  Record(name, doc, SwarmValueString(v));
  return v;
}

template <typename T>
T SwarmDraw::Fixed(const char* name, const char* doc, T value) {
  Record(name, doc, SwarmValueString(value));
  return value;
}

}  // namespace muster::sim::testing
