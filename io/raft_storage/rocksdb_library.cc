#include "io/raft_storage/rocksdb_library.h"

#include <dlfcn.h>
#include <rocksdb/version.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace muster::io {
namespace {

#define MUSTER_STRINGIFY_INNER(x) #x
#define MUSTER_STRINGIFY(x) MUSTER_STRINGIFY_INNER(x)
// The soname of the library whose headers we compile against.
constexpr char kRocksDbSoname[] =
    "librocksdb.so." MUSTER_STRINGIFY(ROCKSDB_MAJOR) "." MUSTER_STRINGIFY(ROCKSDB_MINOR);
#undef MUSTER_STRINGIFY
#undef MUSTER_STRINGIFY_INNER

// Sets *field to the library's `symbol`; the first one missing is named in *missing.
template <typename F>
void Resolve(void* handle, const char* symbol, F* field, std::string* missing) {
  *field = reinterpret_cast<F>(dlsym(handle, symbol));
  if (*field == nullptr && missing->empty()) *missing = symbol;
}

absl::StatusOr<const RocksDbLibrary*> Open() {
  // RTLD_LOCAL: RocksDB and its C++ runtime resolve nothing through the binary's symbols,
  // nor the binary through theirs. It stays loaded for the life of the process.
  void* handle = dlopen(kRocksDbSoname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return absl::UnavailableError(absl::StrCat("rocksdb: ", why != nullptr ? why : kRocksDbSoname));
  }
  static RocksDbLibrary lib;
  std::string missing;
  Resolve(handle, "rocksdb_close", &lib.close, &missing);
  Resolve(handle, "rocksdb_create_iterator", &lib.create_iterator, &missing);
  Resolve(handle, "rocksdb_flush_wal", &lib.flush_wal, &missing);
  Resolve(handle, "rocksdb_free", &lib.free, &missing);
  Resolve(handle, "rocksdb_get", &lib.get, &missing);
  Resolve(handle, "rocksdb_iter_destroy", &lib.iter_destroy, &missing);
  Resolve(handle, "rocksdb_iter_get_error", &lib.iter_get_error, &missing);
  Resolve(handle, "rocksdb_iter_key", &lib.iter_key, &missing);
  Resolve(handle, "rocksdb_iter_next", &lib.iter_next, &missing);
  Resolve(handle, "rocksdb_iter_seek", &lib.iter_seek, &missing);
  Resolve(handle, "rocksdb_iter_valid", &lib.iter_valid, &missing);
  Resolve(handle, "rocksdb_iter_value", &lib.iter_value, &missing);
  Resolve(handle, "rocksdb_open", &lib.open, &missing);
  Resolve(handle, "rocksdb_options_create", &lib.options_create, &missing);
  Resolve(handle, "rocksdb_options_destroy", &lib.options_destroy, &missing);
  Resolve(handle, "rocksdb_options_set_create_if_missing", &lib.options_set_create_if_missing, &missing);
  Resolve(handle, "rocksdb_options_set_wal_recovery_mode", &lib.options_set_wal_recovery_mode, &missing);
  Resolve(handle, "rocksdb_options_set_write_buffer_size", &lib.options_set_write_buffer_size, &missing);
  Resolve(handle, "rocksdb_readoptions_create", &lib.readoptions_create, &missing);
  Resolve(handle, "rocksdb_readoptions_destroy", &lib.readoptions_destroy, &missing);
  Resolve(handle, "rocksdb_write", &lib.write, &missing);
  Resolve(handle, "rocksdb_writebatch_create", &lib.writebatch_create, &missing);
  Resolve(handle, "rocksdb_writebatch_delete", &lib.writebatch_delete, &missing);
  Resolve(handle, "rocksdb_writebatch_delete_range", &lib.writebatch_delete_range, &missing);
  Resolve(handle, "rocksdb_writebatch_destroy", &lib.writebatch_destroy, &missing);
  Resolve(handle, "rocksdb_writebatch_put", &lib.writebatch_put, &missing);
  Resolve(handle, "rocksdb_writeoptions_create", &lib.writeoptions_create, &missing);
  Resolve(handle, "rocksdb_writeoptions_destroy", &lib.writeoptions_destroy, &missing);
  if (!missing.empty()) return absl::UnavailableError(absl::StrCat("rocksdb: ", kRocksDbSoname, " has no ", missing));
  return &lib;
}

}  // namespace

absl::StatusOr<const RocksDbLibrary*> OpenRocksDbLibrary() {
  static const absl::StatusOr<const RocksDbLibrary*>* const opened =
      new absl::StatusOr<const RocksDbLibrary*>(Open());
  return *opened;
}

}  // namespace muster::io
