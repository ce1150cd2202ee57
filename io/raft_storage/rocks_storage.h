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
//
// RocksDB is reached through its C API in the shared library, opened at the first Open
// (io/raft_storage/rocksdb_library.h), so an agent that never opens a raft store (a client)
// never loads it; Sync is rocksdb_flush_wal with sync set, which is SyncWAL when the WAL is
// not flushed manually (manual_wal_flush stays off).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/seam/effects.h"
#include "io/durable_store.h"

struct rocksdb_t;
struct rocksdb_readoptions_t;
struct rocksdb_writeoptions_t;

namespace muster::io {

struct RocksDbLibrary;

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
  RocksStorage(const RocksDbLibrary* rocksdb, rocksdb_t* db);
  const RocksDbLibrary* const rocksdb_;
  rocksdb_t* const db_;
  // Default read and write options (no sync on write), made once.
  rocksdb_readoptions_t* const read_options_;
  rocksdb_writeoptions_t* const write_options_;
};

}  // namespace muster::io
