// Data-driven protocol tests in the style of etcd raft's testdata: each file in testdata/
// tells one story as commands with the expected trace under "----". A reviewer reads the
// protocol in the diff. To regenerate expectations after an intended change:
//   RAFT_REWRITE=1 bazel run //core/raft:script_test
//
// Commands (node ids are numbers):
//   add-nodes N [bootstrap=false] [prevote=false] [checkquorum=false] [chunk=BYTES]
//             [inflight=N] [msgbytes=N] [unsafe=figure8]
//   campaign I | tick-election I | tick-heartbeat I | tick I MS
//   propose I DATA | propose-many I COUNT PREFIX
//   persist [I] | deliver-msgs [I] | drop [FROM] [TO] (0 = any) | partition A,B/C | heal
//   stabilize | status I | log I | crash I | restart I
//   add-voter I J | add-nonvoter I J | promote I J | remove I J | transfer I J
//   read-index I CTX | lease-read I | compact I
#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/raft/test_cluster.h"
#include "gtest/gtest.h"

namespace muster::raft {
namespace {

struct Case {
  std::string command;
  std::string expected;
};

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// A block: comment/command lines, "----", expected lines, then a blank line.
std::vector<Case> Parse(const std::vector<std::string>& lines, std::vector<std::string>* preambles) {
  std::vector<Case> cases;
  size_t i = 0;
  std::string preamble;
  while (i < lines.size()) {
    if (lines[i].empty() || lines[i][0] == '#') {
      preamble += lines[i] + "\n";
      ++i;
      continue;
    }
    Case c;
    c.command = lines[i++];
    EXPECT_TRUE(i < lines.size() && lines[i] == "----") << "expected ---- after " << c.command;
    ++i;
    while (i < lines.size() && !lines[i].empty()) c.expected += lines[i++] + "\n";
    preambles->push_back(preamble);
    preamble.clear();
    cases.push_back(std::move(c));
  }
  preambles->push_back(preamble);
  return cases;
}

NodeId Id(const std::string& s) { return NodeId{std::stoull(s)}; }

class Interpreter {
 public:
  std::string Run(const std::string& command) {
    trace_.clear();
    std::vector<std::string> args = absl::StrSplit(command, ' ', absl::SkipEmpty());
    std::string result = Execute(args);
    if (!result.empty()) trace_.push_back(result);
    if (trace_.empty()) return "ok\n";
    return absl::StrJoin(trace_, "\n") + "\n";
  }

