// Data-driven protocol stories in the style of etcd raft's testdata, on the shared driver
// (core/testing/script.h): every file in testdata/ runs, each command is checked against its
// usage, and testdata/help.txt lists the commands with an example each. After an intended
// change: SCRIPT_REWRITE=1 bazel run //tests/raft:script_test
//
// Nodes are numbers; node I's address is "nI". `batch on` prints every batch a node hands
// out (core/testing/batch_printer.h), so a story about durability shows each write with its
// id and sync, and each message with the write it waits for (after_write_id).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/strings.h"
#include "tests/raft/test_cluster.h"
#include "core/testing/batch_printer.h"
#include "core/testing/script.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

using script::Invocation;

// Raft's storage keys with their big-endian index decoded ("raft/l/3").
std::string DescribeKey(const std::string& key) {
  for (std::string_view prefix : {kLogPrefix, kSnapDataPrefix}) {
    if (key.size() != prefix.size() + 8 || std::string_view(key).substr(0, prefix.size()) != prefix) continue;
    uint64_t index = 0;
    for (size_t i = prefix.size(); i < key.size(); ++i) index = (index << 8) | static_cast<unsigned char>(key[i]);
    return absl::StrCat(Absl(prefix), index == UINT64_MAX ? "max" : std::to_string(index));
  }
  return absl::CHexEscape(key);
}

std::string DescribeMessage(const OutboundMessage& m) {
  pb::Message msg;
  if (!msg.ParseFromString(m.payload)) return "(does not parse)";
  return TestCluster::Describe(msg);
}

class Interpreter {
 public:
  Interpreter() { Register(); }
  const script::CommandSet& commands() const { return commands_; }

 private:
  using Body = std::function<std::string(Invocation&)>;

  // A command whose output is the cluster's trace (logs, deliveries, applied entries, batches)
  // followed by what the body returns.
  void Add(std::string usage, std::string doc, std::string example, Body body, bool raw_words = false) {
    std::string name = usage.substr(0, usage.find(' '));
    const bool needs_cluster = name != "add-nodes";
    commands_.Add({.name = std::move(name),
                   .usage = std::move(usage),
                   .doc = std::move(doc),
                   .example = std::move(example),
                   .raw_words = raw_words,
                   .run = [this, body = std::move(body), needs_cluster](Invocation& in) {
                     trace_.clear();
                     if (needs_cluster && cluster_ == nullptr) {
                       in.Fail("add-nodes first");
                       return std::string();
                     }
                     std::string result = body(in);
                     if (!result.empty()) trace_.push_back(std::move(result));
                     return absl::StrJoin(trace_, "\n");
                   }});
  }

  // A node id argument that names a node of the cluster.
  NodeId Node(Invocation& in, size_t i) {
    const NodeId id{in.ArgUint(i)};
    if (!in.errors().empty()) return NodeId{1};
    if (!cluster_->Has(id)) {
      in.Fail(absl::StrCat("no node ", in.Arg(i)));
      return NodeId{1};
    }
    return id;
  }
  // An optional node id (absent or 0: any node).
  NodeId AnyNode(Invocation& in, size_t i) {
    if (!in.has_arg(i) || in.Arg(i) == "0") return NodeId{};
    return Node(in, i);
  }

  // Runs `fn` on node `id`'s raft unless the invocation already failed.
  void Run(Invocation& in, NodeId id, const std::function<void(Raft&, Time, Ready*)>& fn) {
    if (!in.errors().empty()) return;
    if (!cluster_->up(id)) {
      in.Fail(absl::StrCat("node ", id.value, " is down"));
      return;
    }
    cluster_->Run(id, [&](Raft& r, Ready* out) { fn(r, cluster_->now(id), out); });
  }

  static std::string StatusText(const absl::Status& s) { return s.ok() ? "" : s.ToString(); }

  void OnReady(NodeId id, const Ready& ready) {
    if (!print_batches_) return;
    script::BatchFormat format;
    format.describe_key = DescribeKey;
    format.describe_message = DescribeMessage;
    format.epoch = SimEpoch();
    if (std::string batch = script::FormatNodeBatch(ToString(id), ready.effects, format); !batch.empty()) {
      trace_.push_back(std::move(batch));
    }
  }

