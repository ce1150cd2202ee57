#include "tests/fuzz/targets.h"

#include <cstdio>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "core/base/rng.h"
#include "core/gossip/serf_machine.h"
#include "tests/gossip_sim/sim_cluster.h"
#include "core/raft/kv_machine.h"
#include "core/state/fsm.h"
#include "io/frame.h"
#include "core/seam/envelope.h"
#include "proto/envelope.pb.h"
#include "sim/simulator.h"
#include "tests/fuzz/machine_victim.h"

namespace muster::fuzz {
namespace {

// Corpus entries for machine targets: one byte of channel, then the payload.
std::string Tagged(Channel channel, std::string_view payload) {
  std::string s(1, static_cast<char>(channel));
  s.append(payload.data(), payload.size());
  return s;
}

constexpr size_t kCorpusMax = 3000;

// Reservoir sampling: a fair sample of a whole run's traffic, not only its start.
class Reservoir {
 public:
  explicit Reservoir(uint64_t seed) : rng_(seed) {}
  void Keep(std::string entry) {
    ++seen_;
    if (corpus_.size() < kCorpusMax) {
      corpus_.push_back(std::move(entry));
    } else if (uint64_t j = rng_.Uniform(seen_); j < kCorpusMax) {
      corpus_[j] = std::move(entry);
    }
  }
  std::vector<std::string> Take() { return std::move(corpus_); }

 private:
  Rng rng_;
  uint64_t seen_ = 0;
  std::vector<std::string> corpus_;
};

// ---------------------------------------------------------------- machine targets

class MachineTarget : public FuzzTarget {
 public:
  MachineTarget(std::string name, MachineFactory factory, std::vector<std::string> corpus, uint64_t seed)
      : name_(std::move(name)), factory_(std::move(factory)), corpus_(std::move(corpus)), seed_(seed) {}
  std::string name() const override { return name_; }
  const std::vector<std::string>& corpus() const override { return corpus_; }
  void RunOne(std::string_view input) override {
    if (input.empty()) return;
    const Channel channel = (static_cast<uint8_t>(input[0]) & 1) ? Channel::kStream : Channel::kDatagram;
    // Senders: known members, and strangers.
    static const char* const kFrom[] = {"n2", "n3", "n4", "stranger:9", ""};
    victim_->Deliver(kFrom[static_cast<uint8_t>(input[0]) >> 1 & 3], channel, std::string(input.substr(1)));
  }
  void Reset() override {
    if (victim_ != nullptr) answered_ += victim_->inputs_answered();
    victim_.reset();
    NewLife();
    victim_ = std::make_unique<MachineVictim>(factory_, "n1", seed_++, [this](Machine& m) { AfterStep(m); });
  }
  uint64_t inputs_answered() const override { return answered_ + victim_->inputs_answered(); }

 protected:
  // Per-node invariants after every step of the victim; a broken one aborts (that is the bug).
  virtual void AfterStep(Machine& m) = 0;
  virtual void NewLife() {}

  std::string name_;
  MachineFactory factory_;
  std::vector<std::string> corpus_;
  uint64_t seed_;
  std::unique_ptr<MachineVictim> victim_;
  uint64_t answered_ = 0;
};

class GossipTarget final : public MachineTarget {
 public:
  GossipTarget(std::string name, MachineFactory factory, std::vector<std::string> corpus, uint64_t seed)
      : MachineTarget(std::move(name), std::move(factory), std::move(corpus), seed) {
    Reset();
  }
  void AfterStep(Machine& m) override {
    absl::Status s = static_cast<gossip::SerfMachine&>(m).serf().memberlist().CheckInvariants();
    MUSTER_CHECK(s.ok(), s.message());
  }
  std::string CheckBounds() const override {
    auto& serf = static_cast<gossip::SerfMachine&>(victim_->machine()).serf();
    // Forged alive messages may add members, each bounded in size; a pool of this size from
    // 10,000 inputs would mean counts are not bounded.
    if (serf.members().size() > 20000) return absl::StrCat(serf.members().size(), " members");
    return "";
  }
  std::string Describe() const override {
    auto& serf = static_cast<gossip::SerfMachine&>(victim_->machine()).serf();
    return absl::StrCat(serf.members().size(), " members, member ltime ", serf.member_ltime(), ", event ltime ",
                        serf.event_ltime());
  }
};

class RaftTarget final : public MachineTarget {
 public:
  RaftTarget(std::string name, MachineFactory factory, std::vector<std::string> corpus, uint64_t seed)
      : MachineTarget(std::move(name), std::move(factory), std::move(corpus), seed) {
    Reset();
  }
  void AfterStep(Machine& m) override {
    const raft::Raft& r = static_cast<raft::KvMachine&>(m).raft();
    absl::Status s = r.CheckInvariants();
    MUSTER_CHECK(s.ok(), s.message());
    const raft::RaftInvariantState state = r.InvariantState();
    if (stepped_) {
      s = raft::Raft::CheckTransition(last_, state);
      MUSTER_CHECK(s.ok(), s.message());
    }
    stepped_ = true;
    last_ = state;
  }
  void NewLife() override { stepped_ = false; }
  std::string CheckBounds() const override {
    const auto& kv = static_cast<raft::KvMachine&>(victim_->machine());
    raft::Status s = kv.raft().GetStatus();
    if (s.heartbeat_rounds_kept > raft::kHeartbeatRoundsKeptMax) return "heartbeat rounds";
    return "";
  }
  std::string Describe() const override {
    const auto& kv = static_cast<raft::KvMachine&>(victim_->machine());
    raft::Status s = kv.raft().GetStatus();
    return absl::StrCat("term ", s.term, ", log ", s.first_index, "..", s.last_index, ", commit ", s.commit);
  }

