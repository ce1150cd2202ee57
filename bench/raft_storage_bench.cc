// Raft's log on RocksDB: appends per second, each synced on its own (each write one batch of
// entries plus the hard state, as core/raft emits them, then the store's Sync: a WAL
// fsync), against the disk's raw fsync rate measured in the same run (a 4 KiB write +
// fdatasync). Run from a directory on the disk under test (default: $TMPDIR or /tmp).
// Group commit through the host (many writes per sync) is io/host_bench; figures of both
// in bench/raft_storage_bench_results.md.
//   bazel run -c opt //bench:raft_storage_bench
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/base/check.h"
#include "core/raft/log.h"
#include "io/raft_storage/rocks_storage.h"

namespace muster::io {
namespace {

std::string Dir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/muster_raft_bench_", name, "_", getpid());
  MUSTER_CHECK(std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) == 0);
  return dir;
}

void BM_FsyncRate(benchmark::State& state) {
  const std::string dir = Dir("fsync");
  MUSTER_CHECK(std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()) == 0);
  const int fd = open((dir + "/f").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  MUSTER_CHECK(fd >= 0);
  const std::string block(4096, 'x');
  for (auto _ : state) {
    MUSTER_CHECK(write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size()));
    MUSTER_CHECK(fdatasync(fd) == 0);
  }
  close(fd);
  state.counters["fsyncs/s"] = benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_FsyncRate)->UseRealTime();

void BM_RocksAppend(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const int per_write = state.range(1);
  const int entry_bytes = state.range(2);
  auto st = RocksStorage::Open(Dir("rocks"));
  MUSTER_CHECK(st.ok());
  raft::RaftLog log;
  uint64_t id = 0;
  uint64_t entries = 0;
  raft::pb::HardState hs;
  hs.set_term(1);
  for (auto _ : state) {
    StorageWrite w;
    w.id = ++id;
    w.sync = sync;
    for (int i = 0; i < per_write; ++i) {
      raft::pb::Entry e;
      e.set_term(1);
      e.set_index(log.last_index() + 1);
      e.set_data(std::string(entry_bytes, 'x'));
      log.Append(std::move(e), &w);
    }
    hs.set_commit(log.last_index());
    w.Put(std::string(raft::kHardStateKey), hs.SerializeAsString());
    MUSTER_CHECK((*st)->Apply(w).ok());
    if (sync) MUSTER_CHECK((*st)->Sync().ok());  // one write, one sync: no group commit
    entries += per_write;
    if (log.last_index() - log.snapshot_index() > 100'000) {
      raft::pb::SnapshotMeta meta;
      meta.set_index(log.last_index());
      meta.set_term(1);
      StorageWrite c;
      c.id = ++id;
      log.Compact(meta, "", &c);
      MUSTER_CHECK((*st)->Apply(c).ok());
    }
  }
  state.SetItemsProcessed(entries);
  state.SetBytesProcessed(entries * entry_bytes);
  state.counters["writes/s"] = benchmark::Counter(state.iterations(), benchmark::Counter::kIsRate);
  state.counters["entries/s"] = benchmark::Counter(entries, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RocksAppend)
    ->ArgNames({"sync", "entries_per_write", "entry_bytes"})
    ->Args({1, 1, 64})
    ->Args({1, 64, 64})
    ->Args({1, 256, 1024})
    ->Args({0, 64, 64})
    ->UseRealTime();

}  // namespace
}  // namespace muster::io

BENCHMARK_MAIN();
