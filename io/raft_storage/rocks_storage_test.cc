// RocksStorage: ops and recovery, a single-server Raft running on it across restarts, and
// the crash test: a child process appends through Raft on RocksDB and reports each entry
// it has acknowledged (committed after a synced write) over a pipe; the parent SIGKILLs it
// at random points, then reopens the store: every acknowledged entry must be there, the
// log must be intact (contiguous, terms never decreasing, hard state readable), and the
// next child must continue from it.
#include "io/raft_storage/rocks_storage.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "core/raft/raft.h"
#include "gtest/gtest.h"

namespace muster::io {
namespace {

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/", name, "_", getpid());
  if (std::system(absl::StrCat("rm -rf '", dir, "'").c_str()) != 0) std::abort();
  return dir;
}

TEST(RocksStorage, OpsAndReopen) {
  const std::string dir = TempDir("ops");
  {
    auto st = RocksStorage::Open(dir);
    ASSERT_TRUE(st.ok()) << st.status();
    StorageWrite w;
    w.id = 1;
    w.sync = true;
    w.Put("a/1", "x");
    w.Put("a/2", "y");
    w.Put("a/3", "z");
    w.Put("b", "q");
    ASSERT_TRUE((*st)->Apply(w).ok());
    StorageWrite d;
    d.id = 2;
    d.sync = true;
    d.DeleteRange("a/2", "");
    d.Delete("b");
    ASSERT_TRUE((*st)->Apply(d).ok());
    // Visible before any sync (seam rule 3), durable after one.
    EXPECT_FALSE((*st)->Get("b").has_value());
    ASSERT_TRUE((*st)->Sync().ok());
  }
  auto st = RocksStorage::Open(dir);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)->Get("a/1").value_or(""), "x");
  EXPECT_FALSE((*st)->Get("a/2").has_value());
  EXPECT_FALSE((*st)->Get("b").has_value());
  int n = 0;
  (*st)->Scan("a/", "a0", [&](std::string_view, std::string_view) { return ++n < 100; });
  EXPECT_EQ(n, 1);
}

// Drives one single-server Raft on RocksDB: a batch's writes are applied, then synced once
// if any asked for it, before WriteDurable is reported, so committed entries are durable
// when handed out.
class Host {
 public:
  Host(const std::string& dir, uint64_t seed) {
    auto st = RocksStorage::Open(dir);
    MUSTER_CHECK(st.ok(), st.status().ToString());
    storage_ = std::move(*st);
    raft::RaftOptions o;
    o.id = NodeId{1};
    o.address = "n1";
    const bool fresh = !storage_->Get(raft::kHardStateKey).has_value();
    raft_ = std::make_unique<raft::Raft>(o, storage_.get(), seed, now_, Logger());
    if (fresh) {
      raft::pb::Configuration c;
      auto* s = c.add_servers();
      s->set_id(1);
      s->set_address("n1");
      s->set_voter(true);
      Do([&](raft::Ready* r) { MUSTER_CHECK(raft_->Bootstrap(now_, c, r).ok()); });
    }
    while (raft_->role() != raft::Role::kLeader || !raft_->CommittedOwnTerm()) {
      now_ += absl::Seconds(1);
      Do([&](raft::Ready* r) { raft_->Tick(now_, r); });
    }
  }
  void Propose(std::vector<std::string> data) {
    Do([&](raft::Ready* r) { MUSTER_CHECK(raft_->ProposeBatch(now_, std::move(data), r).ok()); });
  }
  std::function<void(const raft::pb::Entry&)> on_commit;
  raft::Raft& raft() { return *raft_; }

 private:
  void Do(const std::function<void(raft::Ready*)>& fn) {
    raft::Ready r;
    fn(&r);
    Carry(r);
  }
  void Carry(raft::Ready& r) {
    uint64_t durable = 0;
    for (const StorageWrite& w : r.effects.writes) {
      MUSTER_CHECK(storage_->Apply(w).ok());
      if (w.sync) durable = w.id;
    }
    if (durable != 0) MUSTER_CHECK(storage_->Sync().ok());
    for (const raft::pb::Entry* e : r.committed) {
      if (on_commit && e->type() == raft::pb::ENTRY_NORMAL) on_commit(*e);
    }
    if (durable != 0) Do([&](raft::Ready* next) { raft_->WriteDurable(now_, durable, next); });
  }
  std::unique_ptr<RocksStorage> storage_;
  std::unique_ptr<raft::Raft> raft_;
  Time now_ = SimEpoch();
};

