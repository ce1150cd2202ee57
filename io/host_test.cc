// The libuv host drives the same ChatterMachine the simulator runs, over real UDP and TCP
// on loopback (127.0.20.0/24, 127.0.0.65-69 and [::1] ports 27325-27328, used by no other
// test), and a small ledger machine through group commit with a slow memory store: syncs
// shared by the writes issued during one, nothing gated leaving early, the loop serving while
// a sync runs, shutdown during a sync, and a sync that fails. An echo machine shows the
// endpoints (LAN, RPC, WAN): each message leaves from its own and arrives on the peer's.
#include "io/host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/memory_store.h"
#include "io/socket_address.h"
#include "sim/chatter_machine.h"

namespace muster::io {
namespace {

// What a LedgerMachine saw, kept outside it so a test can read it after the host is gone.
struct Ledger {
  std::vector<uint64_t> durable_ids;   // WriteDurableInput, in arrival order
  std::vector<uint64_t> received_ids;  // ids heard from the peer
  uint64_t steps = 0;
  uint64_t ticks = 0;
  std::function<void(uint64_t id)> on_received;  // may be empty
};

// For the group-commit tests. Requests: "write" issues one sync write and answers its id once
// the write is durable; "send" does the same and also sends the id to `peer`, gated on it;
// "log" issues a sync write and answers at once, ungated (as a follower's log append gates
// only its messages); "read" answers at once with how many WriteDurableInputs it has had;
// "wake" asks for a tick 10 ms later. Write ids count from 1 in each life.
class LedgerMachine final : public Machine {
 public:
  LedgerMachine(Ledger* ledger, Address peer) : ledger_(ledger), peer_(std::move(peer)) {}

  void Step(const Input& input, Effects* out) override {
    ++ledger_->steps;
    if (std::holds_alternative<TickInput>(input.what)) {
      if (wake_at_.has_value() && input.now >= *wake_at_) {
        ++ledger_->ticks;
        wake_at_.reset();
      }
    } else if (const auto* d = std::get_if<WriteDurableInput>(&input.what)) {
      ledger_->durable_ids.push_back(d->write_id);
    } else if (const auto* m = std::get_if<MessageInput>(&input.what)) {
      uint64_t id = 0;
      MUSTER_CHECK(absl::SimpleAtoi(m->payload, &id), "bad payload");
      ledger_->received_ids.push_back(id);
      if (ledger_->on_received) ledger_->on_received(id);
    } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
      if (r->method == "write" || r->method == "send" || r->method == "log") {
        StorageWrite w;
        w.id = next_write_id_++;
        w.sync = true;
        w.Put(absl::StrCat("ledger/", w.id), r->body);
        const uint64_t gate = r->method == "log" ? 0 : w.id;
        out->responses.push_back({r->request_id, absl::OkStatus(), absl::StrCat(w.id), gate});
        if (r->method == "send") out->messages.push_back({peer_, Channel::kDatagram, absl::StrCat(w.id), w.id});
        out->writes.push_back(std::move(w));
      } else if (r->method == "read") {
        out->responses.push_back({r->request_id, absl::OkStatus(), absl::StrCat(ledger_->durable_ids.size()), 0});
      } else if (r->method == "wake") {
        wake_at_ = input.now + absl::Milliseconds(10);
        out->responses.push_back({r->request_id, absl::OkStatus(), "", 0});
      }
    }
    if (wake_at_.has_value()) out->WakeAt(*wake_at_);
  }

  static MachineFactory Factory(Ledger* ledger, Address peer = "") {
    return [ledger, peer](const MachineContext&) { return std::make_unique<LedgerMachine>(ledger, peer); };
  }

 private:
  Ledger* ledger_;
  Address peer_;
  uint64_t next_write_id_ = 1;
  std::optional<Time> wake_at_;
};

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

