// Data-driven protocol stories for the memberlist level, in the style of etcd raft's testdata,
// on the shared driver (core/testing/script.h): every file in testdata/ runs, each command is
// checked against its usage, and testdata/help.txt lists the commands with an example each.
// After an intended change: SCRIPT_REWRITE=1 bazel run //tests/gossip:script_test
//
// Nodes are named a, b, c, ...; a node's address is its name. Messages arrive at once (zero
// latency) and timers run in time order. A sent message shows as
// "from->to [stream] kind fields + [piggybacked...]"; a lost one ends with "(lost)". `batch on`
// prints every batch whole (core/testing/batch_printer.h). Each node's batches are carried out
// by sim/'s EffectExecutor, as the simulator carries them out (writes, the durability gate,
// the datagram limit); each node's CheckInvariants() runs after each of its steps.
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/gossip/memberlist.h"
#include "core/gossip/null_delegate.h"
#include "core/testing/batch_printer.h"
#include "core/testing/script.h"
#include "gtest/gtest.h"
#include "sim/effect_executor.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

using script::Invocation;
using testing::NullDelegate;

// A run of the guard loop in RunUntil longer than this is a livelock, not a story.
constexpr int kStepsPerTickMax = 1'000'000;

std::string Describe(const pb::Message& m) {
  switch (m.body_case()) {
    case pb::Message::kPing: return absl::StrCat("ping seq=", m.ping().seq(), " target=", m.ping().target());
    case pb::Message::kIndirectPing:
      return absl::StrCat("indirect-ping seq=", m.indirect_ping().seq(), " target=", m.indirect_ping().target(),
                          m.indirect_ping().nack() ? " nack" : "");
    case pb::Message::kAck: return absl::StrCat("ack seq=", m.ack().seq());
    case pb::Message::kNack: return absl::StrCat("nack seq=", m.nack().seq());
    case pb::Message::kAlive: return absl::StrCat("alive ", m.alive().node(), " inc=", m.alive().incarnation());
    case pb::Message::kSuspect:
      return absl::StrCat("suspect ", m.suspect().node(), " inc=", m.suspect().incarnation(), " from=", m.suspect().from());
    case pb::Message::kDead:
      return absl::StrCat("dead ", m.dead().node(), " inc=", m.dead().incarnation(), " from=", m.dead().from());
    case pb::Message::kPushPull: return absl::StrCat("push-pull", m.push_pull().reply() ? " reply" : "");
    case pb::Message::kUser: return "user";
    case pb::Message::BODY_NOT_SET: return "empty";
  }
  return "?";
}

// A packet's messages: the first, then the piggybacked ones in brackets.
std::string DescribePacket(const pb::Packet& packet) {
  if (packet.messages_size() == 0) return "empty packet";
  std::string line = Describe(packet.messages(0));
  std::vector<std::string> extra;
  for (int i = 1; i < packet.messages_size(); ++i) extra.push_back(Describe(packet.messages(i)));
  if (!extra.empty()) absl::StrAppend(&line, " + [", absl::StrJoin(extra, ", "), "]");
  return line;
}

class Interpreter {
 public:
  Interpreter() { Register(); }
  const script::CommandSet& commands() const { return commands_; }

 private:
  struct Pending {
    Address from;
    OutboundMessage message;
  };
  struct Node {
    std::unique_ptr<Memberlist> ml;
    // Carries out the node's batches by the seam's rules (sim/effect_executor.h): writes to a
    // disk, gated messages held until their write is durable (a story's syncs finish at the
    // end of the step), the datagram limit. Memberlist writes nothing today; if it ever does,
    // its stories show it instead of a driver ignoring it.
    std::unique_ptr<sim::EffectExecutor> executor;
    bool up = true;
    bool paused = false;
    std::optional<Time> wake;  // the wake-up its latest batch asked for (seam rule 4: replaces)
  };

  using Body = std::function<void(Invocation&)>;

  // A command whose output is the trace of what it made happen.
  void Add(std::string usage, std::string doc, std::string example, Body body) {
    std::string name = usage.substr(0, usage.find(' '));
    const bool needs_nodes = name != "add-nodes" && name != "trace" && name != "batch";
    commands_.Add({.name = std::move(name),
                   .usage = std::move(usage),
                   .doc = std::move(doc),
                   .example = std::move(example),
                   .run = [this, body = std::move(body), needs_nodes](Invocation& in) {
                     trace_.clear();
                     step_errors_.clear();
                     if (needs_nodes && nodes_.empty()) {
                       in.Fail("add-nodes first");
                       return std::string();
                     }
                     body(in);
                     for (const std::string& e : step_errors_) in.Fail(e);
                     return absl::StrJoin(trace_, "\n");
                   }});
  }

