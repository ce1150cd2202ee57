// Raft's durable storage on RocksDB: the io/ side of the seam for core/raft, a DurableStore
// the host group-commits through (io/durable_store.h). Apply writes each StorageWrite Raft
// emits (log entries by index, hard state, snapshots) atomically as one WriteBatch, without
// a sync: it lands in the memtable, so reads see it at once (seam rule 3), and in the WAL
// file in the OS page cache. Sync is RocksDB's SyncWAL: one fsync of the WAL makes every
// batch written before it durable, however many, which is what group commit needs (a
// Write with sync = true would also hide the batch from reads until its sync is done).
//
// Threads: RocksDB's DB is safe for concurrent use, and this class keeps no state of its
// own after Open, so Sync on the sync thread may run while the loop thread applies, gets and
// scans (SyncWAL does not block writers; the WAL tail race of FlushWAL(sync) was fixed in
// RocksDB 7.7, and Debian's is 7.8). allow_mmap_writes stays off, as SyncWAL requires.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/seam/effects.h"
#include "io/durable_store.h"

namespace rocksdb {
class DB;
}

namespace muster::io {

class RocksStorage final : public DurableStore {
 public:
  static absl::StatusOr<std::unique_ptr<RocksStorage>> Open(const std::string& dir);
  ~RocksStorage() override;

  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  absl::Status Apply(const StorageWrite& write) override;
  absl::Status Sync() override;

 private:
  explicit RocksStorage(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace muster::io