  // Stops the hosts when a test ends, however it ends: an ASSERT that returns early would
  // otherwise destroy a running Host (with a sync in flight) and crash the whole binary.
  class StopOnExit {
   public:
    StopOnExit(HostTest* test, std::vector<Host*> hosts) : test_(test), hosts_(std::move(hosts)) {}
    ~StopOnExit() { Now(); }
    void Now() {
      if (!hosts_.empty()) test_->StopAll(std::exchange(hosts_, {}));
    }

   private:
    HostTest* test_;
    std::vector<Host*> hosts_;
  };

  uv_loop_t loop_;
};

// What an EchoMachine heard and was started with, kept outside it for the test to read.
struct EchoLog {
  std::array<Address, kEndpointCount> endpoints;  // its MachineContext's
  std::vector<MessageInput> heard;
  std::vector<OutboundMessage> to_send;  // sent on the next "flush" request
  int starts = 0;
};

// Answers every message with "echo:" + its payload, to its sender over the endpoint and
// channel it arrived on (as an agent answers an RPC on the RPC port), and sends what the test
// queued in its log when asked ("flush").
class EchoMachine final : public Machine {
 public:
  explicit EchoMachine(EchoLog* log) : log_(log) {}

  void Step(const Input& input, Effects* out) override {
    if (const auto* m = std::get_if<MessageInput>(&input.what)) {
      log_->heard.push_back(*m);
      if (m->payload.rfind("echo:", 0) != 0) {
        out->messages.push_back({m->from, m->channel, absl::StrCat("echo:", m->payload), 0, m->endpoint});
      }
    } else if (const auto* r = std::get_if<RequestInput>(&input.what)) {
      for (OutboundMessage& message : std::exchange(log_->to_send, {})) out->messages.push_back(std::move(message));
      out->responses.push_back({r->request_id, absl::OkStatus(), "", 0});
    }
  }

  static MachineFactory Factory(EchoLog* log) {
    return [log](const MachineContext& ctx) {
      log->endpoints = ctx.endpoints;
      ++log->starts;
      return std::make_unique<EchoMachine>(log);
    };
  }

 private:
  EchoLog* log_;
};

Host::Options EndpointOptions(NodeId id, Address lan, Address rpc, Address wan, DurableStore* store) {
  Host::Options options;
  options.id = id;
  options.seed = id.value;
  options.store = store;
  options.bind = std::move(lan);
  options.rpc.bind = std::move(rpc);
  options.wan.bind = std::move(wan);
  return options;
}

const MessageInput* Heard(const EchoLog& log, const std::string& payload) {
  for (const MessageInput& m : log.heard) {
    if (m.payload == payload) return &m;
  }
  return nullptr;
}

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

// [::1] through the host, as `-bind=::1` runs it: addresses bracketed, senders named so.
TEST_F(HostTest, TwoHostsExchangeOverIpv6Loopback) {
  {
    uv_udp_t probe;
    uv_udp_init(&loop_, &probe);
    const int rc = uv_udp_bind(&probe, ParseSocketAddress("[::1]:0")->get(), 0);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    // IPv6 loopback is part of what the agent supports (tests/integration:ipv6_test too): a
    // machine without ::1 fails here, naming why, rather than skipping.
    ASSERT_EQ(rc, 0) << "binding [::1]:0: " << uv_strerror(rc);
  }
  auto run = [&](auto done, auto budget) { return RunUntil(done, budget); };
  auto stop = [&](auto hosts) { StopAll(hosts); };
  ExchangeOver(&loop_, Channel::kDatagram, "[::1]:27325", "[::1]:27326", this, run, stop);
  ExchangeOver(&loop_, Channel::kStream, "[::1]:27327", "[::1]:27328", this, run, stop);
}

