#include "core/raft/log.h"

#include <algorithm>

#include "core/base/check.h"

namespace muster::raft {
namespace {
void AppendBigEndian(std::string* s, uint64_t v) {
  char buf[8];
  for (int i = 7; i >= 0; --i, v >>= 8) buf[i] = static_cast<char>(v & 0xff);
  s->append(buf, 8);
}
}  // namespace

std::string LogKey(uint64_t index) {
  std::string key(kLogPrefix);
  AppendBigEndian(&key, index);
  return key;
}

std::string SnapDataKey(uint64_t index) {
  std::string key(kSnapDataPrefix);
  AppendBigEndian(&key, index);
  return key;
}

bool ParseLogKey(std::string_view key, uint64_t* index) {
  if (key.size() != kLogPrefix.size() + 8 || key.substr(0, kLogPrefix.size()) != kLogPrefix) return false;
  uint64_t v = 0;
  for (size_t i = kLogPrefix.size(); i < key.size(); ++i) v = (v << 8) | static_cast<unsigned char>(key[i]);
  *index = v;
  return true;
}

void RaftLog::Recover(const StorageView* storage) {
  snap_.Clear();
  snap_data_.clear();
  entries_.clear();
  bytes_ = 0;
  if (storage == nullptr) return;
  if (auto meta = storage->Get(kSnapMetaKey)) {
    MUSTER_CHECK(snap_.ParseFromString(*meta), "corrupt snapshot meta");
    auto data = storage->Get(SnapDataKey(snap_.index()));
    MUSTER_CHECK(data.has_value(), "snapshot data missing for index ", snap_.index());
    snap_data_ = std::move(*data);
  }
  // Entries must continue the snapshot without a gap and with terms that never decrease;
  // anything else can only be the tail of a torn write and was never acknowledged.
  storage->Scan(LogKey(snap_.index() + 1), LogKey(UINT64_MAX), [&](std::string_view key, std::string_view value) {
    uint64_t index = 0;
    if (!ParseLogKey(key, &index) || index != last_index() + 1) return false;
    pb::Entry e;
    MUSTER_CHECK(e.ParseFromArray(value.data(), static_cast<int>(value.size())), "corrupt entry ", index);
    MUSTER_CHECK_EQ(e.index(), index);
    if (e.term() < last_term()) return false;
    bytes_ += e.data().size();
    entries_.push_back(std::move(e));
    return true;
  });
}

std::optional<uint64_t> RaftLog::Term(uint64_t index) const {
  if (index == snap_.index()) return snap_.term();
  if (index < snap_.index() || index > last_index()) return std::nullopt;
  return entries_[index - snap_.index() - 1].term();
}

const pb::Entry& RaftLog::At(uint64_t index) const {
  MUSTER_CHECK(index > snap_.index() && index <= last_index(), "index ", index, " outside (",
               snap_.index(), ", ", last_index(), "]");
  return entries_[index - snap_.index() - 1];
}

void RaftLog::Slice(uint64_t lo, uint64_t hi, uint64_t bytes_max, std::vector<const pb::Entry*>* out) const {
  uint64_t bytes = 0;
  for (uint64_t i = lo; i <= hi; ++i) {
    const pb::Entry& e = At(i);
    bytes += e.data().size() + 16;
    if (!out->empty() && bytes > bytes_max) break;
    out->push_back(&e);
  }
}

uint64_t RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  index = std::min(index, last_index());
  while (index > snap_.index()) {
    if (At(index).term() <= term) return index;
    --index;
  }
  return index;
}

void RaftLog::Append(pb::Entry entry, StorageWrite* w) {
  MUSTER_CHECK_EQ(entry.index(), last_index() + 1, "log must stay contiguous");
  MUSTER_CHECK(entry.term() >= last_term(), "terms in the log never decrease");
  w->Put(LogKey(entry.index()), entry.SerializeAsString());
  bytes_ += entry.data().size();
  entries_.push_back(std::move(entry));
}

void RaftLog::TruncateAfter(uint64_t index, StorageWrite* w) {
  MUSTER_CHECK(index >= snap_.index() && index < last_index(), "truncate at ", index);
  w->DeleteRange(LogKey(index + 1), LogKey(UINT64_MAX));
  while (last_index() > index) {
    bytes_ -= entries_.back().data().size();
    entries_.pop_back();
  }
}

void RaftLog::WriteSnapshot(const pb::SnapshotMeta& meta, const std::string& data, uint64_t old_index,
                            StorageWrite* w) {
  // Order matters for torn writes: new data, then the meta that points at it, then cleanup.
  w->Put(SnapDataKey(meta.index()), data);
  w->Put(std::string(kSnapMetaKey), meta.SerializeAsString());
  if (old_index != meta.index()) w->Delete(SnapDataKey(old_index));
}

void RaftLog::Compact(pb::SnapshotMeta meta, std::string data, StorageWrite* w) {
  MUSTER_CHECK(meta.index() > snap_.index() && meta.index() <= last_index(), "compact at ", meta.index());
  MUSTER_CHECK_EQ(meta.term(), *Term(meta.index()));
  meta.set_size(data.size());
  const uint64_t old_index = snap_.index();
  WriteSnapshot(meta, data, old_index, w);
  w->DeleteRange(LogKey(0), LogKey(meta.index() + 1));
  while (!entries_.empty() && entries_.front().index() <= meta.index()) {
    bytes_ -= entries_.front().data().size();
    entries_.pop_front();
  }
  snap_ = std::move(meta);
  snap_data_ = std::move(data);
}

void RaftLog::Restore(pb::SnapshotMeta meta, std::string data, StorageWrite* w) {
  meta.set_size(data.size());
  const uint64_t old_index = snap_.index();
  WriteSnapshot(meta, data, old_index, w);
  w->DeleteRange(LogKey(0), LogKey(UINT64_MAX));
  entries_.clear();
  bytes_ = 0;
  snap_ = std::move(meta);
  snap_data_ = std::move(data);
}

}  // namespace muster::raft