  void Register() {
    Add("add-nodes N [bootstrap=BOOL] [prevote=BOOL] [checkquorum=BOOL] [chunk=BYTES] [inflight=N] [msgbytes=N] "
        "[unsafe=RULE]",
        "adds N nodes with the next ids, bootstrapped as one configuration unless bootstrap=false; the options "
        "(only on the first call) set RaftOptions; unsafe= figure8 | reply-before-persist",
        "add-nodes 3 prevote=false", [this](Invocation& in) { return AddNodes(in); });
    Add("campaign ID", "ID starts an election now", "campaign 1", [this](Invocation& in) {
      Run(in, Node(in, 0), [](Raft& r, Time now, Ready* out) { r.Campaign(now, out); });
      return std::string();
    });
    Add("tick-election ID", "advances ID's clock by twice the election timeout and ticks it", "tick-election 1",
        [this](Invocation& in) { return Tick(in, 2 * base_options_.election_timeout); });
    Add("tick-heartbeat ID", "advances ID's clock by one heartbeat interval and ticks it", "tick-heartbeat 1",
        [this](Invocation& in) { return Tick(in, base_options_.heartbeat_interval); });
    Add("tick ID MS", "advances ID's clock by MS milliseconds and ticks it", "tick 1 100",
        [this](Invocation& in) { return Tick(in, absl::Milliseconds(in.ArgInt(1))); });
    Add("propose ID DATA", "ID proposes DATA (\"k=v\" sets k in the KV machine); prints its index", "propose 1 x=1",
        [this](Invocation& in) {
          absl::StatusOr<uint64_t> idx = absl::UnknownError("not run");
          Run(in, Node(in, 0), [&](Raft& r, Time now, Ready* out) { idx = r.Propose(now, in.Arg(1), out); });
          return idx.ok() ? absl::StrCat("index ", *idx) : idx.status().ToString();
        },
        /*raw_words=*/true);
    Add("propose-many ID COUNT PREFIX", "ID proposes COUNT entries PREFIX0, PREFIX1, ... in one batch",
        "propose-many 1 10 k", [this](Invocation& in) {
          std::vector<std::string> data;
          for (uint64_t i = 0; i < in.ArgUint(1); ++i) data.push_back(absl::StrCat(in.Arg(2), i));
          absl::Status s;
          Run(in, Node(in, 0), [&](Raft& r, Time now, Ready* out) { s = r.ProposeBatch(now, data, out); });
          return StatusText(s);
        });
    Add("persist [ID]", "makes every write of ID (or of every node) durable and releases what waited on it",
        "persist 1", [this](Invocation& in) {
          if (in.has_arg(0)) {
            if (const NodeId id = Node(in, 0); in.errors().empty()) cluster_->Persist(id);
          } else {
            for (NodeId id : cluster_->ids()) cluster_->Persist(id);
          }
          return std::string();
        });
    Add("deliver-msgs [ID]", "delivers the messages in flight (to ID only, if given), printing each", "deliver-msgs 2",
        [this](Invocation& in) {
          const NodeId to = AnyNode(in, 0);
          if (in.errors().empty()) cluster_->Deliver(to);
          return std::string();
        });
    Add("drop [FROM] [TO]", "drops the messages in flight from FROM to TO (absent or 0: any); prints how many",
        "drop 1 2", [this](Invocation& in) {
          const NodeId from = AnyNode(in, 0);
          const NodeId to = AnyNode(in, 1);
          return in.errors().empty() ? absl::StrCat("dropped ", cluster_->Drop(from, to)) : std::string();
        });
    Add("partition SIDES", "cuts every link between the two sides of SIDES, written A,B/C", "partition 1,2/3",
        [this](Invocation& in) {
          std::vector<std::string> sides = absl::StrSplit(in.Arg(0), '/');
          if (sides.size() != 2) {
            in.Fail("want two sides: A,B/C");
            return std::string();
          }
          for (absl::string_view l : absl::StrSplit(sides[0], ',')) {
            for (absl::string_view r : absl::StrSplit(sides[1], ',')) {
              uint64_t a = 0, b = 0;
              if (!absl::SimpleAtoi(l, &a) || !absl::SimpleAtoi(r, &b)) {
                in.Fail("node ids are numbers");
                return std::string();
              }
              cluster_->Block(NodeId{a}, NodeId{b});
              cluster_->Block(NodeId{b}, NodeId{a});
            }
          }
          return std::string();
        });
    Add("heal", "restores every cut link", "heal", [this](Invocation&) {
      cluster_->Heal();
      return std::string();
    });
    Add("stabilize", "persists and delivers until nothing is left in flight", "stabilize", [this](Invocation&) {
      return cluster_->Stabilize() ? std::string() : std::string("did not stabilize");
    });
    Add("status ID", "prints ID's role, term, vote, leader, commit, applied and log; a leader's peers too",
        "status 1", [this](Invocation& in) {
          const NodeId id = Node(in, 0);
          return in.errors().empty() ? StatusLine(cluster_->raft(id)) : std::string();
        });
    Add("log ID", "prints ID's snapshot and its log entries as term/index", "log 1", [this](Invocation& in) {
      const NodeId id = Node(in, 0);
      if (!in.errors().empty()) return std::string();
      const RaftLog& l = cluster_->raft(id).log();
      std::vector<std::string> es;
      for (uint64_t i = l.first_index(); i <= l.last_index(); ++i) es.push_back(absl::StrCat(l.At(i).term(), "/", i));
      return absl::StrCat("snapshot=", l.snapshot_term(), "/", l.snapshot_index(), " entries=[",
                          absl::StrJoin(es, " "), "]");
    });
    Add("crash ID", "ID stops and loses every write not yet durable", "crash 2", [this](Invocation& in) {
      if (const NodeId id = Node(in, 0); in.errors().empty()) cluster_->Crash(id);
      return std::string();
    });
    Add("restart ID", "a crashed ID starts again from its durable state", "restart 2", [this](Invocation& in) {
      const NodeId id = Node(in, 0);
      if (in.errors().empty() && cluster_->up(id)) in.Fail("node is up");
      if (in.errors().empty()) cluster_->Restart(id);
      return std::string();
    });
    for (auto [verb, change] : {std::pair{"add-voter", ConfChange::kAddVoter},
                                std::pair{"add-nonvoter", ConfChange::kAddNonVoter},
                                std::pair{"promote", ConfChange::kPromote}, std::pair{"remove", ConfChange::kRemove}}) {
      Add(absl::StrCat(verb, " ID TARGET"),
          absl::StrCat("leader ID proposes the membership change ", verb,
                       " of TARGET (a new TARGET is created, not bootstrapped)"),
          absl::StrCat(verb, " 1 4"), [this, change](Invocation& in) { return ChangeMembership(in, change); });
    }
    Add("transfer ID TARGET", "leader ID transfers leadership to TARGET", "transfer 1 2", [this](Invocation& in) {
      const NodeId target = Node(in, 1);
      absl::Status s;
      Run(in, Node(in, 0), [&](Raft& r, Time now, Ready* out) { s = r.TransferLeadership(now, target, out); });
      return StatusText(s);
    });
    Add("read-index ID CTX", "ID asks for a linearizable read index with context CTX (a number)", "read-index 1 7",
        [this](Invocation& in) {
          const uint64_t ctx = in.ArgUint(1);
          absl::Status s;
          Run(in, Node(in, 0), [&](Raft& r, Time now, Ready* out) { s = r.ReadIndex(now, ctx, out); });
          return StatusText(s);
        });
    Add("lease-read ID", "ID answers a read from its leader lease, if it holds one; prints the index", "lease-read 1",
        [this](Invocation& in) {
          const NodeId id = Node(in, 0);
          if (!in.errors().empty()) return std::string();
          absl::StatusOr<uint64_t> r = cluster_->raft(id).LeaseRead(cluster_->now(id));
          return r.ok() ? absl::StrCat("lease read at index ", *r) : r.status().ToString();
        });
    Add("compact ID", "ID snapshots its KV machine at its applied index and compacts its log", "compact 1",
        [this](Invocation& in) {
          const NodeId id = Node(in, 0);
          absl::Status s;
          Run(in, id, [&](Raft& r, Time now, Ready* out) {
            s = r.Compact(now, cluster_->fsm(id).applied(), cluster_->fsm(id).Snapshot(), out);
          });
          return StatusText(s);
        });
    Add("batch MODE",
        "on: from now on every batch a node hands out is printed whole (writes with id and sync; messages with "
        "channel, size and after_write_id; wake_at); off: no longer",
        "batch on", [this](Invocation& in) {
          print_batches_ = in.ArgOneOf(0, {"on", "off"}) == "on";
          return std::string();
        });
  }

