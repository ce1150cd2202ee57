#include "io/memory_store.h"

#include "core/seam/apply_storage_op.h"

namespace muster::io {

absl::Status MemoryStore::Apply(const StorageWrite& write) {
  for (const StorageOp& op : write.ops) ApplyStorageOp(kv_, op);
  ++writes_applied_;
  return absl::OkStatus();
}

std::optional<std::string> MemoryStore::Get(std::string_view key) const {
  auto it = kv_.find(key);
  if (it == kv_.end()) return std::nullopt;
  return it->second;
}

void MemoryStore::Scan(std::string_view begin, std::string_view end,
                       const std::function<bool(std::string_view, std::string_view)>& visit) const {
  for (auto it = kv_.lower_bound(begin); it != kv_.end(); ++it) {
    if (!end.empty() && std::string_view(it->first) >= end) break;
    if (!visit(it->first, it->second)) break;
  }
}

}  // namespace muster::io