TEST(RocksStorage, RaftRecoversItsLogAndTerm) {
  const std::string dir = TempDir("recover");
  uint64_t term = 0, last = 0;
  {
    Host h(dir, 1);
    for (int i = 0; i < 10; ++i) h.Propose({absl::StrCat("k=", i)});
    term = h.raft().term();
    last = h.raft().log().last_index();
    EXPECT_EQ(h.raft().commit(), last);
  }
  Host h(dir, 2);
  EXPECT_GT(h.raft().term(), term) << "a restarted server starts a new term";
  EXPECT_EQ(h.raft().log().At(last).data(), "k=9");
  EXPECT_EQ(h.raft().log().At(last).term(), term);
}

TEST(RocksStorage, SigkillNeverLosesAnAcknowledgedEntry) {
  const std::string dir = TempDir("crash");
  std::map<uint64_t, std::string> acked;
  Rng rng(20261126);
  const int kills = 12;
  int rounds_with_acks = 0;
  for (int round = 0; round < kills; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const uint64_t child_seed = rng.Next();
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      FILE* out = fdopen(fds[1], "w");
      setvbuf(out, nullptr, _IONBF, 0);
      Host h(dir, child_seed);
      std::fprintf(out, "ready\n");  // recovered and leading: the kill clock starts now
      h.on_commit = [&](const raft::pb::Entry& e) {
        std::fprintf(out, "%llu %s\n", static_cast<unsigned long long>(e.index()), e.data().c_str());
      };
      Rng r(child_seed);
      for (uint64_t n = 0;; ++n) {
        std::vector<std::string> batch;
        const uint64_t size = 1 + r.Uniform(8);
        for (uint64_t i = 0; i < size; ++i) batch.push_back(absl::StrCat("r", round, "-", n, "-", i, "=", std::string(r.Uniform(200), 'v')));
        h.Propose(std::move(batch));
      }
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    char line[512];
    ASSERT_NE(std::fgets(line, sizeof line, in), nullptr) << "child died before it was ready";
    ASSERT_EQ(std::string(line), "ready\n");
    usleep(static_cast<useconds_t>(rng.UniformInRange(20'000, 250'000)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child ended on its own: status " << status;
    // Acknowledgements written before the kill are still in the pipe.
    size_t this_round = 0;
    while (std::fgets(line, sizeof line, in) != nullptr) {
      std::string s(line);
      if (s.empty() || s.back() != '\n') break;  // a torn last line was never a full ack
      s.pop_back();
      const size_t sp = s.find(' ');
      acked[std::stoull(s.substr(0, sp))] = s.substr(sp + 1);
      ++this_round;
    }
    fclose(in);
    rounds_with_acks += this_round > 0 ? 1 : 0;

    auto st = RocksStorage::Open(dir);
    ASSERT_TRUE(st.ok()) << st.status();
    raft::RaftLog log;
    log.Recover(st->get());
    ASSERT_TRUE((*st)->Get(raft::kHardStateKey).has_value());
    for (const auto& [index, data] : acked) {
      ASSERT_LE(index, log.last_index()) << "acknowledged entry " << index << " lost after kill " << round;
      ASSERT_EQ(log.At(index).data(), data) << "entry " << index << " changed";
    }
    // Intact: recovery reads every stored entry (no gap, no term going back).
    uint64_t stored = 0;
    (*st)->Scan(raft::kLogPrefix, "raft/l0", [&](std::string_view, std::string_view) { return ++stored > 0; });
    EXPECT_EQ(stored, log.last_index() - log.snapshot_index()) << "entries beyond a gap or a term regression";
  }
  EXPECT_GT(acked.size(), 100u);
  // A slow machine (sanitizers, load) may kill a child before its first sync; most rounds
  // must still acknowledge something, or the test would prove nothing.
  EXPECT_GE(rounds_with_acks, kills / 2);
}

}  // namespace
}  // namespace muster::io
