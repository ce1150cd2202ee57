// State store benchmarks: applied KV sets and service registrations per second (through the
// FSM, from serialized log entries), memory for 100,000 keys and for 10,000 services with 3
// checks each (heap growth measured with glibc's mallinfo2), and the cost of waking 10,000
// parked blocking queries.
//
//   bazel run -c opt //bench:state_bench
#include <malloc.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "core/base/hash.h"
#include "core/state/fsm.h"

namespace muster::state {
namespace {

using proto::state::KVRequest;

Time Now() { return SimEpoch(); }

std::string KeyName(int i) { return absl::StrCat("service/config/app-", i % 1000, "/key-", i); }

KVEntry Entry(int i) {
  KVEntry e;
  e.key = KeyName(i);
  e.value = std::string(64, 'v');
  return e;
}

RegisterRequest Registration(int i) {
  RegisterRequest r;
  r.node.name = absl::StrCat("node-", i);
  r.node.address = absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255);
  r.node.datacenter = "dc1";
  Service s;
  s.name = absl::StrCat("svc-", i % 100);
  s.id = absl::StrCat(s.name, "-", i);
  s.tags = {"v1", "prod"};
  s.port = 8080;
  r.service = s;
  for (int c = 0; c < 3; ++c) {
    Check check;
    check.check_id = c == 0 ? "serfHealth" : absl::StrCat("check-", c);
    check.name = check.check_id;
    check.status = HealthStatus::kPassing;
    if (c != 0) check.service_id = s.id;
    r.checks.push_back(check);
  }
  return r;
}

size_t HeapInUse() { return mallinfo2().uordblks; }

// Applied KV sets per second: distinct keys, cycling over 100,000.
void BM_KVSetApply(benchmark::State& state) {
  std::vector<std::string> cmds;
  for (int i = 0; i < 100'000; ++i) cmds.push_back(commands::KV(Now(), KVRequest::SET, Entry(i)).SerializeAsString());
  Fsm fsm;
  uint64_t index = 0;
  for (auto _ : state) {
    ++index;
    ApplyResult r = fsm.Apply(index, cmds[index % cmds.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KVSetApply);

// Applied catalog registrations per second: a node, a service and 3 checks each.
void BM_ServiceRegisterApply(benchmark::State& state) {
  std::vector<std::string> cmds;
  for (int i = 0; i < 10'000; ++i) cmds.push_back(commands::Register(Now(), Registration(i)).SerializeAsString());
  auto fsm = std::make_unique<Fsm>();
  uint64_t index = 0;
  size_t next = 0;
  for (auto _ : state) {
    if (next == cmds.size()) {  // every registration new: start over on a fresh store
      state.PauseTiming();
      fsm = std::make_unique<Fsm>();
      next = 0;
      index = 0;
      state.ResumeTiming();
    }
    ApplyResult r = fsm->Apply(++index, cmds[next++]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ServiceRegisterApply);

void BM_Memory100kKeys(benchmark::State& state) {
  for (auto _ : state) {
    const size_t before = HeapInUse();
    auto store = std::make_unique<Store>();
    for (int i = 0; i < 100'000; ++i) {
      benchmark::DoNotOptimize(store->KVSet(i + 1, Entry(i)));
      store->TakeChanges();  // as the FSM does after every apply
    }
    const size_t after = HeapInUse();
    state.counters["heap_MiB"] = static_cast<double>(after - before) / (1 << 20);
    state.counters["bytes_per_key"] = static_cast<double>(after - before) / 100'000;
    state.counters["payload_bytes_per_key"] = static_cast<double>(KeyName(50'000).size() + 64);
  }
}
BENCHMARK(BM_Memory100kKeys)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Memory10kServices3Checks(benchmark::State& state) {
  for (auto _ : state) {
    const size_t before = HeapInUse();
    auto store = std::make_unique<Store>();
    for (int i = 0; i < 10'000; ++i) {
      absl::Status s = store->Register(i + 1, Now(), Registration(i));
      benchmark::DoNotOptimize(s);
      store->TakeChanges();
    }
    const size_t after = HeapInUse();
    state.counters["heap_MiB"] = static_cast<double>(after - before) / (1 << 20);
    state.counters["bytes_per_instance"] = static_cast<double>(after - before) / 10'000;
  }
}
BENCHMARK(BM_Memory10kServices3Checks)->Iterations(1)->Unit(benchmark::kMillisecond);

// Snapshot, content hash and restore of a store with 100,000 keys (what a Raft snapshot
// costs, and what the simulator pays to compare servers).
Store& Store100k() {
  static Store* store = [] {
    auto* s = new Store();
    for (int i = 0; i < 100'000; ++i) benchmark::DoNotOptimize(s->KVSet(i + 1, Entry(i)));
    s->TakeChanges();
    return s;
  }();
  return *store;
}

void BM_Snapshot100kKeys(benchmark::State& state) {
  const Store& store = Store100k();
  size_t bytes = 0;
  for (auto _ : state) bytes = store.Snapshot().size();
  state.counters["snapshot_MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_Snapshot100kKeys)->Unit(benchmark::kMillisecond);

void BM_ContentHash100kKeys(benchmark::State& state) {
  const Store& store = Store100k();
  for (auto _ : state) benchmark::DoNotOptimize(store.ContentHash());
}
BENCHMARK(BM_ContentHash100kKeys)->Unit(benchmark::kMillisecond);

void BM_Restore100kKeys(benchmark::State& state) {
  const std::string snap = Store100k().Snapshot();
  for (auto _ : state) {
    Store restored;
    if (!restored.Restore(snap).ok()) state.SkipWithError("restore failed");
  }
}
BENCHMARK(BM_Restore100kKeys)->Unit(benchmark::kMillisecond);

// One KV write that wakes 10,000 queries blocked on its prefix: the apply plus Notify.
void BM_Wake10kWatchersOnePrefix(benchmark::State& state) {
  Fsm fsm;
  uint64_t index = 0;
  const std::string cmd = commands::KV(Now(), KVRequest::SET, Entry(7)).SerializeAsString();
  for (auto _ : state) {
    state.PauseTiming();
    for (uint64_t id = 0; id < 10'000; ++id) fsm.watches().Add(id, {WatchTopic::KVPrefix("service/config/")});
    state.ResumeTiming();
    ApplyResult r = fsm.Apply(++index, cmd);
    if (r.woken.size() != 10'000) state.SkipWithError("not all watchers woke");
  }
  state.SetItemsProcessed(state.iterations() * 10'000);
}
BENCHMARK(BM_Wake10kWatchersOnePrefix)->Unit(benchmark::kMicrosecond);

// 10,000 queries parked on 10,000 different keys; one write wakes one.
void BM_Apply10kParkedDistinctKeysWakeOne(benchmark::State& state) {
  auto KeyName = [](int i) { return absl::StrCat("locks/", i, "/"); };  // none a prefix of another
  auto Entry = [&](int i) {
    KVEntry e;
    e.key = KeyName(i);
    return e;
  };
  Fsm fsm;
  uint64_t id = 0;
  for (int i = 0; i < 10'000; ++i) {
    fsm.watches().Add(++id, {WatchTopic::KVPrefix(KeyName(i))});
  }
  uint64_t index = 0;
  int next = 0;
  for (auto _ : state) {
    ApplyResult r = fsm.Apply(++index, commands::KV(Now(), KVRequest::SET, Entry(next)).SerializeAsString());
    if (r.woken.size() != 1) state.SkipWithError("expected one wake-up");
    fsm.watches().Add(++id, {WatchTopic::KVPrefix(KeyName(next))});  // re-park, as a host would
    next = (next + 1) % 10'000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Apply10kParkedDistinctKeysWakeOne);

}  // namespace
}  // namespace muster::state
