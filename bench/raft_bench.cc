// Raft's CPU cost: three in-process nodes with messages handed straight across and every
// write acknowledged as durable at once (no I/O), so what is measured is the protocol —
// append, encode, decode, match, commit — for 64 B, 1 KiB and 16 KiB entries, with the
// leader proposing a batch per step. One core, one thread.
//   bazel run -c opt //bench:raft_bench
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/base/check.h"
#include "core/raft/kv_machine.h"
#include "core/raft/raft.h"
#include "sim/simulator.h"

namespace muster::raft {
namespace {

class Cluster {
 public:
  explicit Cluster(int n) {
    pb::Configuration config;
    for (int i = 1; i <= n; ++i) {
      auto* s = config.add_servers();
      s->set_id(i);
      s->set_address(std::string(1, static_cast<char>('0' + i)));
      s->set_voter(true);
    }
    for (int i = 1; i <= n; ++i) {
      RaftOptions o;
      o.id = NodeId{static_cast<uint64_t>(i)};
      o.address = std::string(1, static_cast<char>('0' + i));
      o.msg_bytes_max = 4 << 20;
      nodes_.push_back(std::make_unique<Raft>(o, nullptr, i, now_, Logger()));
      Do(i, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.Bootstrap(now_, config, out).ok()); });
    }
    Do(1, [&](Raft& r, Ready* out) { r.Campaign(now_, out); });
    Pump();
    MUSTER_CHECK(nodes_[0]->role() == Role::kLeader);
  }

  // Proposes `batch` and runs the cluster until the leader committed it.
  void ProposeAndCommit(std::vector<std::string> batch) {
    const uint64_t target = nodes_[0]->log().last_index() + batch.size();
    Do(1, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.ProposeBatch(now_, std::move(batch), out).ok()); });
    Pump();
    MUSTER_CHECK(nodes_[0]->commit() >= target);
    if (nodes_[0]->log().last_index() - nodes_[0]->log().snapshot_index() > 50'000) Compact();
  }
  uint64_t committed() const { return committed_; }

 private:
  void Do(int id, const std::function<void(Raft&, Ready*)>& fn) {
    Ready r;
    fn(*nodes_[id - 1], &r);
    Carry(id, r);
  }
  void Carry(int id, Ready& r) {
    uint64_t durable = 0;
    for (const StorageWrite& w : r.effects.writes) {
      if (w.sync) durable = w.id;
    }
    for (OutboundMessage& m : r.effects.messages) queue_.push_back({m.to[0] - '0', std::move(m.payload)});
    if (id == 1) committed_ += r.committed.size();
    if (durable != 0) Do(id, [&](Raft& raft, Ready* out) { raft.WriteDurable(now_, durable, out); });
  }
  void Pump() {
    while (!queue_.empty()) {
      auto [to, payload] = std::move(queue_.front());
      queue_.pop_front();
      Do(to, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.Receive(now_, payload, out).ok()); });
    }
  }
  void Compact() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Do(i + 1, [&](Raft& r, Ready* out) { r.Compact(now_, r.applied(), "", out).IgnoreError(); });
    }
  }

  Time now_ = SimEpoch();
  std::vector<std::unique_ptr<Raft>> nodes_;
  std::deque<std::pair<int, std::string>> queue_;
  uint64_t committed_ = 0;
};

void BM_Replicate3(benchmark::State& state) {
  const size_t entry_bytes = state.range(0);
  const size_t batch = state.range(1);
  Cluster c(3);
  const std::string payload(entry_bytes, 'x');
  uint64_t entries = 0;
  for (auto _ : state) {
    c.ProposeAndCommit(std::vector<std::string>(batch, payload));
    entries += batch;
  }
  state.SetItemsProcessed(entries);
  state.SetBytesProcessed(entries * entry_bytes);
  state.counters["entries/s"] = benchmark::Counter(entries, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Replicate3)
    ->ArgNames({"entry_bytes", "batch"})
    ->Args({64, 1})
    ->Args({64, 64})
    ->Args({64, 1024})
    ->Args({1024, 64})
    ->Args({1024, 256})
    ->Args({16384, 16})
    ->Args({16384, 64});

// The same three servers as KvMachines inside the simulator (virtual network with 50 us
// links, virtual disk syncing in 50-100 us): the whole host path per put — request,
// propose, simulated send and sync, apply, response — with `window` puts outstanding.
void BM_SimKv3(benchmark::State& state) {
  const size_t entry_bytes = state.range(0);
  const int window = state.range(1);
  sim::Simulator s(1);
  sim::LinkConfig link;
  link.latency_min = absl::Microseconds(50);
  link.latency_jitter_mean = absl::ZeroDuration();
  s.network().SetDefaultLink(link);
  s.set_disk_config({absl::Microseconds(50), absl::Microseconds(100)});
  KvMachineOptions opts;
  opts.snapshot_every = 20'000;
  for (int i = 1; i <= 3; ++i) {
    auto* srv = opts.bootstrap.add_servers();
    srv->set_id(i);
    srv->set_address("n" + std::to_string(i));
    srv->set_voter(true);
  }
  for (int i = 0; i < 3; ++i) s.AddNode(KvMachineFactory(opts));
  NodeId leader;
  s.RunUntil(
      [&] {
        for (NodeId n : s.nodes()) {
          auto* m = dynamic_cast<KvMachine*>(s.machine(n));
          if (m->raft().role() == Role::kLeader && m->raft().CommittedOwnTerm()) leader = n;
        }
        return leader.valid();
      },
      absl::Seconds(10));
  MUSTER_CHECK(leader.valid());
  const std::string value(entry_bytes, 'x');
  uint64_t acked = 0, sent = 0, seq = 0;
  std::function<void()> issue = [&] {
    ++sent;
    s.Request(leader, "put", "k" + std::to_string(seq++ % 64) + "=" + value, [&](const Response& r) {
      MUSTER_CHECK(r.status.ok(), r.status.ToString());
      ++acked;
    });
  };
  for (auto _ : state) {
    const uint64_t target = acked + window;
    while (sent < target) issue();
    while (acked < target) MUSTER_CHECK(s.Step());
  }
  state.SetItemsProcessed(acked);
  state.SetBytesProcessed(acked * entry_bytes);
  state.counters["puts/s"] = benchmark::Counter(acked, benchmark::Counter::kIsRate);
}

BENCHMARK(BM_SimKv3)
    ->ArgNames({"entry_bytes", "window"})
    ->Args({64, 256})
    ->Args({1024, 256})
    ->Args({16384, 64});

}  // namespace
}  // namespace muster::raft

BENCHMARK_MAIN();
