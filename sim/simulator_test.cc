// The simulator kernel: determinism (a seed reproduces a run, bit for bit), time, pauses,
// kills and restarts, requests and processes.
#include "sim/simulator.h"

#include "gtest/gtest.h"
#include "sim/chatter_machine.h"

namespace muster::sim {
namespace {

std::vector<Address> Peers(int n) {
  std::vector<Address> peers;
  for (int i = 1; i <= n; ++i) peers.push_back(ToString(NodeId{static_cast<uint64_t>(i)}));
  return peers;
}

// A run with every fault the kernel has: loss, duplication, jitter, a partition healed on a
// schedule, a one-way cut, a kill with a torn write and a restart, and a pause.
uint64_t FaultyRunFingerprint(uint64_t seed) {
  Simulator sim(seed);
  LinkConfig link;
  link.loss = 0.1;
  link.duplicate = 0.05;
  link.latency_jitter_mean = absl::Milliseconds(3);
  sim.network().SetDefaultLink(link);
  ChatterConfig config;
  config.peers = Peers(5);
  config.persist_before_send = true;
  for (int i = 0; i < 5; ++i) sim.AddNode(ChatterMachine::Factory(config));
  const auto all = sim.nodes();
  sim.At(SimEpoch() + absl::Milliseconds(100), [&] { sim.network().Partition({all[0], all[1]}, {all[2], all[3], all[4]}); });
  sim.At(SimEpoch() + absl::Milliseconds(300), [&] { sim.network().Heal(); });
  sim.At(SimEpoch() + absl::Milliseconds(350), [&] { sim.network().PartitionOneWay({all[4]}, {all[0]}); });
  sim.At(SimEpoch() + absl::Milliseconds(400), [&] { sim.Kill(all[2], /*torn_write=*/true); });
  sim.At(SimEpoch() + absl::Milliseconds(500), [&] { sim.Restart(all[2]); });
  sim.At(SimEpoch() + absl::Milliseconds(600), [&] { sim.Pause(all[3], absl::Milliseconds(50)); });
  sim.At(SimEpoch() + absl::Milliseconds(700), [&] { sim.network().Heal(); });
  sim.RunFor(absl::Seconds(1));
  EXPECT_GT(sim.events_processed(), 1000u);
  return sim.fingerprint();
}

TEST(SimulatorDeterminismTest, SameSeedSameFingerprint) {
  EXPECT_EQ(FaultyRunFingerprint(1), FaultyRunFingerprint(1));
  EXPECT_EQ(FaultyRunFingerprint(0xfeedface), FaultyRunFingerprint(0xfeedface));
}

TEST(SimulatorDeterminismTest, DifferentSeedsDifferentFingerprints) {
  std::set<uint64_t> seen;
  for (uint64_t seed = 1; seed <= 20; ++seed) seen.insert(FaultyRunFingerprint(seed));
  EXPECT_EQ(seen.size(), 20u);
}

TEST(SimulatorTest, TimeJumpsToNextEvent) {
  Simulator sim(3);
  std::vector<Time> fired;
  sim.At(SimEpoch() + absl::Hours(5), [&] { fired.push_back(sim.now()); });
  sim.At(SimEpoch() + absl::Seconds(1), [&] { fired.push_back(sim.now()); });
  sim.At(SimEpoch() + absl::Seconds(1), [&] { fired.push_back(sim.now() + absl::Nanoseconds(1)); });
  int steps = 0;
  while (sim.Step()) ++steps;
  EXPECT_EQ(steps, 3);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0], SimEpoch() + absl::Seconds(1));
  // Equal times run in insertion order.
  EXPECT_EQ(fired[1], SimEpoch() + absl::Seconds(1) + absl::Nanoseconds(1));
  EXPECT_EQ(fired[2], SimEpoch() + absl::Hours(5));
}

TEST(SimulatorTest, MachinesAreWokenAtTheirRequestedTimes) {
  Simulator sim(4);
  std::vector<ChatterMachine*> live;
  ChatterConfig config;
  config.peers = Peers(2);
  config.period = absl::Milliseconds(100);
  config.messages_max = 5;
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.RunFor(absl::Seconds(10));
  EXPECT_EQ(live[0]->sent_rounds(), 5u);
  ASSERT_EQ(live[1]->received().size(), 5u);
  // Rounds are at least a period apart, so the wake-ups were honoured, not run early.
  for (size_t i = 1; i < live[1]->received().size(); ++i) {
    EXPECT_GE(live[1]->received()[i].at - live[1]->received()[i - 1].at, absl::Milliseconds(90));
  }
}

