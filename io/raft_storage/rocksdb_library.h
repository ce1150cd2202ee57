// RocksDB as RocksStorage uses it, through RocksDB's C API (rocksdb/c.h) in Debian's shared
// library, opened with dlopen when a server first opens its raft store instead of linked into
// the binary. Linked, RocksDB's hundreds of static initializers (option tables, registries)
// run in every agent at start, clients included, and keep about 2.4 MB resident that a client,
// which never opens RocksDB (io/file_store.h keeps its state), does not need
// (bench/client_agent_bench_results.md). The C API keeps the boundary to plain functions: the
// library brings its own C++ runtime and shares no C++ object with the binary.
#pragma once

#include <rocksdb/c.h>

#include "absl/status/statusor.h"

namespace muster::io {

// The RocksDB C functions RocksStorage calls, each resolved from the loaded library.
struct RocksDbLibrary {
  decltype(&::rocksdb_close) close;
  decltype(&::rocksdb_create_iterator) create_iterator;
  decltype(&::rocksdb_flush_wal) flush_wal;
  decltype(&::rocksdb_free) free;
  decltype(&::rocksdb_get) get;
  decltype(&::rocksdb_iter_destroy) iter_destroy;
  decltype(&::rocksdb_iter_get_error) iter_get_error;
  decltype(&::rocksdb_iter_key) iter_key;
  decltype(&::rocksdb_iter_next) iter_next;
  decltype(&::rocksdb_iter_seek) iter_seek;
  decltype(&::rocksdb_iter_valid) iter_valid;
  decltype(&::rocksdb_iter_value) iter_value;
  decltype(&::rocksdb_open) open;
  decltype(&::rocksdb_options_create) options_create;
  decltype(&::rocksdb_options_destroy) options_destroy;
  decltype(&::rocksdb_options_set_create_if_missing) options_set_create_if_missing;
  decltype(&::rocksdb_options_set_wal_recovery_mode) options_set_wal_recovery_mode;
  decltype(&::rocksdb_options_set_write_buffer_size) options_set_write_buffer_size;
  decltype(&::rocksdb_readoptions_create) readoptions_create;
  decltype(&::rocksdb_readoptions_destroy) readoptions_destroy;
  decltype(&::rocksdb_write) write;
  decltype(&::rocksdb_writebatch_create) writebatch_create;
  decltype(&::rocksdb_writebatch_delete) writebatch_delete;
  decltype(&::rocksdb_writebatch_delete_range) writebatch_delete_range;
  decltype(&::rocksdb_writebatch_destroy) writebatch_destroy;
  decltype(&::rocksdb_writebatch_put) writebatch_put;
  decltype(&::rocksdb_writeoptions_create) writeoptions_create;
  decltype(&::rocksdb_writeoptions_destroy) writeoptions_destroy;
};

// Opens librocksdb.so.MAJOR.MINOR, the version of the headers compiled against (Debian's
// librocksdb7.8), once per process; later calls return the same table or the same error
// (dlopen's message or a missing symbol). Safe to call from any thread.
absl::StatusOr<const RocksDbLibrary*> OpenRocksDbLibrary();

}  // namespace muster::io
