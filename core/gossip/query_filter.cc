#include "core/gossip/query_filter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/gossip/limits.h"
#include "re2/re2.h"

namespace muster::gossip {

namespace pb = ::muster::proto::gossip;

struct TagFilters::Filter {
  std::string key;
  std::unique_ptr<re2::RE2> pattern;
};

TagFilters::TagFilters() = default;
TagFilters::TagFilters(TagFilters&&) noexcept = default;
TagFilters& TagFilters::operator=(TagFilters&&) noexcept = default;
TagFilters::~TagFilters() = default;

absl::StatusOr<TagFilters> TagFilters::Compile(const pb::Query& q) {
  if (absl::Status s = CheckQueryFilters(q); !s.ok()) return s;
  re2::RE2::Options options;
  options.set_log_errors(false);  // the core never writes to stderr
  options.set_max_mem(kTagFilterRegexMemoryBytesMax);
  TagFilters out;
  for (const pb::Tag& t : q.filter_tags()) {
    auto re = std::make_unique<re2::RE2>(t.value(), options);
    if (!re->ok()) {
      return absl::InvalidArgumentError(absl::StrCat("tag filter for ", t.key(), ": ", re->error()));
    }
    out.filters_.push_back(Filter{t.key(), std::move(re)});
  }
  return out;
}

bool TagFilters::Match(const TagMap& tags) const {
  for (const Filter& f : filters_) {
    auto it = tags.find(f.key);
    if (it == tags.end()) return false;
    if (!re2::RE2::FullMatch(it->second, *f.pattern)) return false;
  }
  return true;
}

bool TagFiltersMatch(const TagMap& tags, const pb::Query& q) {
  if (q.filter_tags_size() == 0) return true;
  absl::StatusOr<TagFilters> filters = TagFilters::Compile(q);
  return filters.ok() && filters->Match(tags);
}

}  // namespace muster::gossip
