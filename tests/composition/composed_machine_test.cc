// Raft, serf and a persisting chatter composed in one machine (composed_machine.h), run under
// the simulator with sync latency, crashes that lose unsynced writes, and restarts.
#include "tests/composition/composed_machine.h"

#include <cstdio>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/raft/test_cluster.h"
#include "gtest/gtest.h"
#include "sim/simulator.h"

namespace muster::composition_test {
namespace {

constexpr int kNodes = 3;

struct Cluster {
  explicit Cluster(uint64_t seed) : sim(seed) {
    sim::DiskConfig disk;
    disk.sync_latency_max = absl::Milliseconds(10);
    sim.set_disk_config(disk);
    sim.set_step_observer([this](NodeId id, const Input&, const Effects& fx) {
      // Per-node invariants of both protocol components after every step.
      if (ComposedMachine* m = M(id)) {
        const raft::Raft& r = m->raft().raft();
        absl::Status s = r.CheckInvariants();
        EXPECT_TRUE(s.ok()) << "n" << id.value << ": " << s;
        if (auto it = raft_state.find(id.value); it != raft_state.end() && it->second.first == &r) {
          absl::Status t = raft::Raft::CheckTransition(it->second.second, r.InvariantState());
          EXPECT_TRUE(t.ok()) << "n" << id.value << ": " << t;
        }
        raft_state[id.value] = {&r, r.InvariantState()};
        absl::Status g = m->serf().serf().memberlist().CheckInvariants();
        EXPECT_TRUE(g.ok()) << "n" << id.value << ": " << g;
      }
      // One increasing write-id sequence per life of the machine (the executor CHECKs it
      // too); count the writes per life to show both writers were merged.
      for (const StorageWrite& w : fx.writes) {
        EXPECT_GT(w.id, last_write[id.value]) << "n" << id.value;
        last_write[id.value] = w.id;
        for (const StorageOp& op : w.ops) {
          (op.key.rfind("raft/", 0) == 0 ? raft_writes : chatter_writes)++;
        }
      }
    });
    for (int i = 1; i <= kNodes; ++i) {
      ComposedOptions o;
      o.raft.bootstrap = raft::VotersConfiguration(kNodes);
      o.raft.raft.channel = Channel::kStream;
      if (i > 1) o.serf_seeds = {"n1"};
      for (int j = 1; j <= kNodes; ++j) o.chatter.peers.push_back(absl::StrCat("n", j));
      o.chatter.period = absl::Milliseconds(20);
      o.chatter.channel = Channel::kDatagram;
      ids.push_back(sim.AddNode(ComposedMachine::Factory(o)));
    }
  }
  ComposedMachine* M(NodeId id) { return static_cast<ComposedMachine*>(sim.machine(id)); }
  NodeId Leader() {
    for (NodeId id : ids) {
      if (M(id) != nullptr && M(id)->raft().raft().role() == raft::Role::kLeader &&
          M(id)->raft().raft().CommittedOwnTerm()) {
        return id;
      }
    }
    return NodeId{};
  }
  bool AllAlive() {
    for (NodeId id : ids) {
      if (M(id) == nullptr) return false;
      int alive = 0;
      for (const auto& [name, m] : M(id)->serf().serf().members()) alive += m.status == gossip::MemberStatus::kAlive;
      if (alive != kNodes) return false;
    }
    return true;
  }
  // A put through the leader; true once acknowledged.
  bool Put(const std::string& body) {
    if (!sim.RunUntil([&] { return Leader().valid(); }, absl::Seconds(10))) return false;
    bool acked = false;
    sim.Request(Leader(), "raft.put", body, [&](const Response& r) { acked = r.status.ok(); });
    sim.RunUntil([&] { return acked; }, absl::Seconds(5));
    return acked;
  }
  // The highest chatter counter `from` sent that any peer received.
  uint64_t ReceivedFrom(NodeId from) {
    uint64_t seq = 0;
    for (NodeId id : ids) {
      if (id == from || M(id) == nullptr) continue;
      for (const auto& r : M(id)->chatter().received()) {
        if (r.from == sim.AddressOf(from)) seq = std::max(seq, r.seq);
      }
    }
    return seq;
  }