  std::string AddNodes(Invocation& in) {
    const uint64_t n = in.ArgUint(0);
    if (cluster_ == nullptr) {
      RaftOptions& o = base_options_;
      o.pre_vote = in.OptionBool("prevote", o.pre_vote);
      o.check_quorum = in.OptionBool("checkquorum", o.check_quorum);
      o.snapshot_chunk_bytes = in.OptionUint("chunk", o.snapshot_chunk_bytes);
      o.inflight_msgs_max = in.OptionUint("inflight", o.inflight_msgs_max);
      o.msg_bytes_max = in.OptionUint("msgbytes", o.msg_bytes_max);
      const std::string unsafe = in.Option("unsafe", "");
      if (unsafe == "figure8") {
        o.unsafe_commit_previous_term = true;
      } else if (unsafe == "reply-before-persist") {
        o.unsafe_reply_before_persist = true;
      } else if (!unsafe.empty()) {
        in.Fail(absl::StrCat("unknown unsafe rule ", unsafe));
      }
      if (!in.errors().empty()) return "";
      cluster_ = std::make_unique<TestCluster>(o, &trace_);
      cluster_->set_ready_observer([this](NodeId id, const Ready& ready) { OnReady(id, ready); });
    } else {
      for (const char* key : {"prevote", "checkquorum", "chunk", "inflight", "msgbytes", "unsafe"}) {
        if (in.has_option(key)) in.Fail(absl::StrCat("option ", key, " only on the first add-nodes"));
      }
    }
    if (in.errors().empty()) cluster_->AddNodes(static_cast<int>(n), in.OptionBool("bootstrap", true));
    return "";
  }

