// Data-driven protocol stories for the memberlist level, in the style of etcd raft's
// testdata (and core/raft's): each file in testdata/ is commands with the expected trace
// under "----". A reviewer reads the protocol in the diff. After an intended change:
//   GOSSIP_REWRITE=1 bazel run //core/gossip:script_test
//
// Commands (nodes are named a, b, c, ...; a node's address is its name):
//   add-nodes N [lifeguard=false]   N nodes that all know each other, all alive at incarnation 1
//   tick MS                         advance the shared clock; messages arrive at once (zero
//                                   latency) and timers run in time order
//   kill X                          X stops; messages to it vanish
//   isolate X | heal                messages to and from X are lost / no longer
//   pause X | resume X              X's inputs wait (messages and timers), then run
//   state X                         X's member table and health score
//   leave X                         graceful leave
//   trace all | trace updates       which sent messages to show (default: updates, i.e.
//                                   everything but plain pings and acks)
// A sent message shows as "from->to [stream] kind fields + [piggybacked...]"; a lost one
// ends with "(lost)".
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "core/gossip/memberlist.h"
#include "core/gossip/null_delegate.h"
#include "gtest/gtest.h"

namespace muster::gossip {
namespace {

namespace pb = ::muster::proto::gossip;

using testing::NullDelegate;

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

class Interpreter {
 public:
  std::string Run(const std::string& command) {
    trace_.clear();
    std::vector<std::string> a = absl::StrSplit(command, ' ', absl::SkipEmpty());
    std::string result = Execute(a);
    if (!result.empty()) trace_.push_back(result);
    if (trace_.empty()) return "ok\n";
    return absl::StrJoin(trace_, "\n") + "\n";
  }

 private:
  struct Pending {
    Address from;
    OutboundMessage message;
  };
  struct Node {
    std::unique_ptr<Memberlist> ml;
    bool up = true;
    bool paused = false;
    std::optional<Time> wake;  // the wake-up its latest batch asked for
  };

