// A DurableStore kept in memory: for tests and for `-dev` agents, which promise nothing
// across a restart (as Consul's dev mode). Never use it where durability is promised.
#pragma once

#include <map>
#include <string>

#include "core/seam/apply_storage_op.h"
#include "io/durable_store.h"

namespace muster::io {

class MemoryStore final : public DurableStore {
 public:
  absl::Status Apply(const StorageWrite& write) override;
  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  uint64_t writes_applied() const { return writes_applied_; }

 private:
  OrderedKv kv_;
  uint64_t writes_applied_ = 0;
};

}  // namespace muster::io