 private:
  bool stepped_ = false;  // of the current victim
  raft::RaftInvariantState last_;
};

std::vector<std::string> CaptureGossipTraffic(uint64_t seed) {
  Reservoir corpus(seed);
  gossip::testing::ClusterOptions o;
  o.nodes = 6;
  o.link.loss = 0.05;
  o.on_send = [&](NodeId, const OutboundMessage& m) { corpus.Keep(Tagged(m.channel, m.payload)); };
  gossip::testing::SimCluster c(seed, o);
  c.sim().RunFor(absl::Seconds(5));
  c.sim().Request(c.ids()[1], "tags", "role=server,dc=dc1", [](const Response&) {});
  c.sim().Request(c.ids()[2], "user-event", "deploy\nversion=2", [](const Response&) {});
  c.sim().Request(c.ids()[3], "query", "uptime\ttag=role=server\tnode=n2\tack\ttimeout_ms=1000\n",
                  [](const Response&) {});
  c.sim().RunFor(absl::Seconds(3));
  c.sim().Kill(c.ids()[4]);
  c.sim().Request(c.ids()[5], "leave", "", [](const Response&) {});
  c.sim().RunFor(absl::Seconds(15));
  return corpus.Take();
}

std::vector<std::string> CaptureRaftTraffic(uint64_t seed) {
  Reservoir corpus(seed);
  sim::Simulator sim(seed);
  raft::KvMachineOptions opts;
  opts.snapshot_every = 20;  // snapshot chunks in the corpus too
  opts.raft.snapshot_chunk_bytes = 256;
  for (int i = 1; i <= 3; ++i) {
    raft::pb::Server* s = opts.bootstrap.add_servers();
    s->set_id(i);
    s->set_address(absl::StrCat("n", i));
    s->set_voter(true);
  }
  std::vector<NodeId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(sim.AddNode(raft::KvMachineFactory(opts)));
  sim.set_step_observer([&](NodeId, const Input&, const Effects& fx) {
    for (const OutboundMessage& m : fx.messages) corpus.Keep(Tagged(m.channel, m.payload));
  });
  int puts = 0;
  std::function<void()> put = [&] {
    for (NodeId id : ids) {
      if (!sim.IsUp(id)) continue;
      sim.Request(id, "put", absl::StrCat("k", puts % 7, "=v", puts), [](const Response&) {});
      sim.Request(id, "get", absl::StrCat("k", puts % 7), [](const Response&) {});
    }
    if (++puts < 200) sim.After(absl::Milliseconds(50), put);
  };
  sim.After(absl::Seconds(2), put);
  sim.After(absl::Seconds(6), [&] { sim.Kill(ids[0]); });  // an election, a lagging follower
  sim.After(absl::Seconds(9), [&] { sim.Restart(ids[0]); });
  sim.RunFor(absl::Seconds(20));
  return corpus.Take();
}

// ---------------------------------------------------------------- state targets

state::RegisterRequest SampleRegistration(int i) {
  state::RegisterRequest r;
  r.node.name = absl::StrCat("node-", i % 5);
  r.node.address = absl::StrCat("10.0.0.", i % 250);
  r.node.meta["rack"] = absl::StrCat("r", i % 3);
  r.node.tagged_addresses["wan"] = "192.0.2.1";
  state::Service s;
  s.id = absl::StrCat("web-", i);
  s.name = "web";
  s.tags = {"v1", "primary"};
  s.port = 8000 + i;
  s.meta["version"] = "1";
  s.tagged_addresses["lan"] = {"10.0.0.9", 80};
  r.service = s;
  state::Check c;
  c.check_id = absl::StrCat("check-", i);
  c.name = "alive";
  c.service_id = s.id;
  r.checks.push_back(c);
  return r;
}

std::vector<std::string> StateCommands() {
  namespace pbs = ::muster::proto::state;
  std::vector<std::string> out;
  Time t = SimEpoch();
  for (int i = 0; i < 20; ++i) {
    t += absl::Seconds(1);
    out.push_back(state::commands::Register(t, SampleRegistration(i)).SerializeAsString());
    state::KVEntry e;
    e.key = absl::StrCat("app/config/", i);
    e.value = "value";
    e.flags = i;
    out.push_back(state::commands::KV(t, pbs::KVRequest::SET, e).SerializeAsString());
    out.push_back(state::commands::KV(t, pbs::KVRequest::CAS, e, i).SerializeAsString());
    state::Session sess;
    sess.id = absl::StrCat("0000000", i % 10, "-aaaa-bbbb-cccc-dddddddddddd");
    sess.node = absl::StrCat("node-", i % 5);
    sess.ttl = absl::Seconds(15);
    out.push_back(state::commands::SessionCreate(t, sess, i % 2 == 0).SerializeAsString());
    e.session = sess.id;
    out.push_back(state::commands::KV(t, pbs::KVRequest::LOCK, e).SerializeAsString());
    out.push_back(state::commands::KV(t, pbs::KVRequest::UNLOCK, e).SerializeAsString());
    out.push_back(state::commands::SessionOp(t, pbs::SessionRequest::RENEW, sess.id).SerializeAsString());
    out.push_back(state::commands::SessionOp(t, pbs::SessionRequest::EXPIRE, sess.id).SerializeAsString());
    std::vector<state::TxnOp> ops(3);
    ops[0].verb = state::TxnVerb::kSet;
    ops[0].entry = e;
    ops[1].verb = state::TxnVerb::kCheckIndex;
    ops[1].entry.key = e.key;
    ops[1].index = i;
    ops[2].verb = state::TxnVerb::kDeleteTree;
    ops[2].entry.key = "app/";
    out.push_back(state::commands::Txn(t, ops).SerializeAsString());
    out.push_back(state::commands::Deregister(t, sess.node, i % 3 == 0 ? absl::StrCat("web-", i) : "",
                                              i % 3 == 1 ? absl::StrCat("check-", i) : "")
                      .SerializeAsString());
    out.push_back(state::commands::ReapTombstones(t, i).SerializeAsString());
  }
  return out;
}

class StateTarget final : public FuzzTarget {
 public:
  explicit StateTarget(uint64_t seed) : corpus_(StateCommands()) { (void)seed; }
  std::string name() const override { return "state"; }
  const std::vector<std::string>& corpus() const override { return corpus_; }
  void RunOne(std::string_view input) override {
    fsm_.Apply(++index_, input);
    if (index_ % 64 == 0) {  // and the snapshot of whatever that built must restore
      state::Fsm copy;
      MUSTER_CHECK(copy.Restore(fsm_.Snapshot()).ok(), "a snapshot of applied state does not restore");
      MUSTER_CHECK_EQ(copy.ContentHash(), fsm_.ContentHash());
    }
  }
  std::string CheckBounds() const override { return ""; }
  void Reset() override {
    fsm_ = state::Fsm();
    index_ = 0;
  }

