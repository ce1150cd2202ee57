// A host for Raft nodes fully under a test's control: each node has its own clock, its
// effects are carried out by sim/'s EffectExecutor (the seam's rules in one place: a disk with
// a page cache whose writes are durable only when the test persists them, messages held until
// the writes they wait on are durable), and sent messages wait in one in-flight list until the
// test delivers or drops them. The engine of the data-driven script tests (script_test.cc)
// and of unit tests.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/base/log.h"
#include "core/raft/kv_fsm.h"
#include "core/raft/raft.h"
#include "core/raft/test_configuration.h"
#include "sim/effect_executor.h"

namespace muster::raft {

struct InFlight {
  NodeId from;
  NodeId to;
  std::string payload;
  Channel channel = Channel::kStream;
};


class TestCluster {
 public:
  // Lines of output (logs, deliveries, applied entries) go to `trace`.
  explicit TestCluster(RaftOptions base, std::vector<std::string>* trace);

  // Adds nodes with the next ids; with `bootstrap`, each is bootstrapped with a configuration
  // of exactly these new nodes as voters.
  void AddNodes(int n, bool bootstrap);
  bool Has(NodeId id) const { return nodes_.count(id) > 0; }
  Raft& raft(NodeId id);
  KvFsm& fsm(NodeId id);
  bool up(NodeId id) const { return nodes_.at(id)->up; }
  Time& now(NodeId id) { return nodes_.at(id)->now; }
  std::vector<NodeId> ids() const;

  // Runs `fn` on a node's raft with a fresh Ready and carries the Ready out.
  void Run(NodeId id, const std::function<void(Raft&, Ready*)>& fn);
  void Tick(NodeId id, Duration advance);
  // Makes every write of `id` durable: WriteDurable input, gated messages released.
  void Persist(NodeId id);
  // Delivers messages in flight (to `to` if valid); returns how many.
  size_t Deliver(NodeId to, bool print = true);
  size_t Drop(NodeId from, NodeId to);  // invalid ids are wildcards
  // Delivers the oldest message in flight from -> to; false if there is none.
  bool DeliverOne(NodeId from, NodeId to);
  // Duplicates every message in flight from -> to (the network may deliver twice).
  size_t Duplicate(NodeId from, NodeId to);
  // Duplicates each message in flight for which `pick` says so; returns how many.
  size_t DuplicateIf(const std::function<bool(const InFlight&)>& pick);
  void Crash(NodeId id);
  void Restart(NodeId id);
  void Block(NodeId from, NodeId to) { blocked_.insert({from, to}); }
  void Heal() { blocked_.clear(); }
  // Persists and delivers until nothing is left; returns false if it did not settle.
  bool Stabilize(int rounds_max = 1000);
  const std::deque<InFlight>& in_flight() const { return in_flight_; }
  // Sees every Ready a node hands out, before it is carried out (the script's `batch` command).
  void set_ready_observer(std::function<void(NodeId, const Ready&)> observer) {
    ready_observer_ = std::move(observer);
  }

  static std::string Describe(const pb::Message& m);

 private:
  struct Node {
    NodeId id;
    RaftOptions options;
    std::unique_ptr<sim::EffectExecutor> executor;  // holds the node's disk across crashes
    std::unique_ptr<Raft> raft;
    KvFsm fsm;
    Time now;
    bool up = true;
    uint64_t incarnation = 0;
  };
  class Sink;

  void Start(Node& n);
  void Carry(Node& n, Ready& ready);
  void Send(NodeId from, OutboundMessage m);
  NodeId IdOf(const Address& address) const;

  RaftOptions base_;
  std::vector<std::string>* trace_;
  std::unique_ptr<LogSink> sink_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::deque<InFlight> in_flight_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  std::function<void(NodeId, const Ready&)> ready_observer_;
};

}  // namespace muster::raft