TEST(SimulatorTest, PausedNodeHandlesInputsLateAndInOrder) {
  Simulator sim(5);
  std::vector<ChatterMachine*> live;
  ChatterConfig config;
  config.peers = Peers(2);
  config.channel = Channel::kStream;
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.RunFor(absl::Milliseconds(100));
  const size_t before = live[1]->received().size();
  sim.Pause(NodeId{2}, absl::Milliseconds(500));
  sim.RunFor(absl::Milliseconds(499));
  EXPECT_EQ(live[1]->received().size(), before) << "a paused node must not run";
  sim.RunFor(absl::Milliseconds(2));
  EXPECT_GT(live[1]->received().size(), before + 30);
  for (size_t i = 1; i < live[1]->received().size(); ++i) {
    EXPECT_EQ(live[1]->received()[i].seq, live[1]->received()[i - 1].seq + 1) << "streams stay ordered";
  }
}

TEST(SimulatorTest, KillDropsInFlightAndRestartRecoversFromDurableStorage) {
  Simulator sim(6);
  std::vector<ChatterMachine*> live;
  ChatterConfig config;
  config.peers = Peers(2);
  config.persist_before_send = true;
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.RunFor(absl::Milliseconds(200));
  // What node 2 received from node 1 was sent only after node 1's counter was durable,
  // so node 1's recovered counter must be at least the highest seq node 2 saw.
  uint64_t highest_seen = 0;
  for (const auto& r : live[1]->received()) highest_seen = std::max(highest_seen, r.seq);
  ASSERT_GT(highest_seen, 5u);
  sim.Kill(NodeId{1});
  EXPECT_FALSE(sim.IsUp(NodeId{1}));
  EXPECT_EQ(sim.machine(NodeId{1}), nullptr);
  sim.RunFor(absl::Milliseconds(50));
  sim.Restart(NodeId{1});
  EXPECT_GE(live[0]->recovered_seq(), highest_seen);
  sim.RunFor(absl::Milliseconds(100));
  EXPECT_GT(live[0]->sent_rounds(), live[0]->recovered_seq());
}

TEST(SimulatorTest, RequestsAreAnsweredAndProcessesRun) {
  Simulator sim(7);
  ChatterConfig config;
  config.messages_max = 0;
  sim.AddNode(ChatterMachine::Factory(config));
  sim.set_process_runner([](NodeId, const ProcessStart& p) {
    ProcessExitedInput r;
    r.exit_code = p.command == "true" ? 0 : 2;
    r.output = "ran " + p.command;
    return r;
  });
  std::vector<std::string> answers;
  sim.Request(NodeId{1}, "get", "", [&](const Response& r) { answers.push_back(r.body); });
  sim.Request(NodeId{1}, "exec", "false", [&](const Response& r) { answers.push_back(r.body); });
  sim.RunFor(absl::Seconds(1));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], "seq=0");
  EXPECT_EQ(answers[1], "exit=2 ran false");
}

TEST(SimulatorTest, ProcessesEndHealthyByDefaultAndTimeoutsAfterTheirTimeout) {
  ProcessStart http;
  http.kind = ProcessStart::Kind::kHttp;
  EXPECT_EQ(Simulator::HealthyEnd(http).exit_code, 200);
  ProcessStart tcp;
  tcp.kind = ProcessStart::Kind::kTcp;
  EXPECT_EQ(Simulator::HealthyEnd(tcp).exit_code, 0);
  EXPECT_EQ(Simulator::HealthyEnd(ProcessStart{}).exit_code, 0);

  // The chatter machine gives its processes a 1 s timeout: a timed-out end comes then.
  Simulator sim(9);
  ChatterConfig config;
  config.messages_max = 0;
  sim.AddNode(ChatterMachine::Factory(config));
  sim.set_process_runner([](NodeId, const ProcessStart& p) {
    ProcessExitedInput r;
    r.timed_out = p.command == "hang";
    return r;
  });
  std::vector<std::string> answers;
  sim.Request(NodeId{1}, "exec", "hang", [&](const Response& r) { answers.push_back(r.body); });
  sim.Request(NodeId{1}, "exec", "quick", [&](const Response& r) { answers.push_back(r.body); });
  sim.RunFor(absl::Milliseconds(900));
  EXPECT_EQ(answers.size(), 1u) << "the timed-out one came before its timeout";
  sim.RunFor(absl::Milliseconds(200));
  EXPECT_EQ(answers.size(), 2u);
}

