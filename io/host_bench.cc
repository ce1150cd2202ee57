// Group commit through the host: N issuers each keep one synced write in flight (a request
// that the machine answers once its write is durable, as a raft leader acknowledges a put),
// on RocksDB in a directory on the disk under test. Reports writes per second, writes per
// sync (how many writes one fsync carried) and each write's latency, p50 and p99. One
// issuer shows the floor (a write waits for at most one sync in progress plus its own); 64
// show how far sharing a sync carries. Compare with raft_storage_bench's BM_FsyncRate and
// BM_RocksAppend/sync:1/entries_per_write:1 (one sync per write, on the calling thread).
//   bazel run -c opt //io:host_bench   (TMPDIR picks the disk; default /tmp)
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/base/check.h"
#include "io/host.h"
#include "io/raft_storage/rocks_storage.h"

namespace muster::io {
namespace {

std::string Dir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/muster_host_bench_", name, "_", getpid());
  MUSTER_CHECK(std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) == 0);
  return dir;
}

// Each "put" is one sync write shaped like a raft append of one entry (the entry under its
// index, and the hard state), answered once durable.
class AppendMachine final : public Machine {
 public:
  void Step(const Input& input, Effects* out) override {
    const auto* r = std::get_if<RequestInput>(&input.what);
    if (r == nullptr) return;
    StorageWrite w;
    w.id = next_write_id_++;
    w.sync = true;
    w.Put(absl::StrCat("raft/l/", absl::Dec(w.id, absl::kZeroPad20)), r->body);
    w.Put("raft/hard", absl::StrCat("commit=", w.id));
    out->responses.push_back({r->request_id, absl::OkStatus(), "", w.id});
    out->writes.push_back(std::move(w));
  }

 private:
  uint64_t next_write_id_ = 1;
};

void BM_HostGroupCommit(benchmark::State& state) {
  const int issuers = static_cast<int>(state.range(0));
  const std::string entry(static_cast<size_t>(state.range(1)), 'x');
  const std::string dir = Dir("rocks");
  auto store = RocksStorage::Open(dir);
  MUSTER_CHECK(store.ok(), store.status().ToString());
  uv_loop_t loop;
  uv_loop_init(&loop);
  Host host(&loop, {NodeId{1}, "", "", 1, nullptr, store->get()},
            [](const MachineContext&) { return std::make_unique<AppendMachine>(); });
  MUSTER_CHECK(host.Start().ok());

  uint64_t completed = 0;
  bool issuing = true;
  std::vector<double> latencies_us;
  latencies_us.reserve(1 << 20);
  std::function<void()> issue = [&] {
    const absl::Time sent = absl::Now();
    host.Request("put", entry, [&, sent](const Response& r) {
      if (!r.status.ok()) {
        MUSTER_CHECK(!issuing, r.status.ToString());  // the writes in flight at Stop()
        return;
      }
      ++completed;
      latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - sent));
      if (issuing) issue();
    });
  };
  for (int i = 0; i < issuers; ++i) issue();

  const Host::SyncStats before = host.sync_stats();
  const size_t latencies_before = latencies_us.size();
  uint64_t target = completed + 1;
  for (auto _ : state) {
    while (completed < target) uv_run(&loop, UV_RUN_ONCE);
    ++target;
  }
  const Host::SyncStats after = host.sync_stats();
  issuing = false;

  std::vector<double> measured(latencies_us.begin() + static_cast<std::ptrdiff_t>(latencies_before),
                               latencies_us.end());
  std::sort(measured.begin(), measured.end());
  auto percentile = [&](double p) {
    return measured.empty() ? 0.0 : measured[std::min(measured.size() - 1, static_cast<size_t>(p * measured.size()))];
  };
  const uint64_t syncs = after.syncs - before.syncs;
  state.counters["writes/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["syncs/s"] = benchmark::Counter(static_cast<double>(syncs), benchmark::Counter::kIsRate);
  state.counters["writes/sync"] =
      syncs == 0 ? 0.0 : static_cast<double>(after.sync_writes - before.sync_writes) / static_cast<double>(syncs);
  state.counters["p50_us"] = percentile(0.50);
  state.counters["p99_us"] = percentile(0.99);

  bool stopped = false;
  host.Stop([&] { stopped = true; });
  while (!stopped) uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_NOWAIT);
  MUSTER_CHECK(uv_loop_close(&loop) == 0, "a handle leaked");
  store->reset();
  MUSTER_CHECK(std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) == 0);
}
BENCHMARK(BM_HostGroupCommit)
    ->ArgNames({"issuers", "entry_bytes"})
    ->Args({1, 64})
    ->Args({8, 64})
    ->Args({64, 64})
    ->Args({64, 1024})
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace muster::io

BENCHMARK_MAIN();
