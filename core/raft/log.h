// The raft log as one node sees it: a snapshot (index, term, configuration, data) followed
// by contiguous entries, mirrored in memory and persisted through StorageWrite ops. Reads
// are served from memory; storage is read only on start (Recover). It never decides
// anything about consensus: raft.cc says what to append, truncate or compact.
//
// On-disk layout (keys sort bytewise):
//   raft/hard                 HardState
//   raft/l/<u64 big-endian>   Entry
//   raft/snap/meta            SnapshotMeta
//   raft/snap/data/<u64 be>   snapshot bytes for that index
// Ops inside one write are ordered so that any prefix of them (a torn write) still
// recovers to a consistent log: deletions before puts, puts in ascending index.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/seam/effects.h"
#include "core/seam/storage_view.h"
#include "proto/raft_pb.h"

namespace muster::raft {

inline constexpr std::string_view kHardStateKey = "raft/hard";
// Short enough (with the 8-byte index) for std::string's inline buffer: no allocation per key.
inline constexpr std::string_view kLogPrefix = "raft/l/";
inline constexpr std::string_view kSnapMetaKey = "raft/snap/meta";
inline constexpr std::string_view kSnapDataPrefix = "raft/snap/data/";

std::string LogKey(uint64_t index);
std::string SnapDataKey(uint64_t index);
// Inverse of LogKey; false if `key` is not a log key.
bool ParseLogKey(std::string_view key, uint64_t* index);

class RaftLog {
 public:
  // Loads snapshot and entries from storage (may be null: an empty log).
  void Recover(const StorageView* storage);

  uint64_t snapshot_index() const { return snap_.index(); }
  uint64_t snapshot_term() const { return snap_.term(); }
  const pb::SnapshotMeta& snapshot_meta() const { return snap_; }
  const std::string& snapshot_data() const { return snap_data_; }
  uint64_t first_index() const { return snap_.index() + 1; }
  uint64_t last_index() const { return snap_.index() + entries_.size(); }
  uint64_t last_term() const { return entries_.empty() ? snap_.term() : entries_.back().term(); }

  // Term of entry `index`; nullopt if compacted away or beyond the end.
  std::optional<uint64_t> Term(uint64_t index) const;
  bool MatchTerm(uint64_t index, uint64_t term) const {
    auto t = Term(index);
    return t.has_value() && *t == term;
  }
  const pb::Entry& At(uint64_t index) const;
  // Entries [lo, hi], at least one (if lo <= hi), then up to `bytes_max` bytes in total.
  void Slice(uint64_t lo, uint64_t hi, uint64_t bytes_max, std::vector<const pb::Entry*>* out) const;
  // The largest index <= `index` whose term <= `term` (etcd's findConflictByTerm); stops at
  // the snapshot index.
  uint64_t FindConflictByTerm(uint64_t index, uint64_t term) const;

  // Appends an entry at last_index()+1.
  void Append(pb::Entry entry, StorageWrite* w);
  // Removes every entry after `index` (index >= snapshot_index).
  void TruncateAfter(uint64_t index, StorageWrite* w);
  // Records a snapshot the state machine took at `meta.index` (<= last_index) and drops the
  // entries it covers.
  void Compact(pb::SnapshotMeta meta, std::string data, StorageWrite* w);
  // Replaces the whole log with a snapshot received from the leader.
  void Restore(pb::SnapshotMeta meta, std::string data, StorageWrite* w);

  uint64_t bytes() const { return bytes_; }

 private:
  void WriteSnapshot(const pb::SnapshotMeta& meta, const std::string& data, uint64_t old_index,
                     StorageWrite* w);

  pb::SnapshotMeta snap_;
  std::string snap_data_;
  std::deque<pb::Entry> entries_;  // entries_[0].index() == snap_.index() + 1
  uint64_t bytes_ = 0;             // data bytes held in entries_
};

}  // namespace muster::raft
