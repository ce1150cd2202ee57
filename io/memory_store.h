// A DurableStore kept in memory: for tests and for `-dev` agents, which promise nothing
// across a restart (as Consul's dev mode). Never use it where durability is promised.
// "Durable" here means what a finished Sync covered, so tests can see what a host claims;
// a test can also make every Sync slow (to hold one in flight) or fail (a broken disk).
//
// Threads (durable_store.h): the map and writes_applied() belong to the loop thread; Sync
// reads only the last applied id (atomic) and the test hooks (under a mutex), so it may run
// on the sync thread while the loop applies and reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/seam/apply_storage_op.h"
#include "io/durable_store.h"

namespace muster::io {

class MemoryStore final : public DurableStore {
 public:
  absl::Status Apply(const StorageWrite& write) override;
  absl::Status Sync() override;
  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  uint64_t writes_applied() const { return writes_applied_; }

  // Test hooks, from any thread. Each Sync first sleeps `delay` on the thread running it (a
  // slow disk, so a test can hold a sync in flight).
  void set_sync_delay(absl::Duration delay);
  // Every Sync that ends from now on fails with `error`, one in flight too (a disk that
  // failed stays failed); OkStatus() heals it.
  void set_sync_error(absl::Status error);

  // Syncs that returned OK.
  uint64_t syncs() const { return syncs_.load(); }
  // The id of the last write applied before the latest successful Sync started: every write
  // up to it would survive a power loss on a real disk.
  uint64_t durable_write_id() const { return durable_write_id_.load(); }

 private:
  OrderedKv kv_;  // loop thread
  uint64_t writes_applied_ = 0;  // loop thread
  std::atomic<uint64_t> last_applied_write_id_{0};
  std::atomic<uint64_t> durable_write_id_{0};
  std::atomic<uint64_t> syncs_{0};
  mutable absl::Mutex hooks_mu_;
  absl::Duration sync_delay_ ABSL_GUARDED_BY(hooks_mu_) = absl::ZeroDuration();
  absl::Status sync_error_ ABSL_GUARDED_BY(hooks_mu_);
};

}  // namespace muster::io