  std::string Execute(const std::vector<std::string>& a) {
    auto arg = [&](size_t i) -> std::string { return i < a.size() ? a[i] : "-"; };
    const std::string& cmd = a[0];
    if (cmd == "add-nodes") {
      MemberlistConfig base = MemberlistConfig::Lan("x");
      for (size_t i = 2; i < a.size(); ++i) {
        if (a[i] == "lifeguard=false") base.lifeguard = false;
      }
      int n = std::stoi(arg(1));
      for (int i = 0; i < n; ++i) {
        std::string name(1, static_cast<char>('a' + i));
        MemberlistConfig c = base;
        c.name = name;
        nodes_[name].ml = std::make_unique<Memberlist>(c, name, 100 + i, &delegate_, Logger());
        Effects ignored;  // the start announcement; everyone is introduced below
        nodes_[name].ml->Start(now_, &ignored);
        nodes_[name].wake = ignored.wake_at;
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
      // Drain the introductions from the broadcast queues by a silent round of gossip.
      return "";
    }
    if (cmd == "tick") {
      RunUntil(now_ + absl::Milliseconds(std::stoll(arg(1))));
      return "";
    }
    if (cmd == "isolate") {
      isolated_.insert(arg(1));
      return "";
    }
    if (cmd == "heal") {
      isolated_.clear();
      return "";
    }
    if (cmd == "trace") {
      trace_all_ = arg(1) == "all";
      return "";
    }
    if (cmd == "kill") {
      nodes_.at(arg(1)).up = false;
      return "";
    }
    if (cmd == "pause" || cmd == "resume") {
      nodes_.at(arg(1)).paused = cmd == "pause";
      return "";
    }
    if (cmd == "leave") {
      Effects out;
      nodes_.at(arg(1)).ml->Leave(now_, &out);
      Collect(arg(1), out);
      return "";
    }
    if (cmd == "state") {
      const Memberlist& ml = *nodes_.at(arg(1)).ml;
      std::vector<std::string> parts;
      for (const NodeState* n : ml.Nodes()) {
        parts.push_back(absl::StrCat(n->name, ":", Absl(MemberStateName(n->state)), "/", n->incarnation));
      }
      return absl::StrCat(arg(1), " sees ", absl::StrJoin(parts, " "), " health=", ml.health_score());
    }
    return absl::StrCat("unknown command: ", cmd);
  }

  // Delivers what can be delivered, then runs the next due timer; until `deadline`.
  void RunUntil(Time deadline) {
    for (int guard = 0;; ++guard) {
      MUSTER_CHECK_LT(guard, 1'000'000);
      if (DeliverAll()) continue;
      std::string next_node;
      Time next = deadline;
      for (auto& [name, node] : nodes_) {
        if (!node.up || node.paused) continue;
        auto w = node.wake;
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

  void Collect(const std::string& from, Effects& out) {
    nodes_.at(from).wake = out.wake_at;
    for (OutboundMessage& m : out.messages) {
      pb::Packet packet;
      MUSTER_CHECK(packet.ParseFromString(m.payload));
      const bool lost = isolated_.contains(from) || isolated_.contains(m.to) || !nodes_.at(m.to).up;
      const pb::Message& first = packet.messages(0);
      bool plain = packet.messages_size() == 1 && (first.has_ping() || first.has_ack()) && m.channel == Channel::kDatagram;
      if (trace_all_ || !plain || lost) {
        std::string line = absl::StrCat(from, "->", m.to, m.channel == Channel::kStream ? " [stream]" : "", " ",
                                        Describe(first));
        std::vector<std::string> extra;
        for (int i = 1; i < packet.messages_size(); ++i) extra.push_back(Describe(packet.messages(i)));
        if (!extra.empty()) absl::StrAppend(&line, " + [", absl::StrJoin(extra, ", "), "]");
        if (lost) absl::StrAppend(&line, " (lost)");
        trace_.push_back(line);
      }
      if (!lost) pending_.push_back(Pending{from, std::move(m)});
    }
  }

  NullDelegate delegate_;
  absl::btree_map<std::string, Node> nodes_;
  std::vector<Pending> pending_;
  std::vector<std::string> trace_;
  std::set<std::string> isolated_;
  bool trace_all_ = false;
  Time now_ = SimEpoch();
};

struct Case {
  std::string comments;
  std::string command;
  std::string expected;
};

std::vector<Case> Parse(const std::string& path, std::string* trailer) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::vector<Case> cases;
  std::string comments;
  for (size_t i = 0; i < lines.size();) {
    if (lines[i].empty() || lines[i][0] == '#') {
      comments += lines[i++] + "\n";
      continue;
    }
    Case c;
    c.comments = std::move(comments);
    comments.clear();
    c.command = lines[i++];
    EXPECT_TRUE(i < lines.size() && lines[i] == "----") << path << ": expected ---- after " << c.command;
    ++i;
    while (i < lines.size() && !lines[i].empty()) c.expected += lines[i++] + "\n";
    cases.push_back(std::move(c));
  }
  *trailer = comments;
  return cases;
}

void RunFile(const std::string& name) {
  const std::string path = absl::StrCat("core/gossip/testdata/", name);
  std::string trailer;
  std::vector<Case> cases = Parse(path, &trailer);
  ASSERT_FALSE(cases.empty()) << path;
  Interpreter interp;
  std::string rewritten;
  for (const Case& c : cases) {
    std::string got = interp.Run(c.command);
    rewritten += c.comments + c.command + "\n----\n" + got;
    EXPECT_EQ(got, c.expected) << path << ": " << c.command;
  }
  rewritten += trailer;
  if (const char* rw = std::getenv("GOSSIP_REWRITE"); rw != nullptr && *rw == '1') {
    const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    std::ofstream out(ws != nullptr ? absl::StrCat(ws, "/", path) : path);
    out << rewritten;
  }
}

TEST(ScriptTest, ProbeIndirectSuspectDead) { RunFile("probe_indirect_suspect_dead.txt"); }
TEST(ScriptTest, ClassicSwim) { RunFile("classic_swim.txt"); }
TEST(ScriptTest, Refutation) { RunFile("refutation.txt"); }
TEST(ScriptTest, Leave) { RunFile("leave.txt"); }

}  // namespace
}  // namespace muster::gossip