 private:
  std::string Execute(const std::vector<std::string>& a) {
    const std::string& cmd = a[0];
    auto arg = [&](size_t i) -> const std::string& {
      static const std::string empty;
      return i < a.size() ? a[i] : empty;
    };
    if (cmd == "add-nodes") {
      RaftOptions o;
      bool bootstrap = true;
      for (size_t i = 2; i < a.size(); ++i) {
        std::vector<std::string> kv = absl::StrSplit(a[i], '=');
        if (kv[0] == "bootstrap") bootstrap = kv[1] == "true";
        if (kv[0] == "prevote") o.pre_vote = kv[1] == "true";
        if (kv[0] == "checkquorum") o.check_quorum = kv[1] == "true";
        if (kv[0] == "chunk") o.snapshot_chunk_bytes = std::stoull(kv[1]);
        if (kv[0] == "inflight") o.inflight_msgs_max = std::stoull(kv[1]);
        if (kv[0] == "unsafe" && kv[1] == "figure8") o.unsafe_commit_previous_term = true;
        if (kv[0] == "msgbytes") o.msg_bytes_max = std::stoull(kv[1]);
      }
      if (!cluster_) cluster_ = std::make_unique<TestCluster>(o, &trace_);
      cluster_->AddNodes(std::stoi(arg(1)), bootstrap);
      return "";
    }
    MUSTER_CHECK(cluster_ != nullptr, "add-nodes first");
    TestCluster& c = *cluster_;
    const RaftOptions o;
    if (cmd == "campaign") {
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) { r.Campaign(c.now(Id(arg(1))), out); });
    } else if (cmd == "tick-election") {
      c.Tick(Id(arg(1)), 2 * c.raft(Id(arg(1))).options().election_timeout);
    } else if (cmd == "tick-heartbeat") {
      c.Tick(Id(arg(1)), c.raft(Id(arg(1))).options().heartbeat_interval);
    } else if (cmd == "tick") {
      c.Tick(Id(arg(1)), absl::Milliseconds(std::stoll(arg(2))));
    } else if (cmd == "propose") {
      absl::StatusOr<uint64_t> idx;
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) { idx = r.Propose(c.now(Id(arg(1))), arg(2), out); });
      return idx.ok() ? absl::StrCat("index ", *idx) : idx.status().ToString();
    } else if (cmd == "propose-many") {
      std::vector<std::string> data;
      for (int i = 0; i < std::stoi(arg(2)); ++i) data.push_back(absl::StrCat(arg(3), i));
      absl::Status s;
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) { s = r.ProposeBatch(c.now(Id(arg(1))), data, out); });
      return s.ok() ? "" : s.ToString();
    } else if (cmd == "persist") {
      if (a.size() > 1) {
        c.Persist(Id(arg(1)));
      } else {
        for (NodeId id : c.ids()) c.Persist(id);
      }
    } else if (cmd == "deliver-msgs") {
      c.Deliver(a.size() > 1 ? Id(arg(1)) : NodeId{});
    } else if (cmd == "drop") {
      size_t n = c.Drop(a.size() > 1 ? Id(arg(1)) : NodeId{}, a.size() > 2 ? Id(arg(2)) : NodeId{});
      return absl::StrCat("dropped ", n);
    } else if (cmd == "partition") {
      std::vector<std::string> sides = absl::StrSplit(arg(1), '/');
      std::vector<std::string> left = absl::StrSplit(sides[0], ',');
      std::vector<std::string> right = absl::StrSplit(sides[1], ',');
      for (const auto& l : left) {
        for (const auto& r : right) {
          c.Block(Id(l), Id(r));
          c.Block(Id(r), Id(l));
        }
      }
    } else if (cmd == "heal") {
      c.Heal();
    } else if (cmd == "stabilize") {
      if (!c.Stabilize()) return "did not stabilize";
    } else if (cmd == "status") {
      return StatusLine(c.raft(Id(arg(1))));
    } else if (cmd == "log") {
      const RaftLog& l = c.raft(Id(arg(1))).log();
      std::vector<std::string> es;
      for (uint64_t i = l.first_index(); i <= l.last_index(); ++i) {
        es.push_back(absl::StrCat(l.At(i).term(), "/", i));
      }
      return absl::StrCat("snapshot=", l.snapshot_term(), "/", l.snapshot_index(), " entries=[", absl::StrJoin(es, " "), "]");
    } else if (cmd == "crash") {
      c.Crash(Id(arg(1)));
    } else if (cmd == "restart") {
      c.Restart(Id(arg(1)));
    } else if (cmd == "add-voter" || cmd == "add-nonvoter" || cmd == "promote" || cmd == "remove") {
      ConfChange ch = cmd == "add-voter" ? ConfChange::kAddVoter
                      : cmd == "add-nonvoter" ? ConfChange::kAddNonVoter
                      : cmd == "promote" ? ConfChange::kPromote
                                           : ConfChange::kRemove;
      NodeId target = Id(arg(2));
      if (!c.Has(target) && ch != ConfChange::kRemove) c.AddNodes(1, /*bootstrap=*/false);
      absl::Status s;
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) {
        s = r.ChangeMembership(c.now(Id(arg(1))), ch, target, absl::StrCat("n", target.value), out);
      });
      return s.ok() ? "" : s.ToString();
    } else if (cmd == "transfer") {
      absl::Status s;
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) { s = r.TransferLeadership(c.now(Id(arg(1))), Id(arg(2)), out); });
      return s.ok() ? "" : s.ToString();
    } else if (cmd == "read-index") {
      absl::Status s;
      c.Run(Id(arg(1)), [&](Raft& r, Ready* out) { s = r.ReadIndex(c.now(Id(arg(1))), std::stoull(arg(2)), out); });
      return s.ok() ? "" : s.ToString();
    } else if (cmd == "lease-read") {
      auto r = c.raft(Id(arg(1))).LeaseRead(c.now(Id(arg(1))));
      return r.ok() ? absl::StrCat("lease read at index ", *r) : r.status().ToString();
    } else if (cmd == "compact") {
      NodeId id = Id(arg(1));
      absl::Status s;
      c.Run(id, [&](Raft& r, Ready* out) { s = r.Compact(c.now(id), c.fsm(id).applied(), c.fsm(id).Snapshot(), out); });
      return s.ok() ? "" : s.ToString();
    } else {
      return absl::StrCat("unknown command: ", cmd);
    }
    return "";
  }

  std::string StatusLine(const Raft& r) {
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

  std::vector<std::string> trace_;
  std::unique_ptr<TestCluster> cluster_;
};

std::string TestdataDir() {
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY"); ws != nullptr) {
    return absl::StrCat(ws, "/core/raft/testdata");
  }
  return "core/raft/testdata";
}

std::vector<std::string> Files() {
  std::vector<std::string> out;
  DIR* d = opendir(TestdataDir().c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".txt") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

class ScriptTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScriptTest, Run) {
  const std::string path = absl::StrCat(TestdataDir(), "/", GetParam());
  std::vector<std::string> preambles;
  std::vector<Case> cases = Parse(ReadLines(path), &preambles);
  ASSERT_FALSE(cases.empty());
  const bool rewrite = std::getenv("RAFT_REWRITE") != nullptr;
  Interpreter interp;
  std::string rewritten;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string got = interp.Run(cases[i].command);
    rewritten += preambles[i] + cases[i].command + "\n----\n" + got;
    if (!rewrite) {
      EXPECT_EQ(cases[i].expected, got) << GetParam() << ": " << cases[i].command;
    }
  }
  if (preambles.back().find_first_not_of('\n') != std::string::npos) rewritten += preambles.back();
  if (rewrite) {
    std::ofstream out(path);
    out << rewritten;
  }
}

INSTANTIATE_TEST_SUITE_P(Testdata, ScriptTest, ::testing::ValuesIn(Files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param.substr(0, info.param.size() - 4);
                           for (char& ch : n) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace muster::raft