TEST(SimulatorTest, RequestToCrashedNodeIsNeverAnswered) {
  Simulator sim(8);
  ChatterConfig config;
  config.messages_max = 0;
  sim.AddNode(ChatterMachine::Factory(config));
  sim.set_process_delay(absl::Seconds(1));
  bool answered = false;
  sim.Request(NodeId{1}, "exec", "sleep", [&](const Response&) { answered = true; });
  sim.RunFor(absl::Milliseconds(10));
  sim.Kill(NodeId{1});
  sim.Restart(NodeId{1});
  sim.RunFor(absl::Seconds(5));
  EXPECT_FALSE(answered);
}

TEST(SimulatorTest, RunUntilConditionStopsEarlyOrAtBudget) {
  Simulator sim(9);
  std::vector<ChatterMachine*> live;
  ChatterConfig config;
  config.peers = Peers(2);
  sim.AddNode(ChatterMachine::Factory(config, &live));
  sim.AddNode(ChatterMachine::Factory(config, &live));
  EXPECT_TRUE(sim.RunUntil([&] { return live[1]->received().size() >= 10; }, absl::Seconds(10)));
  EXPECT_LT(sim.now(), SimEpoch() + absl::Seconds(1));
  const Time start = sim.now();
  EXPECT_FALSE(sim.RunUntil([] { return false; }, absl::Seconds(2)));
  EXPECT_EQ(sim.now(), start + absl::Seconds(2));
}

// Sends one message of `bytes` to n1 on its first input, over `channel`.
class OneShot final : public Machine {
 public:
  OneShot(size_t bytes, Channel channel) : bytes_(bytes), channel_(channel) {}
  void Step(const Input&, Effects* out) override {
    if (sent_) return;
    sent_ = true;
    out->messages.push_back({"n1", channel_, std::string(bytes_, 'x'), 0});
  }

 private:
  size_t bytes_;
  Channel channel_;
  bool sent_ = false;
};

MachineFactory OneShotFactory(size_t bytes, Channel channel) {
  return [=](const MachineContext&) { return std::make_unique<OneShot>(bytes, channel); };
}

// Sends one message to `to` over `channel` at its start and on every "send" request, and
// records the broken streams it is told of.
class Streamer final : public Machine {
 public:
  Streamer(Address to, Channel channel, std::vector<StreamBrokenInput>* broken)
      : to_(std::move(to)), channel_(channel), broken_(broken) {}
  void Step(const Input& input, Effects* out) override {
    const auto* r = std::get_if<RequestInput>(&input.what);
    if ((!started_ || r != nullptr) && !to_.empty()) out->messages.push_back({to_, channel_, "hello", 0});
    started_ = true;
    if (r != nullptr) out->responses.push_back({r->request_id, absl::OkStatus(), ""});
    if (const auto* b = std::get_if<StreamBrokenInput>(&input.what)) broken_->push_back(*b);
  }

 private:
  Address to_;
  Channel channel_;
  std::vector<StreamBrokenInput>* broken_;
  bool started_ = false;
};

MachineFactory StreamerFactory(Address to, Channel channel, std::vector<StreamBrokenInput>* broken) {
  return [=](const MachineContext&) { return std::make_unique<Streamer>(to, channel, broken); };
}

// A killed node's peers learn at once (a RST) that their streams to and from it broke: the
// sender for the address it sent to, the receiver for the address the frames came from.
TEST(SimulatorStreamBrokenTest, KillTellsEveryStreamPeerOnce) {
  for (const bool kill_receiver : {true, false}) {
    Simulator sim(7);
    std::vector<StreamBrokenInput> at_n1, at_n2;
    sim.AddNode(StreamerFactory("", Channel::kStream, &at_n1));
    sim.AddNode(StreamerFactory("n1", Channel::kStream, &at_n2));
    sim.RunFor(absl::Milliseconds(100));
    ASSERT_EQ(sim.stats(NodeId{1}).messages_received, 1u);
    sim.Kill(NodeId{kill_receiver ? 1u : 2u});
    sim.RunFor(absl::Milliseconds(5));
    const std::vector<StreamBrokenInput>& told = kill_receiver ? at_n2 : at_n1;
    ASSERT_EQ(told.size(), 1u) << kill_receiver;
    EXPECT_EQ(told[0].peer, kill_receiver ? "n1" : "n2");
    EXPECT_EQ(told[0].endpoint, Endpoint::kLan);
    EXPECT_FALSE(told[0].unsent);
    EXPECT_TRUE((kill_receiver ? at_n1 : at_n2).empty());
    sim.RunFor(absl::Seconds(1));
    EXPECT_EQ(told.size(), 1u) << "one per connection";
  }
}

