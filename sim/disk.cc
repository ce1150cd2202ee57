#include "sim/disk.h"

#include "core/base/check.h"
#include "core/seam/apply_storage_op.h"

namespace muster::sim {

std::optional<std::string> Disk::Get(std::string_view key) const {
  auto it = visible_.find(key);
  if (it == visible_.end()) return std::nullopt;
  return it->second;
}

void Disk::Scan(std::string_view begin, std::string_view end,
                const std::function<bool(std::string_view, std::string_view)>& visit) const {
  for (auto it = visible_.lower_bound(begin); it != visible_.end(); ++it) {
    if (!end.empty() && std::string_view(it->first) >= end) break;
    if (!visit(it->first, it->second)) break;
  }
}

void Disk::Apply(const StorageWrite& write) {
  MUSTER_CHECK(pending_.empty() || pending_.back().id < write.id, "write ids must increase");
  for (const StorageOp& op : write.ops) ApplyStorageOp(visible_, op);
  pending_.push_back(write);
}

void Disk::SyncThrough(uint64_t write_id) {
  while (!pending_.empty() && pending_.front().id <= write_id) {
    for (const StorageOp& op : pending_.front().ops) ApplyStorageOp(durable_, op);
    pending_.pop_front();
  }
}

void Disk::Crash(Rng& rng, bool torn) {
  if (torn && !pending_.empty()) {
    const StorageWrite& first = pending_.front();
    const uint64_t keep = rng.Uniform(first.ops.size() + 1);
    for (uint64_t i = 0; i < keep; ++i) ApplyStorageOp(durable_, first.ops[i]);
  }
  pending_.clear();
  visible_ = durable_;
}

void Disk::Wipe() {
  pending_.clear();
  durable_.clear();
  visible_.clear();
}

size_t Disk::bytes() const {
  size_t total = 0;
  for (const auto& [k, v] : visible_) total += k.size() + v.size();
  return total;
}

}  // namespace muster::sim
