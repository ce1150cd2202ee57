#include "io/memory_store.h"

#include "core/seam/apply_storage_op.h"

namespace muster::io {

absl::Status MemoryStore::Apply(const StorageWrite& write) {
  for (const StorageOp& op : write.ops) ApplyStorageOp(kv_, op);
  ++writes_applied_;
  last_applied_write_id_.store(write.id);
  return absl::OkStatus();
}

absl::Status MemoryStore::Sync() {
  // What this sync covers is fixed when it starts: a write applied while it sleeps waits
  // for the next one, as on a disk.
  const uint64_t covered = last_applied_write_id_.load();
  absl::Duration delay;
  {
    absl::MutexLock lock(&hooks_mu_);
    delay = sync_delay_;
  }
  if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
  {
    // Read after the delay, so a test can fail a sync already in flight.
    absl::MutexLock lock(&hooks_mu_);
    if (!sync_error_.ok()) return sync_error_;
  }
  durable_write_id_.store(covered);
  syncs_.fetch_add(1);
  return absl::OkStatus();
}

void MemoryStore::set_sync_delay(absl::Duration delay) {
  absl::MutexLock lock(&hooks_mu_);
  sync_delay_ = delay;
}

void MemoryStore::set_sync_error(absl::Status error) {
  absl::MutexLock lock(&hooks_mu_);
  sync_error_ = std::move(error);
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
