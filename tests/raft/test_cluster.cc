#include "tests/raft/test_cluster.h"

#include "core/base/rng.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/check.h"

namespace muster::raft {

// --- TestCluster -----------------------------------------------------------------------

class TestCluster::Sink final : public LogSink {
 public:
  explicit Sink(std::vector<std::string>* trace) : trace_(trace) {}
  void Write(Time, LogLevel level, std::string_view component, std::string_view message) override {
    if (trace_ != nullptr && level >= LogLevel::kInfo) trace_->push_back(absl::StrCat(Absl(component), ": ", Absl(message)));
  }

 private:
  std::vector<std::string>* trace_;
};

TestCluster::TestCluster(RaftOptions base, std::vector<std::string>* trace)
    : base_(std::move(base)), trace_(trace), sink_(std::make_unique<Sink>(trace)) {}

std::vector<NodeId> TestCluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

Raft& TestCluster::raft(NodeId id) { return *nodes_.at(id)->raft; }
KvFsm& TestCluster::fsm(NodeId id) { return nodes_.at(id)->fsm; }

NodeId TestCluster::IdOf(const Address& address) const {
  MUSTER_CHECK(address.size() > 1 && address[0] == 'n', "bad address ", address);
  return NodeId{std::stoull(address.substr(1))};
}

void TestCluster::AddNodes(int n, bool bootstrap) {
  const uint64_t first = nodes_.empty() ? 1 : nodes_.rbegin()->first.value + 1;
  pb::Configuration config;
  for (int i = 0; i < n; ++i) {
    pb::Server* s = config.add_servers();
    s->set_id(first + i);
    s->set_address(absl::StrCat("n", first + i));
    s->set_voter(true);
  }
  for (int i = 0; i < n; ++i) {
    auto node = std::make_unique<Node>();
    node->id = NodeId{first + i};
    node->options = base_;
    node->options.id = node->id;
    node->options.address = absl::StrCat("n", node->id.value);
    node->now = SimEpoch();
    sim::EffectExecutor::Sinks sinks;
    sinks.send = [this, id = node->id](OutboundMessage m) { Send(id, std::move(m)); };
    node->executor = std::make_unique<sim::EffectExecutor>(node->id, std::move(sinks));
    Node& ref = *node;
    nodes_[node->id] = std::move(node);
    Start(ref);
    if (bootstrap) {
      Run(ref.id, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.Bootstrap(ref.now, config, out).ok()); });
    }
  }
}

void TestCluster::Start(Node& n) {
  // The seed depends only on id and incarnation, so scripts are reproducible.
  n.raft = std::make_unique<Raft>(n.options, &n.executor->disk(), n.id.value * 1000 + n.incarnation, n.now,
                                  Logger(sink_.get(), ToString(n.id)));
  n.incarnation++;
  n.fsm = KvFsm();
  n.up = true;
  Ready ready;
  n.raft->Tick(n.now, &ready);
  Carry(n, ready);
}

void TestCluster::Run(NodeId id, const std::function<void(Raft&, Ready*)>& fn) {
  Node& n = *nodes_.at(id);
  MUSTER_CHECK(n.up, "node ", id.value, " is down");
  Ready ready;
  fn(*n.raft, &ready);
  Carry(n, ready);
}

void TestCluster::Tick(NodeId id, Duration advance) {
  Node& n = *nodes_.at(id);
  n.now += advance;
  Run(id, [&](Raft& r, Ready* out) { r.Tick(n.now, out); });
}

void TestCluster::Carry(Node& n, Ready& ready) {
  if (ready_observer_) ready_observer_(n.id, ready);
  // Writes, gating and the datagram limit first (the seam's rules, sim/effect_executor.h);
  // then what is Raft's own: the snapshot to load, the entries to apply, the reads.
  n.executor->Execute(std::move(ready.effects));
  if (ready.restore.has_value()) {
    MUSTER_CHECK(n.fsm.Restore(n.raft->log().snapshot_data()), "snapshot data does not parse");
    MUSTER_CHECK_EQ(n.fsm.applied(), ready.restore->index());
    if (trace_) trace_->push_back(absl::StrCat(ToString(n.id), " restored snapshot at ", ready.restore->index()));
  }
  std::vector<std::string> applied;
  for (const pb::Entry* entry : ready.committed) {
    const pb::Entry& e = *entry;
    if (n.fsm.applied() >= e.index()) continue;
    n.fsm.Apply(e);
    applied.push_back(absl::StrCat(e.term(), "/", e.index(),
                                   e.type() == pb::ENTRY_NOOP ? " noop" : e.type() == pb::ENTRY_CONFIG ? " config" : "",
                                   e.type() == pb::ENTRY_NORMAL ? absl::StrCat(" ", e.data()) : ""));
  }
  if (trace_ && !applied.empty()) {
    trace_->push_back(absl::StrCat(ToString(n.id), " applied [", absl::StrJoin(applied, ", "), "]"));
  }
  for (const ReadState& rs : ready.reads) {
    if (trace_) trace_->push_back(absl::StrCat(ToString(n.id), " read ready: ctx=", rs.context, " index=", rs.index));
  }
}

void TestCluster::Send(NodeId from, OutboundMessage m) {
  in_flight_.push_back({from, IdOf(m.to), std::move(m.payload), m.channel});
}

void TestCluster::Persist(NodeId id) {
  Node& n = *nodes_.at(id);
  if (!n.up) return;
  // Everything issued becomes durable; what waited on it leaves (in order).
  const uint64_t last = n.executor->SyncAll();
  if (last != 0) Run(id, [&](Raft& r, Ready* out) { r.WriteDurable(n.now, last, out); });
}

