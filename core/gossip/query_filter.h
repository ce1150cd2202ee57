// A query's tag filters, matched with RE2. Filters come from the network, and libstdc++'s
// std::regex backtracks (exponential time: `(a*)*b` against 18 'a's took 31 s) and recurses
// (a stack overflow on long inputs), so one crafted query stalled every member (issue 10
// item 3). RE2 runs in time linear in the input, as Go's regexp that Serf uses does; patterns
// are bounded by kTagFilterPatternBytesMax (limits.h) and compiled with a bounded memory
// budget, and RE2 is told never to log (the core writes nowhere itself).
// A filter matches the whole tag value (as std::regex_match did; Go's MatchString would
// match a substring).
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gossip/event_handler.h"
#include "proto/gossip.pb.h"

namespace re2 {
class RE2;
}

namespace muster::gossip {

// Memory RE2 may use for one compiled filter (its default is 8 MiB; a pattern of at most
// 256 bytes needs far less unless it is built to blow up, and then failing is right).
inline constexpr int64_t kTagFilterRegexMemoryBytesMax = 1 << 20;

class TagFilters {
 public:
  // Compiles every tag filter of `q`: InvalidArgument if one is too long or does not compile.
  static absl::StatusOr<TagFilters> Compile(const proto::gossip::Query& q);
  TagFilters(TagFilters&&) noexcept;
  TagFilters& operator=(TagFilters&&) noexcept;
  ~TagFilters();

  // True if every filtered tag is present in `tags` and its value matches in full.
  bool Match(const TagMap& tags) const;

 private:
  struct Filter;
  TagFilters();
  std::vector<Filter> filters_;
};

// A remote query's filters against our tags: a filter that is too long or does not compile
// matches nothing (the query is still passed on; we only do not answer it).
bool TagFiltersMatch(const TagMap& tags, const proto::gossip::Query& q);

}  // namespace muster::gossip
