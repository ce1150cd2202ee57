// Raft's durable storage on RocksDB: the io/ side of the seam for core/raft. It applies the
// StorageWrite effects Raft emits (log entries by index, hard state, snapshots) atomically
// as one WriteBatch each, with WriteOptions::sync for writes that promise durability (the
// host reports WriteDurable only after Apply returned for them), and serves the read-only
// StorageView Raft recovers from on start. Reads see every applied write, synced or not,
// as the seam's rule 3 requires (RocksDB's memtable).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/seam/effects.h"
#include "core/seam/storage_view.h"

namespace rocksdb {
class DB;
}

namespace muster::io {

class RocksStorage final : public StorageView {
 public:
  static absl::StatusOr<std::unique_ptr<RocksStorage>> Open(const std::string& dir);
  ~RocksStorage() override;

  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  // Applies one write atomically; with write.sync, returns only once it is on stable storage.
  absl::Status Apply(const StorageWrite& write);

 private:
  explicit RocksStorage(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace muster::io
