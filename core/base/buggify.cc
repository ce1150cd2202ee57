#include "core/base/buggify.h"

#include <string>

#include "core/base/check.h"
#include "core/base/hash.h"

namespace muster {

// Sites are few (tens) and named in code; a bound catches a name built from data by mistake.
constexpr size_t kBuggifySitesMax = 1024;

Buggify::Buggify(const BuggifyOptions& options)
    : enabled_(options.seed != 0), options_(options), rng_(options.seed ^ 0xb066'1f7u) {}

bool Buggify::Fire(std::string_view site) {
  if (!enabled_) return false;
  auto it = sites_.find(site);
  if (it == sites_.end()) {
    // Whether a site is on depends on the seed and the name only, not on the order in which
    // sites are first reached.
    uint64_t state = StableHash(site, options_.seed);
    bool on = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53 < options_.site_probability;
    it = sites_.emplace(std::string(site), on).first;
    MUSTER_CHECK_LE(sites_.size(), kBuggifySitesMax, "BUGGIFY site names must be fixed strings");
  }
  if (!it->second || !rng_.Bernoulli(options_.fire_probability)) return false;
  ++fired_[site];
  return true;
}

}  // namespace muster