 private:
  std::vector<std::string> corpus_;
  state::Fsm fsm_;
  uint64_t index_ = 0;
};

class SnapshotTarget final : public FuzzTarget {
 public:
  explicit SnapshotTarget(uint64_t seed) {
    (void)seed;
    state::Fsm fsm;
    uint64_t index = 0;
    const std::vector<std::string> commands = StateCommands();
    for (const std::string& c : commands) {
      fsm.Apply(++index, c);
      if (index % 25 == 0) corpus_.push_back(fsm.Snapshot());
    }
    next_command_ = commands.front();  // a registration, applied on top of what restored
  }
  std::string name() const override { return "snapshot"; }
  const std::vector<std::string>& corpus() const override { return corpus_; }
  void RunOne(std::string_view input) override {
    state::Fsm fsm;
    if (fsm.Restore(input).ok()) {
      // Whatever restored must be a state the store can keep working from.
      MUSTER_CHECK(state::Fsm().Restore(fsm.Snapshot()).ok());
      fsm.Apply(fsm.store().last_index() + 1, next_command_);
    }
  }
  std::string CheckBounds() const override { return ""; }
  void Reset() override {}

 private:
  std::vector<std::string> corpus_;
  std::string next_command_;
};

// ---------------------------------------------------------------- framing

class FrameTarget final : public FuzzTarget {
 public:
  explicit FrameTarget(uint64_t seed) {
    (void)seed;
    proto::Envelope e;
    e.set_protocol_version(1);
    e.set_kind(proto::Envelope::KIND_GOSSIP);
    e.set_body("payload");
    const std::string env = e.SerializeAsString();
    for (std::string_view from : {"127.0.0.2:8301", "[::1]:8300", "n1"}) {
      corpus_.push_back(absl::StrCat("D", io::EncodeDatagram(from, env)));
      corpus_.push_back(absl::StrCat("S", io::EncodeStreamFrame(from, env), io::EncodeStreamFrame(from, "x")));
    }
    corpus_.push_back(absl::StrCat("E", env));
  }
  std::string name() const override { return "frame"; }
  const std::vector<std::string>& corpus() const override { return corpus_; }
  void RunOne(std::string_view input) override {
    if (input.empty()) return;
    const char kind = input[0];
    input.remove_prefix(1);
    if (kind == 'D') {
      if (auto f = io::DecodeBody(input); f.has_value()) Envelope(f->payload);
    } else if (kind == 'E') {
      Envelope(input);
    } else {
      // Stream bytes arrive in arbitrary pieces; the reader must never hold more than one
      // frame's limit, and must stop at the first malformed frame.
      io::StreamFrameReader reader;
      size_t at = 0;
      while (at < input.size() && !reader.error()) {
        size_t piece = 1 + (at * 7 + input.size()) % 97;
        piece = std::min(piece, input.size() - at);
        reader.Append(input.data() + at, piece);
        at += piece;
        while (auto f = reader.Next()) Envelope(f->payload);
        MUSTER_CHECK_LE(reader.buffered_bytes(), io::kStreamFrameBytesMax + 4 + 97);
      }
    }
  }
  std::string CheckBounds() const override { return ""; }
  void Reset() override {}

