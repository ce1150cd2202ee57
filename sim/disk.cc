#include "sim/disk.h"

#include "core/base/check.h"

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

void Disk::ApplyTo(std::map<std::string, std::string, std::less<>>& kv, const StorageOp& op) {
  switch (op.kind) {
    case StorageOp::Kind::kPut:
      kv.insert_or_assign(op.key, op.value);
      return;
    case StorageOp::Kind::kDelete:
      kv.erase(op.key);
      return;
    case StorageOp::Kind::kDeleteRange: {
      auto first = kv.lower_bound(op.key);
      auto last = op.value.empty() ? kv.end() : kv.lower_bound(op.value);
      if (first != kv.end() && (last == kv.end() || first->first < last->first)) kv.erase(first, last);
      return;
    }
  }
}

void Disk::Apply(const StorageWrite& write) {
  MUSTER_CHECK(pending_.empty() || pending_.back().id < write.id, "write ids must increase");
  for (const StorageOp& op : write.ops) ApplyTo(visible_, op);
  pending_.push_back(write);
}

void Disk::SyncThrough(uint64_t write_id) {
  while (!pending_.empty() && pending_.front().id <= write_id) {
    for (const StorageOp& op : pending_.front().ops) ApplyTo(durable_, op);
    pending_.pop_front();
  }
}

void Disk::Crash(Rng& rng, bool torn) {
  if (torn && !pending_.empty()) {
    const StorageWrite& first = pending_.front();
    const uint64_t keep = rng.Uniform(first.ops.size() + 1);
    for (uint64_t i = 0; i < keep; ++i) ApplyTo(durable_, first.ops[i]);
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