  std::string Tick(Invocation& in, Duration advance) {
    const NodeId id = Node(in, 0);
    if (in.errors().empty() && !cluster_->up(id)) in.Fail(absl::StrCat("node ", id.value, " is down"));
    if (in.errors().empty()) cluster_->Tick(id, advance);
    return "";
  }

  std::string ChangeMembership(Invocation& in, ConfChange change) {
    const NodeId leader = Node(in, 0);
    const NodeId target{in.ArgUint(1)};
    if (!in.errors().empty()) return "";
    if (!cluster_->Has(target) && change != ConfChange::kRemove) cluster_->AddNodes(1, /*bootstrap=*/false);
    if (!cluster_->Has(target)) {
      in.Fail(absl::StrCat("node ", target.value, " is not the next id"));
      return "";
    }
    absl::Status s;
    Run(in, leader, [&](Raft& r, Time now, Ready* out) {
      s = r.ChangeMembership(now, change, target, absl::StrCat("n", target.value), out);
    });
    return StatusText(s);
  }

  static std::string StatusLine(const Raft& r) {
    Status s = r.GetStatus();
    std::string out = absl::StrCat(ToString(s.id), " ", Absl(RoleName(s.role)), " term=", s.term, " vote=", s.vote.value,
                                   " leader=", s.leader.value, " commit=", s.commit, " applied=", s.applied,
                                   " log=", s.first_index, "..", s.last_index);
    if (s.role == Role::kLeader) {
      for (const PeerStatus& p : s.peers) {
        absl::StrAppend(&out, "\n  ", ToString(p.id), p.voter ? " voter" : " nonvoter", " match=", p.match,
                        " next=", p.next, " ", Absl(p.state));
      }
    }
    return out;
  }

  script::CommandSet commands_;
  RaftOptions base_options_;
  std::vector<std::string> trace_;
  std::unique_ptr<TestCluster> cluster_;
  bool print_batches_ = false;
};

MUSTER_SCRIPT_TESTS(RaftScript, Interpreter, "tests/raft/testdata", 14);

}  // namespace
}  // namespace muster::raft
