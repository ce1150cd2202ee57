#include "core/state/watch.h"

#include <algorithm>

#include "core/base/check.h"

namespace muster::state {

void ChangeSet::Merge(const ChangeSet& o) {
  everything = everything || o.everything;
  tables.insert(o.tables.begin(), o.tables.end());
  service_names.insert(o.service_names.begin(), o.service_names.end());
  nodes.insert(o.nodes.begin(), o.nodes.end());
  kv_keys.insert(o.kv_keys.begin(), o.kv_keys.end());
  sessions.insert(o.sessions.begin(), o.sessions.end());
}

WatchRegistry::TopicIndex& WatchRegistry::IndexFor(WatchTopic::Kind kind) {
  switch (kind) {
    case WatchTopic::Kind::kTable: return tables_;
    case WatchTopic::Kind::kServiceName: return service_names_;
    case WatchTopic::Kind::kNode: return nodes_;
    case WatchTopic::Kind::kKVPrefix: return kv_prefixes_;
    case WatchTopic::Kind::kKVKey: return kv_keys_;
    case WatchTopic::Kind::kSession: return sessions_;
  }
  MUSTER_UNREACHABLE("bad watch topic kind");
}

bool WatchRegistry::Add(uint64_t id, std::vector<WatchTopic> topics) {
  MUSTER_CHECK(!topics.empty(), "watch ", id, " has no topics");
  MUSTER_CHECK(!watches_.contains(id), "watch ", id, " parked twice");
  if (watches_.size() >= max_watches_) return false;
  for (const WatchTopic& t : topics) {
    IdSet& ids = IndexFor(t.kind)[t.name];
    if (ids.insert(id).second && t.kind == WatchTopic::Kind::kKVPrefix) {
      ++kv_prefix_lengths_[t.name.size()];
    }
  }
  watches_.emplace(id, std::move(topics));
  return true;
}

bool WatchRegistry::Remove(uint64_t id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return false;
  for (const WatchTopic& t : it->second) {
    TopicIndex& index = IndexFor(t.kind);
    auto entry = index.find(t.name);
    if (entry == index.end() || entry->second.erase(id) == 0) continue;  // duplicate topic
    if (t.kind == WatchTopic::Kind::kKVPrefix) {
      auto len = kv_prefix_lengths_.find(t.name.size());
      MUSTER_CHECK(len != kv_prefix_lengths_.end() && len->second > 0);
      if (--len->second == 0) kv_prefix_lengths_.erase(len);
    }
    if (entry->second.empty()) index.erase(entry);
  }
  watches_.erase(it);
  return true;
}

void WatchRegistry::Collect(const TopicIndex& index, const absl::btree_set<std::string>& names,
                            std::vector<uint64_t>& out) {
  if (index.empty()) return;
  for (const std::string& n : names) {
    auto it = index.find(n);
    if (it != index.end()) out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

std::vector<uint64_t> WatchRegistry::Notify(const ChangeSet& changes) {
  std::vector<uint64_t> woken;
  if (changes.everything) {
    for (const auto& [id, topics] : watches_) woken.push_back(id);
  } else {
    Collect(tables_, changes.tables, woken);
    Collect(service_names_, changes.service_names, woken);
    Collect(nodes_, changes.nodes, woken);
    Collect(sessions_, changes.sessions, woken);
    Collect(kv_keys_, changes.kv_keys, woken);
    if (!kv_prefixes_.empty()) {
      for (const std::string& key : changes.kv_keys) {
        for (const auto& [len, count] : kv_prefix_lengths_) {
          if (len > key.size()) break;
          auto it = kv_prefixes_.find(key.substr(0, len));
          if (it != kv_prefixes_.end()) woken.insert(woken.end(), it->second.begin(), it->second.end());
        }
      }
    }
  }
  std::sort(woken.begin(), woken.end());
  woken.erase(std::unique(woken.begin(), woken.end()), woken.end());
  for (uint64_t id : woken) MUSTER_CHECK(Remove(id));
  return woken;
}

}  // namespace muster::state