// Two agents with all three endpoints. Every message leaves from the endpoint it names and
// arrives on the peer's same endpoint, from the sender's advertised address for it (the WAN
// one bound on 0.0.0.0 and advertised as 127.0.0.65, as an agent with -bind=0.0.0.0 and
// -advertise-wan); the echo comes back the same way.
TEST_F(HostTest, EachMessageLeavesFromItsEndpointAndArrivesOnThePeersSame) {
  MemoryStore store_a, store_b;
  EchoLog log_a, log_b;
  Host::Options options_a = EndpointOptions(NodeId{1}, "127.0.0.65:27320", "127.0.0.65:27321", "0.0.0.0:27323", &store_a);
  options_a.wan.advertise = "127.0.0.65:27323";
  Host a(&loop_, options_a, EchoMachine::Factory(&log_a));
  Host b(&loop_, EndpointOptions(NodeId{2}, "127.0.0.66:27320", "127.0.0.66:27321", "127.0.0.66:27322", &store_b),
         EchoMachine::Factory(&log_b));
  StopOnExit stop(this, {&a, &b});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_EQ(log_a.endpoints, (std::array<Address, kEndpointCount>{"127.0.0.65:27320", "127.0.0.65:27321", "127.0.0.65:27323"}));
  EXPECT_EQ(log_b.endpoints, (std::array<Address, kEndpointCount>{"127.0.0.66:27320", "127.0.0.66:27321", "127.0.0.66:27322"}));
  EXPECT_EQ(a.endpoint_address(Endpoint::kWan), "127.0.0.65:27323");
  EXPECT_EQ(a.address(), "127.0.0.65:27320");

  struct Case {
    Endpoint endpoint;
    Channel channel;
    std::string payload;
  };
  const std::vector<Case> cases = {{Endpoint::kRpc, Channel::kStream, "rpc stream"},
                                   {Endpoint::kLan, Channel::kDatagram, "lan datagram"},
                                   {Endpoint::kLan, Channel::kStream, "lan stream"},
                                   {Endpoint::kWan, Channel::kDatagram, "wan datagram"},
                                   {Endpoint::kWan, Channel::kStream, "wan stream"}};
  for (const Case& c : cases) {
    log_a.to_send.push_back({b.endpoint_address(c.endpoint), c.channel, c.payload, 0, c.endpoint});
  }
  a.Request("flush", "", [](const Response&) {});
  ASSERT_TRUE(RunUntil([&] { return log_a.heard.size() == cases.size(); }, absl::Seconds(10)));
  ASSERT_EQ(log_b.heard.size(), cases.size());
  for (const Case& c : cases) {
    const MessageInput* at_b = Heard(log_b, c.payload);
    ASSERT_NE(at_b, nullptr) << c.payload;
    EXPECT_EQ(at_b->endpoint, c.endpoint) << c.payload;
    EXPECT_EQ(at_b->channel, c.channel) << c.payload;
    EXPECT_EQ(at_b->from, a.endpoint_address(c.endpoint)) << c.payload;
    const MessageInput* at_a = Heard(log_a, "echo:" + c.payload);
    ASSERT_NE(at_a, nullptr) << c.payload;
    EXPECT_EQ(at_a->endpoint, c.endpoint) << c.payload;
    EXPECT_EQ(at_a->channel, c.channel) << c.payload;
    EXPECT_EQ(at_a->from, b.endpoint_address(c.endpoint)) << c.payload;
  }
  for (Endpoint e : {Endpoint::kLan, Endpoint::kRpc, Endpoint::kWan}) {
    ASSERT_NE(a.transport(e), nullptr);
    EXPECT_EQ(a.transport(e)->stats().dropped, 0u) << EndpointName(e);
  }
  EXPECT_EQ(a.messages_dropped_no_endpoint() + b.messages_dropped_no_endpoint(), 0u);
}

