#include "io/raft_storage/rocks_storage.h"

#include "absl/strings/str_cat.h"
#include "core/base/check.h"
#include "io/raft_storage/rocksdb_library.h"

namespace muster::io {
namespace {

// The C API's error out-parameter: null, or a message (Status::ToString) to free with
// rocksdb_free. Turned into a status and freed.
absl::Status TakeError(const RocksDbLibrary& rocksdb, char* error, std::string_view what) {
  if (error == nullptr) return absl::OkStatus();
  absl::Status s = absl::InternalError(absl::StrCat("rocksdb ", std::string(what), ": ", error));
  rocksdb.free(error);
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksStorage>> RocksStorage::Open(const std::string& dir) {
  absl::StatusOr<const RocksDbLibrary*> rocksdb = OpenRocksDbLibrary();
  if (!rocksdb.ok()) return rocksdb.status();
  const RocksDbLibrary& r = **rocksdb;
  rocksdb_options_t* options = r.options_create();
  r.options_set_create_if_missing(options, 1);
  // The raft log is written sequentially and read on start: small memtables suffice, and
  // WAL recovery must stop at the first corrupt record (a torn tail) rather than fail.
  r.options_set_wal_recovery_mode(options, rocksdb_point_in_time_recovery);
  r.options_set_write_buffer_size(options, 16 << 20);
  char* error = nullptr;
  rocksdb_t* db = r.open(options, dir.c_str(), &error);
  r.options_destroy(options);
  if (absl::Status s = TakeError(r, error, "open"); !s.ok()) return s;
  MUSTER_CHECK(db != nullptr, "rocksdb_open gave neither a database nor an error");
  return std::unique_ptr<RocksStorage>(new RocksStorage(&r, db));
}

RocksStorage::RocksStorage(const RocksDbLibrary* rocksdb, rocksdb_t* db)
    : rocksdb_(rocksdb),
      db_(db),
      read_options_(rocksdb->readoptions_create()),
      write_options_(rocksdb->writeoptions_create()) {}

RocksStorage::~RocksStorage() {
  rocksdb_->readoptions_destroy(read_options_);
  rocksdb_->writeoptions_destroy(write_options_);
  rocksdb_->close(db_);
}

std::optional<std::string> RocksStorage::Get(std::string_view key) const {
  char* error = nullptr;
  size_t size = 0;
  char* value = rocksdb_->get(db_, read_options_, key.data(), key.size(), &size, &error);
  const absl::Status s = TakeError(*rocksdb_, error, "get");
  MUSTER_CHECK(s.ok(), s.message());
  if (value == nullptr) return std::nullopt;  // not found
  std::string out(value, size);
  rocksdb_->free(value);
  return out;
}

void RocksStorage::Scan(std::string_view begin, std::string_view end,
                        const std::function<bool(std::string_view, std::string_view)>& visit) const {
  rocksdb_iterator_t* it = rocksdb_->create_iterator(db_, read_options_);
  for (rocksdb_->iter_seek(it, begin.data(), begin.size()); rocksdb_->iter_valid(it) != 0; rocksdb_->iter_next(it)) {
    size_t key_size = 0;
    const char* key_data = rocksdb_->iter_key(it, &key_size);
    std::string_view key(key_data, key_size);
    if (!end.empty() && key >= end) break;
    size_t value_size = 0;
    const char* value_data = rocksdb_->iter_value(it, &value_size);
    if (!visit(key, std::string_view(value_data, value_size))) break;
  }
  char* error = nullptr;
  rocksdb_->iter_get_error(it, &error);
  rocksdb_->iter_destroy(it);
  const absl::Status s = TakeError(*rocksdb_, error, "scan");
  MUSTER_CHECK(s.ok(), s.message());
}

absl::Status RocksStorage::Apply(const StorageWrite& write) {
  rocksdb_writebatch_t* batch = rocksdb_->writebatch_create();
  for (const StorageOp& op : write.ops) {
    switch (op.kind) {
      case StorageOp::Kind::kPut:
        rocksdb_->writebatch_put(batch, op.key.data(), op.key.size(), op.value.data(), op.value.size());
        break;
      case StorageOp::Kind::kDelete: rocksdb_->writebatch_delete(batch, op.key.data(), op.key.size()); break;
      case StorageOp::Kind::kDeleteRange:
        if (op.value.empty()) {
          // "To the end of the key space": past every raft key.
          constexpr std::string_view kPastEveryKey = "\xff\xff\xff\xff";
          rocksdb_->writebatch_delete_range(batch, op.key.data(), op.key.size(), kPastEveryKey.data(),
                                            kPastEveryKey.size());
        } else {
          rocksdb_->writebatch_delete_range(batch, op.key.data(), op.key.size(), op.value.data(), op.value.size());
        }
        break;
    }
  }
  // Never synced here, write.sync or not: the host syncs through Sync(), off the loop.
  char* error = nullptr;
  rocksdb_->write(db_, write_options_, batch, &error);
  rocksdb_->writebatch_destroy(batch);
  return TakeError(*rocksdb_, error, "write");
}

absl::Status RocksStorage::Sync() {
  char* error = nullptr;
  rocksdb_->flush_wal(db_, /*sync=*/1, &error);
  return TakeError(*rocksdb_, error, "sync");
}

}  // namespace muster::io