// A stream send to a node that is down is refused: one StreamBroken (unsent) per connection
// attempt, after the round trip; a datagram to it vanishes silently.
TEST(SimulatorStreamBrokenTest, SendToDownNodeIsRefusedOnceAttempt) {
  Simulator sim(8);
  std::vector<StreamBrokenInput> at_n1, at_n2, at_n3;
  sim.AddNode(StreamerFactory("", Channel::kStream, &at_n1));
  sim.AddNode(StreamerFactory("n1", Channel::kStream, &at_n2));
  sim.AddNode(StreamerFactory("n1", Channel::kDatagram, &at_n3));
  sim.RunFor(absl::Milliseconds(100));
  sim.Kill(NodeId{1});
  sim.RunFor(absl::Milliseconds(100));
  ASSERT_EQ(at_n2.size(), 1u);  // the kill
  sim.Request(NodeId{2}, "send", "", nullptr);
  sim.Request(NodeId{2}, "send", "", nullptr);  // the same attempt: no second report
  sim.Request(NodeId{3}, "send", "", nullptr);
  sim.RunFor(absl::Milliseconds(100));
  ASSERT_EQ(at_n2.size(), 2u);
  EXPECT_EQ(at_n2[1].peer, "n1");
  EXPECT_TRUE(at_n2[1].unsent);
  EXPECT_TRUE(at_n3.empty()) << "never for datagrams";
  sim.Request(NodeId{2}, "send", "", nullptr);  // a new attempt after the first was reported
  sim.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(at_n2.size(), 3u);
  sim.Restart(NodeId{1});
  sim.Request(NodeId{2}, "send", "", nullptr);
  sim.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(at_n2.size(), 3u) << "a node that is up again takes the stream";
}

// A partition looks like silence, not a reset: a kill behind it, or a send to a node down
// behind it, reports nothing; and the same seed gives the same run.
TEST(SimulatorStreamBrokenTest, PartitionIsSilenceAndRunsRepeat) {
  auto run = [](uint64_t seed, bool partitioned) {
    Simulator sim(seed);
    std::vector<StreamBrokenInput> at_n1, at_n2;
    sim.AddNode(StreamerFactory("", Channel::kStream, &at_n1));
    sim.AddNode(StreamerFactory("n1", Channel::kStream, &at_n2));
    sim.RunFor(absl::Milliseconds(100));
    if (partitioned) sim.network().Partition({NodeId{1}}, {NodeId{2}});
    sim.Kill(NodeId{1});
    sim.RunFor(absl::Milliseconds(100));
    sim.Request(NodeId{2}, "send", "", nullptr);
    sim.RunFor(absl::Milliseconds(100));
    return std::make_pair(at_n2.size(), sim.fingerprint());
  };
  EXPECT_EQ(run(3, true).first, 0u);
  EXPECT_EQ(run(3, false).first, 2u);
  EXPECT_EQ(run(3, false).second, run(3, false).second);
}

// Issue 10 item 6: the datagram limit (core/seam/channel.h) is checked for every machine the
// simulator hosts, not only by the gossip harness; the failure names the node.
TEST(SimulatorDeathTest, OversizedDatagramFromAnyMachineFails) {
  auto run = [](size_t bytes, Channel channel) {
    Simulator sim(1);
    sim.AddNode(OneShotFactory(0, Channel::kDatagram));
    sim.AddNode(OneShotFactory(bytes, channel));
    sim.RunFor(absl::Milliseconds(10));
    return sim.stats(NodeId{2}).messages_sent;
  };
  EXPECT_EQ(run(kDatagramPayloadBytesMax, Channel::kDatagram), 1u);
  EXPECT_EQ(run(64 << 10, Channel::kStream), 1u) << "streams have no datagram limit";
  EXPECT_DEATH(run(kDatagramPayloadBytesMax + 1, Channel::kDatagram), "oversized datagram from n2: 1401 bytes");
}

}  // namespace
}  // namespace muster::sim