  // The node named by argument i, or null (and a Fail).
  Node* NodeArg(Invocation& in, size_t i) {
    auto it = nodes_.find(in.Arg(i));
    if (it == nodes_.end()) {
      if (in.errors().empty()) in.Fail(absl::StrCat("no node ", in.Arg(i)));
      return nullptr;
    }
    return &it->second;
  }

  void Register() {
    Add("add-nodes N [lifeguard=BOOL]",
        "N nodes named a, b, ... that all know each other, all alive at incarnation 1 (introduced silently)",
        "add-nodes 3 lifeguard=false", [this](Invocation& in) { AddNodes(in); });
    Add("tick MS", "advances the shared clock by MS milliseconds: timers run in time order, messages arrive at once",
        "tick 2000", [this](Invocation& in) {
          const int64_t ms = in.ArgInt(0);
          if (in.errors().empty()) RunUntil(now_ + absl::Milliseconds(ms));
        });
    Add("kill X", "X stops; messages to it vanish", "kill c", [this](Invocation& in) {
      if (Node* n = NodeArg(in, 0)) n->up = false;
    });
    Add("isolate X", "messages to and from X are lost (printed with \"(lost)\")", "isolate c", [this](Invocation& in) {
      if (NodeArg(in, 0) != nullptr) isolated_.insert(in.Arg(0));
    });
    Add("heal", "no node is isolated any more", "heal", [this](Invocation&) { isolated_.clear(); });
    Add("pause X", "X's inputs (messages and timers) wait until resume X", "pause b", [this](Invocation& in) {
      if (Node* n = NodeArg(in, 0)) n->paused = true;
    });
    Add("resume X", "X runs its waiting inputs from the next tick on", "resume b", [this](Invocation& in) {
      if (Node* n = NodeArg(in, 0)) n->paused = false;
    });
    Add("state X", "prints X's member table (name:state/incarnation) and health score", "state a",
        [this](Invocation& in) {
          Node* n = NodeArg(in, 0);
          if (n == nullptr) return;
          std::vector<std::string> parts;
          for (const NodeState* m : n->ml->Nodes()) {
            parts.push_back(absl::StrCat(m->name, ":", Absl(MemberStateName(m->state)), "/", m->incarnation));
          }
          trace_.push_back(
              absl::StrCat(in.Arg(0), " sees ", absl::StrJoin(parts, " "), " health=", n->ml->health_score()));
        });
    Add("leave X", "X leaves gracefully", "leave b", [this](Invocation& in) {
      Node* n = NodeArg(in, 0);
      if (n == nullptr) return;
      Effects out;
      n->ml->Leave(now_, &out);
      Collect(in.Arg(0), out);
    });
    Add("trace MODE",
        "which sent messages print: all, or updates (the default: everything but plain datagram pings and acks)",
        "trace all", [this](Invocation& in) {
          trace_all_ = in.ArgOneOf(0, {"all", "updates"}) == "all";
        });
    Add("batch MODE",
        "on: from now on every batch a node hands out is printed whole (messages with channel, size and "
        "after_write_id; events; wake_at), besides the trace; off: no longer",
        "batch on", [this](Invocation& in) {
          print_batches_ = in.ArgOneOf(0, {"on", "off"}) == "on";
        });
  }

  void AddNodes(Invocation& in) {
    MemberlistConfig base = MemberlistConfig::Lan("x");
    base.lifeguard = in.OptionBool("lifeguard", base.lifeguard);
    const uint64_t n = in.ArgUint(0);
    if (n == 0 || n > 26) in.Fail("N is 1 to 26 (nodes are named a to z)");
    if (!nodes_.empty()) in.Fail("nodes were added already");
    if (!in.errors().empty()) return;
    for (uint64_t i = 0; i < n; ++i) {
      std::string name(1, static_cast<char>('a' + i));
      MemberlistConfig c = base;
      c.name = name;
      Node& node = nodes_[name];
      sim::EffectExecutor::Sinks sinks;
      sinks.send = [this, name](OutboundMessage m) { Send(name, std::move(m)); };
      node.executor = std::make_unique<sim::EffectExecutor>(NodeId{100 + i}, std::move(sinks));
      node.ml = std::make_unique<Memberlist>(c, name, 100 + i, &delegate_, Logger());
      Effects ignored;  // the start announcement; everyone is introduced below
      node.ml->Start(now_, &ignored);
      node.wake = ignored.wake_at;
    }
    // Introduce everyone to everyone (as after a join), without tracing it.
    for (auto& [name, node] : nodes_) {
      for (auto& [other, unused] : nodes_) {
        pb::Message m;
        m.mutable_alive()->set_node(other);
        m.mutable_alive()->set_addr(other);
        m.mutable_alive()->set_incarnation(1);
        Effects ignored;
        node.ml->HandleMessage(now_, MessageInput{other, Channel::kDatagram, PackMessages({m.SerializeAsString()})},
                               &ignored);
        node.wake = ignored.wake_at;
      }
    }
  }