size_t TestCluster::Deliver(NodeId to, bool print) {
  std::deque<InFlight> batch;
  std::deque<InFlight> keep;
  for (InFlight& m : in_flight_) (to.valid() && m.to != to ? keep : batch).push_back(std::move(m));
  in_flight_ = std::move(keep);
  size_t n = 0;
  for (InFlight& m : batch) {
    auto it = nodes_.find(m.to);
    if (it == nodes_.end() || !it->second->up || blocked_.count({m.from, m.to}) > 0) continue;
    pb::Message msg;
    MUSTER_CHECK(msg.ParseFromString(m.payload));
    if (print && trace_) trace_->push_back(Describe(msg));
    Node& node = *it->second;
    Run(m.to, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.Receive(node.now, m.payload, out).ok()); });
    ++n;
  }
  return n;
}

bool TestCluster::DeliverOne(NodeId from, NodeId to) {
  for (auto it = in_flight_.begin(); it != in_flight_.end(); ++it) {
    if (it->from != from || it->to != to) continue;
    InFlight m = std::move(*it);
    in_flight_.erase(it);
    auto node = nodes_.find(m.to);
    if (node == nodes_.end() || !node->second->up) return true;
    Node& n = *node->second;
    Run(m.to, [&](Raft& r, Ready* out) { MUSTER_CHECK(r.Receive(n.now, m.payload, out).ok()); });
    return true;
  }
  return false;
}

size_t TestCluster::Duplicate(NodeId from, NodeId to) {
  std::vector<InFlight> copies;
  for (const InFlight& m : in_flight_) {
    if (m.from == from && m.to == to) copies.push_back(m);
  }
  for (InFlight& m : copies) in_flight_.push_back(std::move(m));
  return copies.size();
}

size_t TestCluster::DuplicateIf(const std::function<bool(const InFlight&)>& pick) {
  std::vector<InFlight> copies;
  for (const InFlight& m : in_flight_) {
    if (pick(m)) copies.push_back(m);
  }
  for (InFlight& m : copies) in_flight_.push_back(std::move(m));
  return copies.size();
}

size_t TestCluster::Drop(NodeId from, NodeId to) {
  size_t dropped = 0;
  std::deque<InFlight> keep;
  for (InFlight& m : in_flight_) {
    if ((!from.valid() || m.from == from) && (!to.valid() || m.to == to)) {
      ++dropped;
    } else {
      keep.push_back(std::move(m));
    }
  }
  in_flight_ = std::move(keep);
  return dropped;
}

void TestCluster::Crash(NodeId id) {
  Node& n = *nodes_.at(id);
  n.up = false;
  n.raft.reset();
  Rng unused(0);  // no torn write: a crash here loses exactly the unsynced writes
  n.executor->Crash(unused, /*torn=*/false);
}

void TestCluster::Restart(NodeId id) {
  Node& n = *nodes_.at(id);
  MUSTER_CHECK(!n.up);
  Start(n);
}

bool TestCluster::Stabilize(int rounds_max) {
  for (int round = 0; round < rounds_max; ++round) {
    for (auto& [id, n] : nodes_) Persist(id);
    if (in_flight_.empty()) {
      bool gated = false;
      for (auto& [id, n] : nodes_) {
        gated = gated || (n->up && (n->executor->gated() > 0 || n->executor->disk().unsynced_writes() > 0));
      }
      if (!gated) return true;
      continue;
    }
    Deliver(NodeId{});
  }
  return false;
}

std::string TestCluster::Describe(const pb::Message& m) {
  std::string type = pb::MessageType_Name(m.type());
  std::string s = absl::StrCat("n", m.from(), "->n", m.to(), " ", type, " term=", m.term());
  switch (m.type()) {
    case pb::MSG_APP: {
      absl::StrAppend(&s, " log=", m.log_term(), "/", m.index(), " commit=", m.commit());
      if (m.entries_size() > 0) {
        std::vector<std::string> es;
        for (const pb::Entry& e : m.entries()) {
          es.push_back(absl::StrCat(e.term(), "/", e.index(),
                                    e.type() == pb::ENTRY_NOOP ? " noop" : e.type() == pb::ENTRY_CONFIG ? " config" : "",
                                    e.type() == pb::ENTRY_NORMAL ? absl::StrCat(" ", e.data()) : ""));
        }
        absl::StrAppend(&s, " entries=[", absl::StrJoin(es, ", "), "]");
      }
      break;
    }
    case pb::MSG_APP_RESP:
      absl::StrAppend(&s, " index=", m.index());
      if (m.reject()) absl::StrAppend(&s, " reject hint=", m.hint_term(), "/", m.reject_hint());
      break;
    case pb::MSG_VOTE:
    case pb::MSG_PRE_VOTE:
      absl::StrAppend(&s, " last=", m.log_term(), "/", m.index(), m.transfer() ? " transfer" : "");
      break;
    case pb::MSG_VOTE_RESP:
    case pb::MSG_PRE_VOTE_RESP:
      absl::StrAppend(&s, m.reject() ? " rejected" : " granted");
      break;
    case pb::MSG_HEARTBEAT:
      absl::StrAppend(&s, " commit=", m.commit(), " round=", m.context());
      break;
    case pb::MSG_HEARTBEAT_RESP:
      absl::StrAppend(&s, " round=", m.context());
      break;
    case pb::MSG_SNAP:
      absl::StrAppend(&s, " snap=", m.snapshot().term(), "/", m.snapshot().index(), " offset=", m.chunk_offset(),
                      " bytes=", m.chunk().size(), m.chunk_last() ? " last" : "");
      break;
    case pb::MSG_SNAP_RESP:
      absl::StrAppend(&s, " snap=", m.index(), " next=", m.chunk_offset());
      break;
    default:
      break;
  }
  return s;
}

}  // namespace muster::raft
