// BUGGIFY (FoundationDB's flow/Buggify.h): production code marks call sites where a
// worst-case-but-legal choice exists — a batch of one, the longest allowed delay, the earliest
// timeout — and asks `buggify.Fire("raft.append.batch_of_one")` there. Only the simulator
// switches it on (a nonzero seed in the component's options); then each site is enabled for
// the whole run with probability `site_probability` (decided by the seed and the site's name),
// and an enabled site fires with probability `fire_probability` per call. Off, Fire() is a
// branch on one bool and never draws: runs without BUGGIFY are unchanged.
//
// Never: make a choice that breaks a protocol rule (those are the unsafe_* switches), or draw
// from the component's own Rng (that would shift every later draw when BUGGIFY is switched).
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/container/btree_map.h"
#include "core/base/rng.h"

namespace muster {

struct BuggifyOptions {
  uint64_t seed = 0;  // 0: off (production)
  double site_probability = 0.25;
  double fire_probability = 0.25;
};

class Buggify {
 public:
  Buggify() = default;
  explicit Buggify(const BuggifyOptions& options);

  bool enabled() const { return enabled_; }
  // True when the site `site` (a stable name, "component.what") should take its worst legal
  // choice now.
  bool Fire(std::string_view site);
  // How often each enabled site fired, by name: a swarm test shows the sites are reached.
  const absl::btree_map<std::string, uint64_t, std::less<>>& fired() const { return fired_; }

 private:
  bool enabled_ = false;
  BuggifyOptions options_;
  Rng rng_{0};
  absl::btree_map<std::string, bool, std::less<>> sites_;  // site -> enabled for this run
  absl::btree_map<std::string, uint64_t, std::less<>> fired_;
};

}  // namespace muster