  // Delivers what can be delivered, then runs the next due timer; until `deadline`.
  void RunUntil(Time deadline) {
    for (int guard = 0;; ++guard) {
      MUSTER_CHECK_LT(guard, kStepsPerTickMax);
      if (DeliverAll()) continue;
      std::string next_node;
      Time next = deadline;
      for (auto& [name, node] : nodes_) {
        if (!node.up || node.paused) continue;
        const std::optional<Time> w = node.wake;
        if (w && *w <= next && (next_node.empty() || *w < next)) {
          next = *w;
          next_node = name;
        }
      }
      if (next_node.empty()) break;
      now_ = next;
      Effects out;
      nodes_.at(next_node).ml->Tick(now_, &out);
      Collect(next_node, out);
    }
    now_ = deadline;
  }

  // True if anything was delivered.
  bool DeliverAll() {
    std::vector<Pending> batch, keep;
    for (Pending& p : pending_) {
      (nodes_.at(p.message.to).paused ? keep : batch).push_back(std::move(p));
    }
    pending_ = std::move(keep);
    for (Pending& p : batch) {
      Node& dst = nodes_.at(p.message.to);
      if (!dst.up) continue;
      Effects out;
      dst.ml->HandleMessage(now_, MessageInput{p.from, p.message.channel, p.message.payload}, &out);
      Collect(p.message.to, out);
    }
    return !batch.empty();
  }

  // Carries out one batch of node `from` through its executor: what may leave is traced and
  // sent (Send), its wake-up kept (rule 4: a batch's request replaces the last one).
  void Collect(const std::string& from, Effects& out) {
    Node& node = nodes_.at(from);
    if (absl::Status s = node.ml->CheckInvariants(); !s.ok()) {
      step_errors_.push_back(absl::StrCat(from, " broke an invariant: ", s.ToString()));
    }
    if (print_batches_) PrintBatch(from, out);
    node.executor->Execute(std::move(out));
    node.executor->SyncAll();  // a story's disk syncs at once; gated messages leave now
    node.wake = node.executor->TakeWake();
  }

  void Send(const std::string& from, OutboundMessage m) {
    pb::Packet packet;
    MUSTER_CHECK(packet.ParseFromString(m.payload));
    MUSTER_CHECK(nodes_.count(m.to) > 0, from, " sent to unknown ", m.to);
    const bool lost = isolated_.contains(from) || isolated_.contains(m.to) || !nodes_.at(m.to).up;
    const pb::Message& first = packet.messages(0);
    const bool plain =
        packet.messages_size() == 1 && (first.has_ping() || first.has_ack()) && m.channel == Channel::kDatagram;
    if (trace_all_ || !plain || lost) {
      trace_.push_back(absl::StrCat(from, "->", m.to, m.channel == Channel::kStream ? " [stream]" : "", " ",
                                    DescribePacket(packet), lost ? " (lost)" : ""));
    }
    if (!lost) pending_.push_back(Pending{from, std::move(m)});
  }

  void PrintBatch(const std::string& from, const Effects& out) {
    script::BatchFormat format;
    format.describe_message = [](const OutboundMessage& m) {
      pb::Packet packet;
      return packet.ParseFromString(m.payload) ? DescribePacket(packet) : std::string("(does not parse)");
    };
    format.epoch = SimEpoch();
    if (std::string batch = script::FormatNodeBatch(from, out, format); !batch.empty()) trace_.push_back(std::move(batch));
  }

  script::CommandSet commands_;
  NullDelegate delegate_;
  absl::btree_map<std::string, Node> nodes_;
  std::vector<Pending> pending_;
  std::vector<std::string> trace_;
  std::vector<std::string> step_errors_;
  std::set<std::string> isolated_;
  bool trace_all_ = false;
  bool print_batches_ = false;
  Time now_ = SimEpoch();
};

MUSTER_SCRIPT_TESTS(GossipScript, Interpreter, "tests/gossip/testdata", 6);

}  // namespace
}  // namespace muster::gossip
