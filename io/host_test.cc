// The libuv host drives the same ChatterMachine the simulator runs, over real UDP and TCP
// on loopback (127.0.20.0/24, used by no other test).
#include "io/host.h"

#include "gtest/gtest.h"
#include "io/memory_store.h"
#include "sim/chatter_machine.h"

namespace muster::io {
namespace {

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override { EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle leaked"; }

  // Runs the loop until `done` or the wall-clock budget runs out.
  bool RunUntil(const std::function<bool()>& done, absl::Duration budget) {
    // A repeating timer bounds how long one uv_run(ONCE) can block, so `done` is re-checked
    // at least every millisecond without spinning.
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 1, 1);
    const absl::Time deadline = absl::Now() + budget;
    while (!done() && absl::Now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);  // let the close finish before `tick` leaves scope
    return done();
  }

  void StopAll(std::vector<Host*> hosts) {
    int stopped = 0;
    for (Host* h : hosts) h->Stop([&] { ++stopped; });
    while (stopped < static_cast<int>(hosts.size())) uv_run(&loop_, UV_RUN_ONCE);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }

  uv_loop_t loop_;
};

void ExchangeOver(uv_loop_t* loop, Channel channel, const std::string& a_addr, const std::string& b_addr,
                  HostTest* test, const std::function<bool(const std::function<bool()>&, absl::Duration)>& run,
                  const std::function<void(std::vector<Host*>)>& stop) {
  sim::ChatterConfig config;
  config.peers = {a_addr, b_addr};
  config.channel = channel;
  config.persist_before_send = true;
  std::vector<sim::ChatterMachine*> live;
  MemoryStore store_a, store_b;
  Host a(loop, {NodeId{1}, a_addr, "", 1, nullptr, &store_a}, sim::ChatterMachine::Factory(config, &live));
  Host b(loop, {NodeId{2}, b_addr, "", 2, nullptr, &store_b}, sim::ChatterMachine::Factory(config, &live));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_EQ(live.size(), 2u);
  EXPECT_TRUE(run([&] { return live[0]->received().size() >= 20 && live[1]->received().size() >= 20; },
                  absl::Seconds(10)));
  for (const auto& r : live[1]->received()) EXPECT_EQ(r.from, a_addr);
  for (const auto& r : live[0]->received()) EXPECT_EQ(r.from, b_addr);
  // Every message was gated on a durable write; the store saw them and the machine heard back.
  EXPECT_GE(store_a.writes_applied(), 20u);
  EXPECT_FALSE(live[0]->durable_acks().empty());
  if (channel == Channel::kStream) {
    for (size_t i = 1; i < live[1]->received().size(); ++i) {
      EXPECT_EQ(live[1]->received()[i].seq, live[1]->received()[i - 1].seq + 1);
    }
  }
  stop({&a, &b});
}

TEST_F(HostTest, TwoHostsExchangeDatagrams) {
  ExchangeOver(&loop_, Channel::kDatagram, "127.0.20.1:27101", "127.0.20.2:27101", this,
               [&](auto done, auto budget) { return RunUntil(done, budget); }, [&](auto hosts) { StopAll(hosts); });
}

TEST_F(HostTest, TwoHostsExchangeOverStreamsInOrder) {
  ExchangeOver(&loop_, Channel::kStream, "127.0.20.3:27102", "127.0.20.4:27102", this,
               [&](auto done, auto budget) { return RunUntil(done, budget); }, [&](auto hosts) { StopAll(hosts); });
}

TEST_F(HostTest, RequestsAndProcessesRoundTrip) {
  sim::ChatterConfig config;
  config.messages_max = 0;
  MemoryStore store;
  Host host(&loop_, {NodeId{1}, "127.0.20.5:27103", "", 5, nullptr, &store}, sim::ChatterMachine::Factory(config));
  ASSERT_TRUE(host.Start().ok());
  std::vector<std::string> answers;
  host.Request("get", "", [&](const Response& r) { answers.push_back(r.body); });
  host.Request("exec", "echo from-a-script; exit 4", [&](const Response& r) { answers.push_back(r.body); });
  EXPECT_TRUE(RunUntil([&] { return answers.size() == 2; }, absl::Seconds(10)));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], "seq=0");
  EXPECT_EQ(answers[1], "exit=4 from-a-script\n");
  StopAll({&host});
}

// MachineContext::incarnation counts the starts of a node over one store, as the simulator
// counts restarts (before, io left it 0 on every start).
TEST_F(HostTest, EachStartOfANodeIsAnotherIncarnation) {
  sim::ChatterConfig config;
  MemoryStore store;
  std::vector<uint64_t> seen;
  MachineFactory chatter = sim::ChatterMachine::Factory(config);
  auto recording = [&](const MachineContext& ctx) {
    seen.push_back(ctx.incarnation);
    return chatter(ctx);
  };
  for (int start = 0; start < 3; ++start) {
    Host h(&loop_, {NodeId{1}, "", "", 9, nullptr, &store}, recording);
    ASSERT_TRUE(h.Start().ok());
    StopAll({&h});
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(store.Get(kIncarnationKey), "3");
  // A value the host cannot read is a clear error, not a guess.
  StorageWrite w;
  w.Put(std::string(kIncarnationKey), "garbage");
  ASSERT_TRUE(store.Apply(w).ok());
  Host h(&loop_, {NodeId{1}, "", "", 9, nullptr, &store}, recording);
  EXPECT_EQ(h.Start().code(), absl::StatusCode::kDataLoss);
}

TEST_F(HostTest, PortInUseIsAClearErrorNotACrash) {
  sim::ChatterConfig config;
  MemoryStore s1, s2;
  Host first(&loop_, {NodeId{1}, "127.0.20.6:27104", "", 6, nullptr, &s1}, sim::ChatterMachine::Factory(config));
  ASSERT_TRUE(first.Start().ok());
  Host second(&loop_, {NodeId{2}, "127.0.20.6:27104", "", 7, nullptr, &s2}, sim::ChatterMachine::Factory(config));
  absl::Status status = second.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(std::string(status.message()).find("127.0.20.6:27104"), std::string::npos) << status;
  Host bad(&loop_, {NodeId{3}, "not-an-address", "", 8, nullptr, &s2}, sim::ChatterMachine::Factory(config));
  absl::Status bad_status = bad.Start();
  EXPECT_EQ(bad_status.code(), absl::StatusCode::kInvalidArgument) << bad_status;
  StopAll({&first, &second, &bad});
}

}  // namespace
}  // namespace muster::io
