// A DurableStore in one append-only file, for client agents: what they keep (the local/
// services and checks, a few KiB to a few MiB) needs no RocksDB, whose library pages, threads
// and memtable cost a client about 2.5 MB of resident memory (bench/client_agent_bench_results.md).
//
// Each StorageWrite is one record, [u32 length][u32 CRC-32 of the payload][payload], appended
// and fdatasync'ed by Sync; at open the records are replayed and a torn or corrupt tail (a
// crash mid-append) is cut off, so a write is either whole or absent. When the file has grown
// past kCompactBytesMin and twice the live data, the next Apply snapshots the map into one
// record that the next Sync writes to a new file and renames over the old one (fsync'ed file
// and folder), so a crash mid-compaction leaves the old file.
//
// Threads (durable_store.h): the map belongs to the loop thread (Apply, Get, Scan); Apply
// hands the encoded bytes to Sync under a mutex, and Sync alone touches the file.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/seam/apply_storage_op.h"
#include "io/durable_store.h"

namespace muster::io {

// Below this a log is never compacted (a client's registrations and status changes).
inline constexpr uint64_t kCompactBytesMin = 1 << 20;
// A record larger than this at open is taken for corruption (a write of a client's local
// state is a few KiB; the snapshot of everything is bounded by the agent's local bounds).
inline constexpr uint32_t kRecordBytesMax = 256u << 20;

class FileStore final : public DurableStore {
 public:
  // Opens (creating it and its folder when absent) `dir`/store.log and replays it.
  static absl::StatusOr<std::unique_ptr<FileStore>> Open(const std::string& dir);
  ~FileStore() override;

  absl::Status Apply(const StorageWrite& write) override;
  absl::Status Sync() override;
  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  // For tests: bytes cut off as a torn tail at open, and compactions written.
  uint64_t torn_bytes_at_open() const { return torn_bytes_at_open_; }
  uint64_t compactions() const { return compactions_.load(); }

 private:
  FileStore(std::string dir, int fd) : dir_(std::move(dir)), fd_(fd) {}
  absl::Status Replay();
  uint64_t LiveBytes() const;

  const std::string dir_;
  int fd_;  // Sync's (and Open's), appending
  OrderedKv kv_;  // loop thread
  uint64_t file_bytes_ = 0;  // loop thread: what the file will hold once the pending bytes are written
  uint64_t torn_bytes_at_open_ = 0;
  std::atomic<uint64_t> compactions_{0};
  absl::Mutex mu_;
  std::string pending_ ABSL_GUARDED_BY(mu_);  // records to append
  std::optional<std::string> rewrite_ ABSL_GUARDED_BY(mu_);  // a snapshot record replacing the file
};

}  // namespace muster::io