  sim::Simulator sim;
  std::vector<NodeId> ids;
  std::map<uint64_t, uint64_t> last_write;
  std::map<uint64_t, std::pair<const raft::Raft*, raft::RaftInvariantState>> raft_state;  // per life
  uint64_t raft_writes = 0, chatter_writes = 0;
};

TEST(ComposedMachine, RaftCommitsSerfConvergesAndTheChatterIsGatedOnItsOwnWrites) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Cluster run(seed);
    ASSERT_TRUE(run.Put("a=1"));
    ASSERT_TRUE(run.sim.RunUntil([&] { return run.AllAlive(); }, absl::Seconds(10)));
    EXPECT_GT(run.raft_writes, 0u);
    EXPECT_GT(run.chatter_writes, 0u);
    // Crash a node while its writes are in flight (the torn kind), restart it: whatever the
    // peers heard from its chatter was durable before it left, so the node recovers at least
    // that counter; raft on it recovers and the cluster commits again; serf re-converges.
    for (int round = 0; round < 3; ++round) {
      NodeId victim = run.ids[(seed + round) % kNodes];
      run.sim.RunFor(absl::Milliseconds(37 + 11 * round));
      const uint64_t heard = run.ReceivedFrom(victim);
      run.sim.Kill(victim, /*torn_write=*/true);
      run.sim.RunFor(absl::Milliseconds(300));
      run.last_write.erase(victim.value);  // a new life numbers from 1 again
      run.raft_state.erase(victim.value);  // and its Raft may sit at the old one's address
      run.sim.Restart(victim);
      EXPECT_GE(run.M(victim)->chatter().recovered_seq(), heard);
      EXPECT_GT(heard, 0u);
      ASSERT_TRUE(run.Put(absl::StrCat("b=", round)));
    }
    ASSERT_TRUE(run.sim.RunUntil([&] { return run.AllAlive(); }, absl::Seconds(30)));
    // Every machine's writes were acknowledged back to their writers: nothing in flight
    // once the disks are idle.
    run.sim.RunFor(absl::Milliseconds(100));
    for (NodeId id : run.ids) EXPECT_LE(run.M(id)->composition().writes_in_flight(), 8u);
    std::printf("seed %llu: t=%s events=%llu raft_writes=%llu chatter_writes=%llu\n", (unsigned long long)seed,
                absl::FormatDuration(run.sim.now() - SimEpoch()).c_str(), (unsigned long long)run.sim.events_processed(),
                (unsigned long long)run.raft_writes, (unsigned long long)run.chatter_writes);
  }
}

TEST(ComposedMachine, AProcessExitIsRoutedToTheComponentThatStartedIt) {
  Cluster run(5);
  run.sim.set_process_runner([](NodeId, const ProcessStart& p) {
    ProcessExitedInput r;
    r.exit_code = p.command == "fail" ? 3 : 0;
    r.output = p.command;
    return r;
  });
  std::string body;
  run.sim.Request(run.ids[0], "chatter.exec", "fail", [&](const Response& r) { body = r.body; });
  run.sim.RunFor(absl::Milliseconds(50));
  // The chatter answers with its own process id as the request id; Composition renumbered
  // it on the way out and back.
  EXPECT_EQ(body, "exit=3 fail");
}

TEST(ComposedMachine, UnknownMethodsAndUntaggedMessagesAreRefused) {
  Cluster run(6);
  absl::Status status;
  run.sim.Request(run.ids[0], "nobody.put", "x", [&](const Response& r) { status = r.status; });
  run.sim.RunFor(absl::Milliseconds(1));
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
}

TEST(ComposedMachine, SameSeedSameRun) {
  auto fingerprint = [](uint64_t seed) {
    Cluster run(seed);
    run.Put("a=1");
    run.sim.RunFor(absl::Seconds(3));
    return run.sim.fingerprint();
  };
  EXPECT_EQ(fingerprint(3), fingerprint(3));
  EXPECT_NE(fingerprint(3), fingerprint(4));
}

}  // namespace
}  // namespace muster::composition_test
