// Where io/ keeps a machine's durable state, in two steps so the host can group-commit:
// Apply() puts a write in the store, visible to reads at once (seam rule 3) but not yet
// durable; Sync() makes every write applied before it started durable (rule 1), however
// many there are. The host applies on the loop thread as the machine issues writes and runs
// one Sync at a time on a worker thread; writes applied while a Sync runs wait for the next
// one (io/host.h). A store never acknowledges anything itself: what a Sync covers is the
// host's to report (WriteDurableInput).
//
// Threads: Apply, Get and Scan run on the loop thread only; Sync runs on one other thread,
// at most one call at a time, concurrently with them. An implementation keeps whatever the
// two share safe for that, and says how.
#pragma once

#include "absl/status/status.h"
#include "core/seam/effects.h"
#include "core/seam/storage_view.h"

namespace muster::io {

class DurableStore : public StorageView {
 public:
  // Loop thread. Applies the write's ops atomically and makes them visible to reads; never
  // waits for the disk (write.sync is the host's business: it decides when to Sync).
  virtual absl::Status Apply(const StorageWrite& write) = 0;

  // Sync thread (or the loop thread when nothing else runs, as at start-up). Returns OK only
  // once every write whose Apply returned before this call would survive a power loss. An
  // error means none of them may be assumed durable: the host stops the machine.
  virtual absl::Status Sync() = 0;
};

}  // namespace muster::io