// A machine that sends from an endpoint its host did not open (a client agent's WAN, say)
// loses the message, counted, and nothing crashes; the context said the endpoint was "".
TEST_F(HostTest, AMessageFromAnEndpointNotOpenedIsDroppedAndCounted) {
  MemoryStore store_a, store_b;
  EchoLog log_a, log_b;
  Host a(&loop_, EndpointOptions(NodeId{1}, "127.0.0.67:27320", "", "", &store_a), EchoMachine::Factory(&log_a));
  Host b(&loop_, EndpointOptions(NodeId{2}, "127.0.0.68:27320", "127.0.0.68:27321", "127.0.0.68:27322", &store_b),
         EchoMachine::Factory(&log_b));
  StopOnExit stop(this, {&a, &b});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_EQ(log_a.endpoints, (std::array<Address, kEndpointCount>{"127.0.0.67:27320", "", ""}));
  EXPECT_EQ(a.transport(Endpoint::kWan), nullptr);
  log_a.to_send = {{"127.0.0.68:27322", Channel::kStream, "from wan", 0, Endpoint::kWan},
                   {"127.0.0.68:27321", Channel::kStream, "from rpc", 0, Endpoint::kRpc},
                   {"127.0.0.68:27320", Channel::kStream, "from lan", 0, Endpoint::kLan}};
  a.Request("flush", "", [](const Response&) {});
  ASSERT_TRUE(RunUntil([&] { return Heard(log_a, "echo:from lan") != nullptr; }, absl::Seconds(10)));
  EXPECT_EQ(a.messages_dropped_no_endpoint(), 2u);
  ASSERT_EQ(log_b.heard.size(), 1u) << "only the LAN message left";
  EXPECT_EQ(log_b.heard[0].payload, "from lan");
  EXPECT_EQ(log_b.heard[0].endpoint, Endpoint::kLan);
}

// Bytes that break our framing (a stranger, a scanner, a peer of another protocol) are dropped
// before any machine sees them, and said: one line naming the endpoint and the sender, at most
// one a second with the count since.
class CollectingLog final : public LogSink {
 public:
  void Write(Time, LogLevel, std::string_view component, std::string_view message) override {
    lines.push_back(absl::StrCat(std::string(component), ": ", std::string(message)));
  }
  std::vector<std::string> lines;
};