 private:
  // Through the agents' one framing (core/seam/envelope.h): whatever opens is a kind we know.
  static void Envelope(std::string_view bytes) {
    absl::StatusOr<Opened> o = Open(bytes);
    if (o.ok()) MUSTER_CHECK(proto::Envelope::Kind_IsValid(o->kind) && o->kind != proto::Envelope::KIND_UNSPECIFIED);
  }
  std::vector<std::string> corpus_;
};

}  // namespace

std::unique_ptr<FuzzTarget> MakeGossipTarget(uint64_t seed) {
  auto factory = gossip::SerfMachine::Factory([](const MachineContext& ctx) {
    return gossip::SerfConfig::Lan(ctx.address);
  });
  return std::make_unique<GossipTarget>("gossip", factory, CaptureGossipTraffic(seed), seed);
}

std::unique_ptr<FuzzTarget> MakeRaftTarget(uint64_t seed) {
  raft::KvMachineOptions opts;
  for (int i = 1; i <= 3; ++i) {
    raft::pb::Server* s = opts.bootstrap.add_servers();
    s->set_id(i);
    s->set_address(absl::StrCat("n", i));
    s->set_voter(true);
  }
  opts.snapshot_every = 50;
  return std::make_unique<RaftTarget>("raft", raft::KvMachineFactory(opts), CaptureRaftTraffic(seed), seed);
}

std::unique_ptr<FuzzTarget> MakeStateTarget(uint64_t seed) { return std::make_unique<StateTarget>(seed); }
std::unique_ptr<FuzzTarget> MakeSnapshotTarget(uint64_t seed) { return std::make_unique<SnapshotTarget>(seed); }
std::unique_ptr<FuzzTarget> MakeFrameTarget(uint64_t seed) { return std::make_unique<FrameTarget>(seed); }

std::vector<std::string> TargetNames() { return {"gossip", "raft", "state", "snapshot", "frame"}; }

std::unique_ptr<FuzzTarget> MakeTarget(std::string_view name, uint64_t seed) {
  if (name == "gossip") return MakeGossipTarget(seed);
  if (name == "raft") return MakeRaftTarget(seed);
  if (name == "state") return MakeStateTarget(seed);
  if (name == "snapshot") return MakeSnapshotTarget(seed);
  if (name == "frame") return MakeFrameTarget(seed);
  return nullptr;
}

size_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace muster::fuzz
