#include "io/raft_storage/rocks_storage.h"

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace muster::io {
namespace {
absl::Status ToStatus(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("rocksdb ", std::string(what), ": ", s.ToString()));
}
rocksdb::Slice Slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
}  // namespace

absl::StatusOr<std::unique_ptr<RocksStorage>> RocksStorage::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // The raft log is written sequentially and read on start: small memtables suffice, and
  // WAL recovery must stop at the first corrupt record (a torn tail) rather than fail.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.write_buffer_size = 16 << 20;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) return ToStatus(s, "open");
  return std::unique_ptr<RocksStorage>(new RocksStorage(db));
}

RocksStorage::RocksStorage(rocksdb::DB* db) : db_(db) {}

RocksStorage::~RocksStorage() = default;

std::optional<std::string> RocksStorage::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Slice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  MUSTER_CHECK(s.ok(), "rocksdb get: ", s.ToString());
  return value;
}

void RocksStorage::Scan(std::string_view begin, std::string_view end,
                        const std::function<bool(std::string_view, std::string_view)>& visit) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(Slice(begin)); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (!end.empty() && key >= end) break;
    if (!visit(key, std::string_view(it->value().data(), it->value().size()))) break;
  }
  MUSTER_CHECK(it->status().ok(), "rocksdb scan: ", it->status().ToString());
}

absl::Status RocksStorage::Apply(const StorageWrite& write) {
  rocksdb::WriteBatch batch;
  for (const StorageOp& op : write.ops) {
    switch (op.kind) {
      case StorageOp::Kind::kPut: batch.Put(Slice(op.key), Slice(op.value)); break;
      case StorageOp::Kind::kDelete: batch.Delete(Slice(op.key)); break;
      case StorageOp::Kind::kDeleteRange:
        if (op.value.empty()) {
          // "To the end of the key space": past every raft key.
          batch.DeleteRange(Slice(op.key), Slice("\xff\xff\xff\xff"));
        } else {
          batch.DeleteRange(Slice(op.key), Slice(op.value));
        }
        break;
    }
  }
  // Never synced here, write.sync or not: the host syncs through Sync(), off the loop.
  return ToStatus(db_->Write(rocksdb::WriteOptions(), &batch), "write");
}

absl::Status RocksStorage::Sync() { return ToStatus(db_->SyncWAL(), "sync"); }

}  // namespace muster::io