void SendRaw(int type, const char* ip, int port, const std::string& bytes) {
  int fd = socket(AF_INET, type, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip, &a.sin_addr);
  if (type == SOCK_DGRAM) {
    sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  close(fd);
}

TEST_F(HostTest, MalformedFramesAreDroppedAndLoggedNamingTheEndpointAndSender) {
  MemoryStore store;
  EchoLog echo;
  CollectingLog log;
  Host::Options options = EndpointOptions(NodeId{1}, "127.0.0.60:27330", "127.0.0.60:27331", "", &store);
  options.log = &log;
  Host host(&loop_, options, EchoMachine::Factory(&echo));
  StopOnExit stop(this, {&host});
  ASSERT_TRUE(host.Start().ok());
  SendRaw(SOCK_DGRAM, "127.0.0.60", 27330, std::string("\x01"));  // shorter than its sender's name
  ASSERT_TRUE(RunUntil([&] { return host.frames_malformed() >= 1; }, absl::Seconds(5)));
  // A stream whose frame claims 4 GiB: refused, connection closed.
  SendRaw(SOCK_STREAM, "127.0.0.60", 27331, std::string("\xff\xff\xff\xff garbage"));
  ASSERT_TRUE(RunUntil([&] { return host.frames_malformed() >= 2; }, absl::Seconds(5)));
  EXPECT_TRUE(echo.heard.empty());
  int lan_lines = 0, rpc_lines = 0;
  for (const std::string& l : log.lines) {
    lan_lines += l.find("malformed datagram on the lan endpoint from 127.0.0.1:") != std::string::npos;
    rpc_lines += l.find("on the rpc endpoint from 127.0.0.1:") != std::string::npos;
  }
  EXPECT_EQ(lan_lines, 1);
  // The second drop came within a second of the first: counted, its line held back.
  EXPECT_EQ(rpc_lines, 0);
  for (int i = 0; i < 50; ++i) SendRaw(SOCK_DGRAM, "127.0.0.60", 27330, std::string("\x01"));
  ASSERT_TRUE(RunUntil([&] { return host.frames_malformed() >= 52; }, absl::Seconds(5)));
  EXPECT_LE(log.lines.size(), 2u);
}

// One endpoint that cannot bind fails the whole start, naming the endpoint and its address;
// the endpoints opened before it are closed at once (their ports bind again right away), no
// machine ran and the start was not counted as an incarnation.
TEST_F(HostTest, AnEndpointThatCannotBindFailsTheStartNamingIt) {
  MemoryStore store_taken, store_failed, store_retry;
  EchoLog log_taken, log_failed, log_retry;
  Host taken(&loop_, EndpointOptions(NodeId{1}, "127.0.0.69:27320", "", "", &store_taken),
             EchoMachine::Factory(&log_taken));
  Host failed(&loop_, EndpointOptions(NodeId{2}, "127.0.0.69:27324", "127.0.0.69:27320", "127.0.0.69:27322", &store_failed),
              EchoMachine::Factory(&log_failed));
  Host retry(&loop_, EndpointOptions(NodeId{3}, "127.0.0.69:27324", "", "", &store_retry),
             EchoMachine::Factory(&log_retry));
  StopOnExit stop(this, {&taken, &failed, &retry});
  ASSERT_TRUE(taken.Start().ok());
  const absl::Status status = failed.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(std::string(status.message()).find("the rpc endpoint (127.0.0.69:27320)"), std::string::npos) << status;
  EXPECT_EQ(log_failed.starts, 0);
  EXPECT_FALSE(store_failed.Get(kIncarnationKey).has_value());
  EXPECT_EQ(failed.transport(Endpoint::kLan), nullptr);
  const absl::Status retried = retry.Start();  // no loop turn in between
  EXPECT_TRUE(retried.ok()) << retried;
  EXPECT_EQ(log_retry.starts, 1);
  // A bad address is named with its endpoint too.
  MemoryStore store_bad;
  Host bad(&loop_, EndpointOptions(NodeId{4}, "", "", "[::1:27322", &store_bad), EchoMachine::Factory(&log_failed));
  const absl::Status bad_status = bad.Start();
  EXPECT_EQ(bad_status.code(), absl::StatusCode::kInvalidArgument) << bad_status;
  EXPECT_NE(std::string(bad_status.message()).find("the wan endpoint ([::1:27322)"), std::string::npos) << bad_status;
  stop.Now();
  StopAll({&bad});
}

// A peer agent that stops and starts again on its ports is reached again: the sender's
// connection to the old one is dropped and the next message opens a new one.
TEST_F(HostTest, APeerRestartedOnItsPortsIsReachedAgain) {
  MemoryStore store_a, store_b;
  EchoLog log_a, log_b, log_b_again;
  const Host::Options options_b =
      EndpointOptions(NodeId{2}, "127.0.0.66:27330", "127.0.0.66:27331", "127.0.0.66:27332", &store_b);
  Host a(&loop_, EndpointOptions(NodeId{1}, "127.0.0.65:27330", "127.0.0.65:27331", "127.0.0.65:27332", &store_a),
         EchoMachine::Factory(&log_a));
  StopOnExit stop(this, {&a});
  ASSERT_TRUE(a.Start().ok());
  {
    Host b(&loop_, options_b, EchoMachine::Factory(&log_b));
    StopOnExit stop_b(this, {&b});
    ASSERT_TRUE(b.Start().ok());
    log_a.to_send = {{"127.0.0.66:27331", Channel::kStream, "first life", 0, Endpoint::kRpc}};
    a.Request("flush", "", [](const Response&) {});
    ASSERT_TRUE(RunUntil([&] { return Heard(log_a, "echo:first life") != nullptr; }, absl::Seconds(10)));
  }
  ASSERT_TRUE(RunUntil([&] { return a.transport(Endpoint::kRpc)->outgoing_connections() == 0; }, absl::Seconds(10)))
      << "the stopped peer's connection was noticed and dropped";
  Host b(&loop_, options_b, EchoMachine::Factory(&log_b_again));
  StopOnExit stop_b(this, {&b});
  ASSERT_TRUE(b.Start().ok());
  log_a.to_send = {{"127.0.0.66:27331", Channel::kStream, "second life", 0, Endpoint::kRpc}};
  a.Request("flush", "", [](const Response&) {});
  ASSERT_TRUE(RunUntil([&] { return Heard(log_a, "echo:second life") != nullptr; }, absl::Seconds(10)));
  ASSERT_EQ(log_b_again.heard.size(), 1u);
  EXPECT_EQ(log_b_again.heard[0].endpoint, Endpoint::kRpc);
  EXPECT_EQ(log_b_again.heard[0].from, "127.0.0.65:27331");
  EXPECT_EQ(a.transport(Endpoint::kRpc)->stats().connections_opened, 2u);
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

// Group commit: 100 sync writes issued while one sync runs are all made durable by the
// next single sync, and each answer leaves only once its write is durable, in order.
TEST_F(HostTest, WritesIssuedDuringASyncShareTheNextOne) {
  MemoryStore store;
  store.set_sync_delay(absl::Milliseconds(50));
  Ledger ledger;
  Host host(&loop_, {NodeId{1}, "", "", 11, nullptr, &store}, LedgerMachine::Factory(&ledger));
  StopOnExit stop(this, {&host});
  ASSERT_TRUE(host.Start().ok());
  std::vector<uint64_t> answered;  // write ids, in answer order
  int early = 0;                   // answers that left before their write was durable
  auto on_answer = [&](const Response& r) {
    ASSERT_TRUE(r.status.ok()) << r.status;
    uint64_t id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(r.body, &id));
    if (store.durable_write_id() < id || host.durable_write_id() < id) ++early;
    answered.push_back(id);
  };
  host.Request("write", "first", on_answer);
  ASSERT_TRUE(RunUntil([&] { return host.sync_in_flight(); }, absl::Seconds(5)));
  constexpr int kWritesDuringSync = 100;
  for (int i = 0; i < kWritesDuringSync; ++i) host.Request("write", absl::StrCat("v", i), on_answer);
  ASSERT_TRUE(RunUntil([&] { return answered.size() == kWritesDuringSync + 1; }, absl::Seconds(10)));
  EXPECT_EQ(early, 0);
  for (size_t i = 0; i < answered.size(); ++i) EXPECT_EQ(answered[i], i + 1);
  EXPECT_LE(host.sync_stats().syncs, 2u) << "one sync in flight plus one more";
  EXPECT_EQ(host.sync_stats().sync_writes, kWritesDuringSync + 1u);
  // The machine heard of durability through the inbox: the last WriteDurableInput covers all.
  EXPECT_FALSE(ledger.durable_ids.empty());
  EXPECT_LE(ledger.durable_ids.size(), 2u);
  if (!ledger.durable_ids.empty()) {
    EXPECT_EQ(ledger.durable_ids.back(), kWritesDuringSync + 1u);
  }
  EXPECT_EQ(store.Get("ledger/101"), "v99");
}

// Rule 2 over the network: a message gated on a sync write reaches the peer only after the
// sync that covers it has finished, and after the host found it durable.
TEST_F(HostTest, AGatedMessageLeavesOnlyOnceItsWriteIsDurable) {
  const std::string a_addr = "127.0.20.7:27105", b_addr = "127.0.20.8:27105";
  const absl::Duration delay = absl::Milliseconds(50);
  MemoryStore store_a, store_b;
  store_a.set_sync_delay(delay);
  Ledger ledger_a, ledger_b;
  Host a(&loop_, {NodeId{1}, a_addr, "", 12, nullptr, &store_a}, LedgerMachine::Factory(&ledger_a, b_addr));
  Host b(&loop_, {NodeId{2}, b_addr, "", 13, nullptr, &store_b}, LedgerMachine::Factory(&ledger_b, a_addr));
  StopOnExit stop(this, {&a, &b});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  constexpr int kSends = 10;
  std::vector<absl::Time> issued;  // the request for write id i + 1
  int early = 0;
  absl::Duration in_flight_min = absl::InfiniteDuration();
  ledger_b.on_received = [&](uint64_t id) {
    if (store_a.durable_write_id() < id || a.durable_write_id() < id) ++early;
    in_flight_min = std::min(in_flight_min, absl::Now() - issued.at(id - 1));
  };
  for (int i = 0; i < kSends; ++i) {
    issued.push_back(absl::Now());
    a.Request("send", "", [](const Response&) {});
    // A few sent while a sync runs, a few with the disk idle.
    if (i % 3 == 0) RunUntil([&] { return a.sync_in_flight(); }, absl::Seconds(5));
  }
  ASSERT_TRUE(RunUntil([&] { return ledger_b.received_ids.size() == kSends; }, absl::Seconds(10)));
  EXPECT_EQ(early, 0);
  // No message beat the sync that made its write durable (a sync sleeps `delay`).
  EXPECT_GE(in_flight_min, delay - absl::Milliseconds(2));
  for (int i = 0; i < kSends; ++i) EXPECT_EQ(ledger_b.received_ids[i], i + 1u) << "gated messages leave in order";
}

// The loop keeps serving while a sync is in flight: a request is answered, the machine's
// timer fires, and a timer of the loop's own runs, all before the sync ends. An answer
// never overtakes one gated on a write, though: a read after a write may have seen it
// (rule 3), so it waits behind the write's answer (no client learns of a write that a
// crash could still lose).
TEST_F(HostTest, TheLoopServesWhileASyncIsInFlight) {
  MemoryStore store;
  store.set_sync_delay(absl::Milliseconds(300));
  Ledger ledger;
  Host host(&loop_, {NodeId{1}, "", "", 14, nullptr, &store}, LedgerMachine::Factory(&ledger));
  StopOnExit stop(this, {&host});
  ASSERT_TRUE(host.Start().ok());
  host.Request("log", "slow", [](const Response&) {});
  ASSERT_TRUE(RunUntil([&] { return host.sync_in_flight(); }, absl::Seconds(5)));

  bool read_during_sync = false, read_answered = false;
  host.Request("read", "", [&](const Response& r) {
    read_answered = r.status.ok();
    read_during_sync = host.sync_in_flight();
  });
  host.Request("wake", "", [](const Response&) {});
  struct LoopTimer {
    uv_timer_t handle;
    bool fired = false;
    bool during_sync = false;
    Host* host;
  } timer{{}, false, false, &host};
  uv_timer_init(&loop_, &timer.handle);
  timer.handle.data = &timer;
  uv_timer_start(&timer.handle, [](uv_timer_t* t) {
    auto* self = static_cast<LoopTimer*>(t->data);
    self->fired = true;
    self->during_sync = self->host->sync_in_flight();
  }, 20, 0);
  ASSERT_TRUE(RunUntil([&] { return read_answered && timer.fired && ledger.ticks > 0; }, absl::Seconds(5)));
  EXPECT_TRUE(read_during_sync);
  EXPECT_TRUE(timer.during_sync);
  EXPECT_TRUE(host.sync_in_flight()) << "the machine's tick came only after the sync ended";
  EXPECT_TRUE(ledger.durable_ids.empty());

  // A write during the sync waits for the next one, and the read after it waits behind it.
  std::vector<std::string> order;
  host.Request("write", "gated", [&](const Response&) { order.push_back("write"); });
  host.Request("read", "", [&](const Response&) {
    order.push_back(store.durable_write_id() >= 2 ? "read after durable" : "read early");
  });
  ASSERT_TRUE(RunUntil([&] { return order.size() == 2; }, absl::Seconds(5)));
  EXPECT_EQ(order, (std::vector<std::string>{"write", "read after durable"}));
  EXPECT_EQ(host.sync_stats().syncs, 2u);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer.handle), nullptr);
  stop.Now();
}

