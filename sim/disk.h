// A simulated disk for one node: a key-value store with a page cache. Writes are visible at
// once; they become durable when synced. A crash keeps only what was durable — optionally
// plus a torn prefix of the first unsynced write's operations, as a real disk may.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/container/btree_map.h"

#include "core/base/rng.h"
#include "core/seam/apply_storage_op.h"
#include "core/seam/effects.h"
#include "core/seam/storage_view.h"

namespace muster::sim {

class Disk final : public StorageView {
 public:
  // StorageView: reads see every issued write.
  std::optional<std::string> Get(std::string_view key) const override;
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  void Apply(const StorageWrite& write);
  // Makes every applied write with id <= write_id durable.
  void SyncThrough(uint64_t write_id);
  // Power loss: the page cache is gone. With `torn`, a random prefix of the oldest
  // unsynced write's ops survives (breaking that write's atomicity, as a torn sector would).
  // A write with sync = false is never promised durable, so losing it is legal.
  void Crash(Rng& rng, bool torn);
  // Reboot with the data deleted (the harshest kill type).
  void Wipe();

  size_t unsynced_writes() const { return pending_.size(); }
  size_t bytes() const;

 private:
  // B-trees, not OrderedKv's std::map: a server's disk holds every raft log entry twice, and
  // a std::map node per key made inserting, copying on a crash and freeing at the end a
  // noticeable share of a simulated run.
  using Kv = absl::btree_map<std::string, std::string, std::less<>>;
  Kv durable_;
  Kv visible_;
  std::deque<StorageWrite> pending_;
};

}  // namespace muster::sim
