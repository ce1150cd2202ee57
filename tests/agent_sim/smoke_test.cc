// The agent machine's first story under the simulator: three servers with -bootstrap-expect=3
// wait for each other, bootstrap, elect one leader, and a write through a follower is read
// back from every server.
#include <cstdio>

#include "gtest/gtest.h"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

class PrintSink final : public LogSink {
 public:
  void Write(Time now, LogLevel level, std::string_view component, std::string_view message) override {
    if (std::getenv("AGENT_SIM_LOG") != nullptr) {
      std::fprintf(stderr, "%s [%s] %.*s: %.*s\n", absl::FormatTime("%H:%M:%E3S", now, absl::UTCTimeZone()).c_str(),
                   std::string(LogLevelName(level)).c_str(), static_cast<int>(component.size()), component.data(),
                   static_cast<int>(message.size()), message.data());
    }
    lines.push_back(absl::StrCat(std::string(component), ": ", std::string(message)));
  }
  std::vector<std::string> lines;
};

TEST(AgentSmoke, ThreeServersBootstrapElectAndReplicate) {
  sim::Simulator sim(7);
  PrintSink sink;
  sim.set_log_sink(&sink);
  std::vector<NodeId> nodes;
  for (int i = 1; i <= 3; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = 3;
    if (i > 1) spec.join = {LanAddress(1)};
    nodes.push_back(AddAgent(sim, spec));
  }
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, absl::Seconds(30)));
  sim.RunFor(absl::Seconds(3));
  ASSERT_EQ(Leaders(sim).size(), 1u);
  proto::agent::Call put;
  put.set_key("hello");
  put.set_value("world");
  NodeId follower = nodes[0] == Leaders(sim)[0] ? nodes[1] : nodes[0];
  auto w = Send(sim, follower, "kv.put", put);
  ASSERT_TRUE(sim.RunUntil([&] { return w->answered; }, absl::Seconds(10)));
  ASSERT_TRUE(w->status.ok()) << w->status;
  EXPECT_EQ(w->reply.body(), "true");
  for (NodeId n : nodes) {
    proto::agent::Call get;
    get.set_key("hello");
    get.set_raw(true);
    auto r = Send(sim, n, "kv.get", get);
    ASSERT_TRUE(sim.RunUntil([&] { return r->answered; }, absl::Seconds(10)));
    ASSERT_TRUE(r->status.ok()) << r->status;
    EXPECT_EQ(r->reply.body(), "world");
  }
  auto nodes_reply = Send(sim, nodes[2], "catalog.nodes", proto::agent::Call());
  sim.RunFor(absl::Seconds(5));
  ASSERT_TRUE(nodes_reply->answered);
  EXPECT_NE(nodes_reply->reply.body().find("\"s3\""), std::string::npos) << nodes_reply->reply.body();
  // The WAN flood: every server's WAN pool holds the three servers of dc1.
  for (NodeId n : nodes) {
    const gossip::Serf* wan = AgentAt(sim, n)->wan();
    ASSERT_NE(wan, nullptr);
    EXPECT_EQ(wan->NumAliveMembers(), 3) << ToString(n);
    EXPECT_NE(wan->member("s2.dc1"), nullptr);
  }
  bool expecting = false, found = false;
  for (const std::string& l : sink.lines) {
    expecting |= l.find("bootstrap_expect > 0: expecting 3 servers") != std::string::npos;
    found |= l.find("Found expected number of peers") != std::string::npos;
  }
  EXPECT_TRUE(expecting);
  EXPECT_TRUE(found);
}

// A blocking query through a follower is forwarded and parked at the leader (default mode) or
// parked on the follower itself (stale), and both answer once another server's write touches
// the key, not before.
TEST(AgentSmoke, BlockingQueriesThroughAFollowerAnswerWhenTheKeyChanges) {
  sim::Simulator sim(11);
  std::vector<NodeId> nodes;
  for (int i = 1; i <= 3; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = 3;
    if (i > 1) spec.join = {LanAddress(1)};
    nodes.push_back(AddAgent(sim, spec));
  }
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, absl::Seconds(30)));
  sim.RunFor(absl::Seconds(3));
  const NodeId leader = Leaders(sim)[0];
  std::vector<NodeId> followers;
  for (NodeId n : nodes) {
    if (n != leader) followers.push_back(n);
  }
  proto::agent::Call put;
  put.set_key("blocking");
  put.set_value("one");
  auto first = Send(sim, leader, "kv.put", put);
  ASSERT_TRUE(sim.RunUntil([&] { return first->answered; }, absl::Seconds(5)));
  sim.RunFor(absl::Seconds(1));
  proto::agent::Call get;
  get.set_key("blocking");
  get.set_min_index(first->reply.index());
  get.set_wait_ms(60'000);
  auto forwarded = Send(sim, followers[0], "kv.get", get);
  get.set_consistency("stale");
  auto local = Send(sim, followers[1], "kv.get", get);
  sim.RunFor(absl::Seconds(10));
  EXPECT_FALSE(forwarded->answered);
  EXPECT_FALSE(local->answered);
  put.set_value("two");
  auto second = Send(sim, followers[1], "kv.put", put);
  ASSERT_TRUE(sim.RunUntil([&] { return second->answered && forwarded->answered && local->answered; },
                           absl::Seconds(5)));
  for (const auto& r : {forwarded, local}) {
    ASSERT_TRUE(r->status.ok()) << r->status;
    EXPECT_GT(r->reply.index(), first->reply.index());
    EXPECT_NE(r->reply.body().find("dHdv"), std::string::npos) << r->reply.body();  // base64 "two"
  }
}

}  // namespace
}  // namespace muster::agent_sim