// Stop() while a sync is in flight: the host reports itself stopped only once the worker is
// done with it, nothing gated leaves, and the write's requester hears UNAVAILABLE. (Run
// under --config=asan too: a use-after-free would show there.)
TEST_F(HostTest, StoppingDuringASyncInFlightIsClean) {
  MemoryStore store;
  store.set_sync_delay(absl::Milliseconds(200));
  Ledger ledger;
  std::optional<absl::Status> answer;
  uint64_t syncs_when_stopped = 0;
  const uint64_t syncs_at_start = [&] {
    auto host = std::make_unique<Host>(&loop_, Host::Options{NodeId{1}, "", "", 15, nullptr, &store},
                                       LedgerMachine::Factory(&ledger));
    EXPECT_TRUE(host->Start().ok());
    const uint64_t started = store.syncs();  // the incarnation count's sync
    host->Request("write", "never acknowledged", [&](const Response& r) { answer = r.status; });
    EXPECT_TRUE(RunUntil([&] { return host->sync_in_flight(); }, absl::Seconds(5)));
    bool stopped = false;
    host->Stop([&] {
      stopped = true;
      syncs_when_stopped = store.syncs();
    });
    EXPECT_TRUE(answer.has_value());  // answered by Stop, not by the sync
    EXPECT_TRUE(RunUntil([&] { return stopped; }, absl::Seconds(5)));
    host.reset();  // right after on_stopped: nothing of the host may be touched again
    uv_run(&loop_, UV_RUN_NOWAIT);
    return started;
  }();
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->code(), absl::StatusCode::kUnavailable) << *answer;
  EXPECT_EQ(syncs_when_stopped, syncs_at_start + 1) << "stopped before the sync in flight ended";
  EXPECT_TRUE(ledger.durable_ids.empty()) << "the machine heard of a sync after Stop";
}

// A sync that fails stops the machine with the error: nothing it covered, nor anything
// issued after, is acknowledged, and the machine takes no more input.
TEST_F(HostTest, AStorageErrorMidSyncStopsTheMachineAndAcknowledgesNothing) {
  MemoryStore store;
  store.set_sync_delay(absl::Milliseconds(50));
  Ledger ledger;
  Host host(&loop_, {NodeId{1}, "", "", 16, nullptr, &store}, LedgerMachine::Factory(&ledger));
  StopOnExit stop(this, {&host});
  ASSERT_TRUE(host.Start().ok());
  std::vector<absl::Status> answers(10);  // by write id - 1
  std::vector<bool> answered(10, false);
  auto write = [&](int index) {
    host.Request("write", "", [&, index](const Response& r) {
      answers[index] = r.status;
      answered[index] = true;
    });
  };
  write(0);
  ASSERT_TRUE(RunUntil([&] { return answered[0]; }, absl::Seconds(5)));
  ASSERT_TRUE(answers[0].ok());
  write(1);
  ASSERT_TRUE(RunUntil([&] { return host.sync_in_flight(); }, absl::Seconds(5)));
  store.set_sync_error(absl::DataLossError("disk on fire"));  // the sync in flight fails
  for (int i = 2; i < 10; ++i) write(i);
  ASSERT_TRUE(RunUntil([&] { return !host.last_storage_error().ok(); }, absl::Seconds(5)));
  EXPECT_EQ(host.last_storage_error().code(), absl::StatusCode::kDataLoss);
  const uint64_t steps_at_error = ledger.steps;
  // Give anything that would leak the time to: another sync, a tick, a late answer.
  RunUntil([] { return false; }, absl::Milliseconds(150));
  for (int i = 1; i < 10; ++i) EXPECT_FALSE(answered[i] && answers[i].ok()) << "write " << i + 1 << " acknowledged";
  EXPECT_EQ(ledger.durable_ids, std::vector<uint64_t>{1});
  EXPECT_EQ(host.durable_write_id(), 1u);
  // A new request is refused with the error named; the machine never runs it.
  std::optional<absl::Status> late;
  host.Request("write", "", [&](const Response& r) { late = r.status; });
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(late->message()).find("disk on fire"), std::string::npos) << *late;
  EXPECT_EQ(ledger.steps, steps_at_error);
  stop.Now();
  for (int i = 1; i < 10; ++i) {
    EXPECT_TRUE(answered[i]) << "every request gets one answer";
    EXPECT_EQ(answers[i].code(), absl::StatusCode::kUnavailable) << answers[i];
  }
}

}  // namespace
}  // namespace muster::io
