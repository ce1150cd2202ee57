// The agent machine driven by hand, without a host: a -bootstrap server in one step loop (its
// writes made durable at once), so the tests see exactly what one machine does with each input.
#include "core/agent/agent_machine.h"

#include <deque>
#include <map>

#include "absl/strings/escaping.h"
#include "core/agent/identity.h"
#include "core/agent/user_events.h"
#include "core/seam/envelope.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;

class MapStorage final : public StorageView {
 public:
  std::optional<std::string> Get(std::string_view key) const override {
    auto it = kv.find(std::string(key));
    if (it == kv.end()) return std::nullopt;
    return it->second;
  }
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    for (auto it = kv.lower_bound(std::string(begin)); it != kv.end(); ++it) {
      if (!end.empty() && it->first >= end) break;
      if (!visit(it->first, it->second)) break;
    }
  }
  void Apply(const StorageWrite& w) {
    for (const StorageOp& op : w.ops) {
      if (op.kind == StorageOp::Kind::kPut) kv[op.key] = op.value;
      if (op.kind == StorageOp::Kind::kDelete) kv.erase(op.key);
      if (op.kind == StorageOp::Kind::kDeleteRange) {
        kv.erase(kv.lower_bound(op.key), op.value.empty() ? kv.end() : kv.lower_bound(op.value));
      }
    }
  }
  std::map<std::string, std::string> kv;
};

class Lines final : public LogSink {
 public:
  void Write(Time, LogLevel, std::string_view component, std::string_view message) override {
    lines.push_back(absl::StrCat(std::string(component), ": ", std::string(message)));
  }
  int Count(std::string_view needle) const {
    int n = 0;
    for (const std::string& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
  std::vector<std::string> lines;
};

// One agent and a loop that carries out its effects: writes durable at once, responses kept,
// messages kept (nobody else is there), time moved by the wake-ups.
class Driver {
 public:
  explicit Driver(uint64_t seed = 1, bool bootstrap = true) {
    AgentMachineOptions o;
    o.config.server = true;
    o.config.bootstrap = bootstrap;
    o.config.node_name = "solo";
    o.config.node_id = FormatNodeId(0x0123456789abcdefull, 0x1111222233334444ull);
    o.config.data_dir = "/x";
    MachineContext ctx;
    ctx.id = NodeId{1};
    ctx.address = "10.0.0.1:8301";
    ctx.endpoints = {"10.0.0.1:8301", "10.0.0.1:8300", "10.0.0.1:8302"};
    ctx.seed = seed;
    ctx.now = absl::FromUnixSeconds(1'700'000'000);
    ctx.log = &log;
    ctx.storage = &storage;
    now = ctx.now;
    machine = std::make_unique<AgentMachine>(ctx, o);
  }

  void Feed(InputEvent what) {
    Handle(Input{now, std::move(what)});
    // Writes are durable at once: each sync write comes back before the next input, unless
    // the test holds the disk back.
    while (!durable.empty() && !hold_disk) {
      const uint64_t id = durable.front();
      durable.pop_front();
      Handle(Input{now, WriteDurableInput{id}});
    }
  }
  void Handle(const Input& input) {
    Effects out;
    machine->Step(input, &out);
    for (const StorageWrite& w : out.writes) {
      largest_write_ops = std::max(largest_write_ops, w.ops.size());
      storage.Apply(w);
      if (w.sync) durable.push_back(w.id);
    }
    for (Response& r : out.responses) responses[r.request_id].push_back(std::move(r));
    for (OutboundMessage& m : out.messages) sent.push_back(std::move(m));
    if (out.wake_at.has_value()) wake = *out.wake_at;
    trace += absl::StrCat(out.writes.size(), "/", out.messages.size(), "/", out.responses.size(), ";");
  }
  void RunFor(Duration d) {
    const Time end = now + d;
    Feed(TickInput{});
    while (wake.has_value() && *wake <= end) {
      now = std::max(now, *wake);
      wake.reset();
      Feed(TickInput{});
    }
    now = end;
  }
  const Response& Call(const std::string& method, const pba::Call& call) {
    const uint64_t id = next_id++;
    Feed(RequestInput{id, method, call.SerializeAsString()});
    for (int i = 0; i < 100 && responses[id].empty(); ++i) RunFor(absl::Milliseconds(10));
    EXPECT_EQ(responses[id].size(), 1u) << method;
    return responses[id].front();
  }

  Lines log;
  MapStorage storage;
  std::unique_ptr<AgentMachine> machine;
  Time now;
  std::optional<Time> wake;
  std::map<uint64_t, std::vector<Response>> responses;
  std::vector<OutboundMessage> sent;
  std::deque<uint64_t> durable;
  bool hold_disk = false;
  size_t largest_write_ops = 0;
  uint64_t next_id = 1;
  std::string trace;
};

pba::Reply ReplyOf(const Response& r) {
  pba::Reply reply;
  EXPECT_TRUE(reply.ParseFromString(r.body));
  return reply;
}

TEST(AgentMachineTest, ABootstrapServerLeadsAndServesKv) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  ASSERT_NE(d.machine->raft(), nullptr);
  EXPECT_EQ(d.machine->raft()->role(), raft::Role::kLeader);
  pba::Call put;
  put.set_key("a/b");
  put.set_value("v1");
  const Response& w = d.Call("kv.put", put);
  ASSERT_TRUE(w.status.ok()) << w.status;
  EXPECT_EQ(ReplyOf(w).body(), "true");
  pba::Call get;
  get.set_key("a/b");
  get.set_raw(true);
  for (const char* mode : {"", "consistent", "stale"}) {
    get.set_consistency(mode);
    const Response& r = d.Call("kv.get", get);
    ASSERT_TRUE(r.status.ok()) << mode << ": " << r.status;
    EXPECT_EQ(ReplyOf(r).body(), "v1");
    EXPECT_TRUE(ReplyOf(r).known_leader());
    EXPECT_GT(ReplyOf(r).index(), 0u);
  }
  get.set_key("missing");
  EXPECT_EQ(d.Call("kv.get", get).status.code(), absl::StatusCode::kNotFound);
  put.set_has_cas(true);
  put.set_cas(1);  // not the key's ModifyIndex
  const Response& cas = d.Call("kv.put", put);
  ASSERT_TRUE(cas.status.ok());
  EXPECT_EQ(ReplyOf(cas).body(), "false");
  // The leader registered itself with a passing serfHealth check.
  d.RunFor(absl::Seconds(2));
  pba::Call node;
  node.set_key("solo");
  const std::string checks = ReplyOf(d.Call("health.node", node)).body();
  EXPECT_NE(checks.find("\"serfHealth\""), std::string::npos) << checks;
  EXPECT_NE(checks.find("\"passing\""), std::string::npos) << checks;
}

TEST(AgentMachineTest, GarbageAndUnknownVersionsAreDroppedLoggedAndChangeNothing) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  pba::Call put;
  put.set_key("k");
  put.set_value("v");
  ASSERT_TRUE(d.Call("kv.put", put).status.ok());
  const uint64_t hash = d.machine->fsm().ContentHash();
  const uint64_t term = d.machine->raft()->term();
  const size_t responses = d.responses.size();

  proto::Envelope newer;
  newer.set_protocol_version(9);
  newer.set_kind(proto::Envelope::KIND_RAFT);
  newer.set_body("x");
  proto::Envelope unknown_kind;
  unknown_kind.set_protocol_version(kProtocolVersion);
  unknown_kind.set_kind(static_cast<proto::Envelope::Kind>(42));
  struct Case {
    Endpoint endpoint;
    Channel channel;
    std::string payload;
    const char* log;
  };
  const std::vector<Case> cases = {
      {Endpoint::kRpc, Channel::kStream, "\xff\xfe garbage", "dropping message"},
      {Endpoint::kLan, Channel::kDatagram, "\x08\x01\x12", "dropping message"},
      {Endpoint::kRpc, Channel::kStream, newer.SerializeAsString(), "newer than ours"},
      {Endpoint::kLan, Channel::kDatagram, newer.SerializeAsString(), "newer than ours"},
      {Endpoint::kRpc, Channel::kStream, unknown_kind.SerializeAsString(), "dropping message"},
      {Endpoint::kLan, Channel::kDatagram, Seal(proto::Envelope::KIND_RAFT, "x"), "does not belong here"},
      {Endpoint::kRpc, Channel::kStream, Seal(proto::Envelope::KIND_GOSSIP, "x"), "does not belong here"},
      {Endpoint::kRpc, Channel::kStream, Seal(proto::Envelope::KIND_RAFT, "\xff\xff\xff"), "malformed raft"},
      {Endpoint::kRpc, Channel::kStream, Seal(proto::Envelope::KIND_RPC, "\xff\xff\xff"), "malformed RPC"},
      {Endpoint::kLan, Channel::kDatagram, Seal(proto::Envelope::KIND_GOSSIP, "\xff\xff"), ""},
      {Endpoint::kRpc, Channel::kStream, "", "dropping message"},
  };
  for (const Case& c : cases) {
    const size_t before = d.log.lines.size();
    d.now += absl::Seconds(2);  // past the drop log's throttle
    d.Feed(MessageInput{"10.9.9.9:1234", c.channel, c.payload, c.endpoint});
    if (*c.log != '\0') {
      bool logged = false;
      for (size_t i = before; i < d.log.lines.size(); ++i) logged |= d.log.lines[i].find(c.log) != std::string::npos;
      EXPECT_TRUE(logged) << "no \"" << c.log << "\" line for case " << &c - cases.data();
    }
  }
  d.RunFor(absl::Seconds(2));
  EXPECT_EQ(d.machine->fsm().ContentHash(), hash);
  EXPECT_EQ(d.machine->raft()->term(), term);
  EXPECT_EQ(d.machine->raft()->role(), raft::Role::kLeader);
  EXPECT_EQ(d.responses.size(), responses);
}

TEST(AgentMachineTest, ADropFloodIsLoggedAtMostOncePerSecond) {
  Driver d;
  d.RunFor(absl::Seconds(1));
  const int before = d.log.Count("dropping message");
  for (int i = 0; i < 1000; ++i) d.Feed(MessageInput{"10.9.9.9:1", Channel::kDatagram, "junk", Endpoint::kLan});
  EXPECT_EQ(d.log.Count("dropping message") - before, 1);
  d.now += absl::Seconds(1);
  d.Feed(MessageInput{"10.9.9.9:1", Channel::kDatagram, "junk", Endpoint::kLan});
  EXPECT_EQ(d.log.Count("(999 more since the last such line)"), 1);
}

TEST(AgentMachineTest, BadRequestsGetOneClearError) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  d.Feed(RequestInput{1000, "kv.put", "\xff\xff not a call"});
  ASSERT_EQ(d.responses[1000].size(), 1u);
  EXPECT_EQ(d.responses[1000][0].status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.Call("no.such.method", pba::Call()).status.code(), absl::StatusCode::kInvalidArgument);
  pba::Call read;
  read.set_consistency("eventual");
  EXPECT_EQ(d.Call("kv.get", read).status.code(), absl::StatusCode::kInvalidArgument);
  pba::Call ap;
  ap.set_json("{\"MinQuorum\": \"three\"}");
  const Response& r = d.Call("operator.autopilot.set", ap);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(r.status.message()).find("MinQuorum"), std::string::npos);
}

TEST(AgentMachineTest, AutopilotConfigurationIsSeededAndSetThroughTheLog) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  const std::string initial = ReplyOf(d.Call("operator.autopilot.get", pba::Call())).body();
  EXPECT_NE(initial.find("\"ServerStabilizationTime\":\"10s\""), std::string::npos) << initial;
  pba::Call set;
  set.set_json("{\"ServerStabilizationTime\":\"30s\",\"CleanupDeadServers\":false}");
  const Response& w = d.Call("operator.autopilot.set", set);
  ASSERT_TRUE(w.status.ok()) << w.status;
  EXPECT_EQ(ReplyOf(w).body(), "true");
  const std::string after = ReplyOf(d.Call("operator.autopilot.get", pba::Call())).body();
  EXPECT_NE(after.find("\"ServerStabilizationTime\":\"30s\""), std::string::npos) << after;
  EXPECT_NE(after.find("\"CleanupDeadServers\":false"), std::string::npos) << after;
  ASSERT_TRUE(d.machine->fsm().store().Autopilot().has_value());
}

TEST(AgentMachineTest, WritesArrivingWhileTheDiskIsBusyAreProposedTogether) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  d.largest_write_ops = 0;
  d.hold_disk = true;
  for (uint64_t i = 0; i < 20; ++i) {
    pba::Call put;
    put.set_key(absl::StrCat("batch/", i));
    put.set_value("v");
    d.Feed(RequestInput{5000 + i, "kv.put", put.SerializeAsString()});
  }
  // The first went out alone; the other 19 wait for its write.
  EXPECT_EQ(d.durable.size(), 1u);
  for (uint64_t i = 0; i < 20; ++i) EXPECT_TRUE(d.responses[5000 + i].empty());
  d.hold_disk = false;
  d.Feed(TickInput{});
  d.RunFor(absl::Seconds(1));
  for (uint64_t i = 0; i < 20; ++i) {
    ASSERT_EQ(d.responses[5000 + i].size(), 1u) << i;
    EXPECT_TRUE(d.responses[5000 + i][0].status.ok());
    EXPECT_EQ(ReplyOf(d.responses[5000 + i][0]).body(), "true");
  }
  // One log write carried the 19 entries (and the hard state beside them).
  EXPECT_GE(d.largest_write_ops, 19u);
  const std::string self = ReplyOf(d.Call("agent.self", pba::Call())).body();
  EXPECT_NE(self.find("\"proposal_batches\":\"1\""), std::string::npos) << self;
}

TEST(AgentMachineTest, TheLeaderExpiresASessionWhoseTtlRanOutAndKeepsARenewedOne) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  auto create = [&](const char* name) {
    pba::Call c;
    c.set_json(absl::StrCat("{\"Name\":\"", name, "\",\"TTL\":\"10s\",\"Behavior\":\"delete\"}"));
    const Response& r = d.Call("session.create", c);
    EXPECT_TRUE(r.status.ok()) << r.status;
    const std::string body = ReplyOf(r).body();
    const size_t at = body.find("\"ID\":\"");
    EXPECT_NE(at, std::string::npos) << body;
    return body.substr(at + 6, 36);
  };
  const std::string lapsing = create("lapsing");
  const std::string renewed = create("renewed");
  pba::Call lock;
  lock.set_key("locked/by/lapsing");
  lock.set_value("x");
  lock.set_acquire(lapsing);
  ASSERT_EQ(ReplyOf(d.Call("kv.put", lock)).body(), "true");
  auto alive = [&](const std::string& id) {
    pba::Call info;
    info.set_key(id);
    return ReplyOf(d.Call("session.info", info)).body() != "[]";
  };
  EXPECT_TRUE(alive(lapsing));
  for (int i = 0; i < 6; ++i) {
    d.RunFor(absl::Seconds(5));
    pba::Call renew;
    renew.set_key(renewed);
    const Response& r = d.Call("session.renew", renew);
    ASSERT_TRUE(r.status.ok()) << r.status;
  }
  EXPECT_FALSE(alive(lapsing));
  EXPECT_TRUE(alive(renewed));
  EXPECT_GE(d.log.Count("session expired: session=" + lapsing), 1);
  // Behavior "delete": the lapsed session's lock went with it.
  pba::Call get;
  get.set_key("locked/by/lapsing");
  EXPECT_EQ(d.Call("kv.get", get).status.code(), absl::StatusCode::kNotFound);
  pba::Call bad;
  bad.set_json("{\"TTL\":\"soon\"}");
  EXPECT_EQ(d.Call("session.create", bad).status.code(), absl::StatusCode::kInvalidArgument);
  pba::Call unknown;
  unknown.set_key("00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(d.Call("session.renew", unknown).status.code(), absl::StatusCode::kNotFound);
}

TEST(AgentMachineTest, ARequestWithoutALeaderIsHeldThenRefusedAndAStaleReadServedAtOnce) {
  Driver d(1, /*bootstrap=*/false);  // a server that never finds its peers: no leader ever
  pba::Call put;
  put.set_key("early");
  put.set_value("bird");
  d.Feed(RequestInput{7000, "kv.put", put.SerializeAsString()});
  pba::Call conf;
  d.Feed(RequestInput{7001, "operator.raft.configuration", conf.SerializeAsString()});
  pba::Call stale;
  stale.set_key("early");
  stale.set_consistency("stale");
  d.Feed(RequestInput{7002, "kv.get", stale.SerializeAsString()});
  // A stale read is served at once from this server's own (empty) state, saying no leader.
  ASSERT_EQ(d.responses[7002].size(), 1u);
  EXPECT_EQ(d.responses[7002][0].status.code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ReplyOf(d.responses[7002][0]).known_leader());
  d.RunFor(absl::Seconds(6));
  EXPECT_TRUE(d.responses[7000].empty()) << "held for the RPC hold time";
  EXPECT_TRUE(d.responses[7001].empty());
  d.RunFor(absl::Seconds(2));
  for (uint64_t id : {7000, 7001}) {
    ASSERT_EQ(d.responses[id].size(), 1u) << id;
    EXPECT_EQ(d.responses[id][0].status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(d.responses[id][0].status.message(), "No cluster leader");
  }
}

TEST(AgentMachineTest, TheOnlyVoterStandsForElectionAtOnce) {
  Driver d;
  d.Feed(TickInput{});
  ASSERT_NE(d.machine->raft(), nullptr);
  EXPECT_EQ(d.machine->raft()->role(), raft::Role::kLeader) << "no election timeout to wait for";
  pba::Call put;
  put.set_key("k");
  put.set_value("v");
  EXPECT_TRUE(d.Call("kv.put", put).status.ok());
}

TEST(AgentMachineTest, ABlockingQueryAnswersWhenItsKeyChangesOrItsWaitRunsOut) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  pba::Call put;
  put.set_key("watched");
  put.set_value("v1");
  ASSERT_TRUE(d.Call("kv.put", put).status.ok());
  pba::Call get;
  get.set_key("watched");
  const uint64_t index = ReplyOf(d.Call("kv.get", get)).index();
  // Parked past the index it has seen, for 30 s at most.
  get.set_min_index(index);
  get.set_wait_ms(30'000);
  d.Feed(RequestInput{9000, "kv.get", get.SerializeAsString()});
  pba::Call other;
  other.set_key("elsewhere");
  other.set_value("x");
  ASSERT_TRUE(d.Call("kv.put", other).status.ok());
  d.RunFor(absl::Seconds(5));
  EXPECT_TRUE(d.responses[9000].empty()) << "another key's write does not answer it";
  put.set_value("v2");
  ASSERT_TRUE(d.Call("kv.put", put).status.ok());
  ASSERT_EQ(d.responses[9000].size(), 1u) << "answered by the write that touched its key";
  const pba::Reply changed = ReplyOf(d.responses[9000][0]);
  EXPECT_GT(changed.index(), index);
  EXPECT_NE(changed.body().find(absl::Base64Escape("v2")), std::string::npos) << changed.body();

  // Nothing changes: answered when the wait (plus at most 1/16 of jitter) runs out, as it is.
  get.set_min_index(changed.index());
  get.set_wait_ms(2'000);
  const Time asked = d.now;
  d.Feed(RequestInput{9001, "kv.get", get.SerializeAsString()});
  d.RunFor(absl::Milliseconds(1'990));
  EXPECT_TRUE(d.responses[9001].empty());
  d.RunFor(absl::Milliseconds(200));
  ASSERT_EQ(d.responses[9001].size(), 1u);
  EXPECT_LE(d.now - asked, absl::Milliseconds(2'200));
  EXPECT_EQ(ReplyOf(d.responses[9001][0]).index(), changed.index());

  // A key that does not exist yet: a blocking 404 answers when it is created.
  pba::Call absent;
  absent.set_key("later");
  const Response& missing = d.Call("kv.get", absent);
  ASSERT_EQ(missing.status.code(), absl::StatusCode::kNotFound);
  absent.set_min_index(ReplyOf(missing).index());
  d.Feed(RequestInput{9002, "kv.get", absent.SerializeAsString()});
  EXPECT_TRUE(d.responses[9002].empty());
  pba::Call create;
  create.set_key("later");
  create.set_value("here");
  ASSERT_TRUE(d.Call("kv.put", create).status.ok());
  ASSERT_EQ(d.responses[9002].size(), 1u);
  EXPECT_TRUE(d.responses[9002][0].status.ok());
}

TEST(AgentMachineTest, TenThousandParkedQueriesAllAnswerWhenTheirKeysChange) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  constexpr int kQueries = 10'000;
  constexpr int kKeys = 100;
  for (int k = 0; k < kKeys; ++k) {
    pba::Call put;
    put.set_key(absl::StrCat("many/", k));
    put.set_value("0");
    ASSERT_TRUE(d.Call("kv.put", put).status.ok());
  }
  const uint64_t index = d.machine->fsm().store().last_index();  // past every key's own index
  for (int q = 0; q < kQueries; ++q) {
    pba::Call get;
    get.set_key(absl::StrCat("many/", q % kKeys));
    get.set_min_index(index);
    get.set_wait_ms(600'000);
    d.Feed(RequestInput{100'000 + static_cast<uint64_t>(q), "kv.get", get.SerializeAsString()});
  }
  for (int q = 0; q < kQueries; ++q) ASSERT_TRUE(d.responses[100'000 + q].empty()) << q;
  for (int k = 0; k < kKeys; ++k) {
    pba::Call put;
    put.set_key(absl::StrCat("many/", k));
    put.set_value("1");
    ASSERT_TRUE(d.Call("kv.put", put).status.ok());
  }
  for (int q = 0; q < kQueries; ++q) {
    ASSERT_EQ(d.responses[100'000 + q].size(), 1u) << q;
    EXPECT_GT(ReplyOf(d.responses[100'000 + q][0]).index(), index);
  }
}

TEST(AgentMachineTest, CatalogAndHealthReadsInConsulsShapes) {
  Driver d;
  d.RunFor(absl::Seconds(5));  // the leader has registered itself with serfHealth
  EXPECT_EQ(ReplyOf(d.Call("catalog.datacenters", pba::Call())).body(), "[\"dc1\"]");
  // A server is the "consul" service (Consul's leader registers it for each server).
  EXPECT_EQ(ReplyOf(d.Call("catalog.services", pba::Call())).body(), "{\"consul\":[]}");
  pba::Call node;
  node.set_key("solo");
  const std::string solo = ReplyOf(d.Call("catalog.node", node)).body();
  EXPECT_NE(solo.find("\"Node\":{\"ID\":\""), std::string::npos) << solo;
  EXPECT_NE(solo.find("\"Services\":{\"consul\":{\"ID\":\"consul\",\"Service\":\"consul\""), std::string::npos) << solo;
  EXPECT_NE(solo.find("\"Port\":8300"), std::string::npos) << solo;
  node.set_key("nobody");
  EXPECT_EQ(ReplyOf(d.Call("catalog.node", node)).body(), "null");
  pba::Call state;
  state.set_key("passing");
  EXPECT_NE(ReplyOf(d.Call("health.state", state)).body().find("\"CheckID\":\"serfHealth\""), std::string::npos);
  state.set_key("critical");
  EXPECT_EQ(ReplyOf(d.Call("health.state", state)).body(), "[]");
  state.set_key("sideways");
  EXPECT_EQ(d.Call("health.state", state).status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentMachineTest, TransactionsApplyAllOrNoneAndReadOnlyOnesAreReads) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  const std::string v = absl::Base64Escape("one");
  pba::Call txn;
  txn.set_json(absl::StrCat(R"([{"KV":{"Verb":"set","Key":"t/a","Value":")", v,
                            R"("}},{"kv":{"verb":"set","key":"t/b","flags":7}}])"));
  const Response& ok = d.Call("txn", txn);
  ASSERT_TRUE(ok.status.ok()) << ok.status;
  const std::string body = ReplyOf(ok).body();
  EXPECT_NE(body.find(R"("Results":[{"KV":{)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Errors":null)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Key":"t/b")"), std::string::npos) << body;
  // A failed check rolls back the write beside it: 409 (ABORTED) with Consul's errors.
  txn.set_json(R"([{"KV":{"Verb":"set","Key":"t/c"}},{"KV":{"Verb":"check-not-exists","Key":"t/a"}}])");
  const Response& rolled = d.Call("txn", txn);
  EXPECT_EQ(rolled.status.code(), absl::StatusCode::kAborted);
  EXPECT_NE(ReplyOf(rolled).body().find(R"("Results":null,"Errors":[{"OpIndex":1,)"), std::string::npos)
      << ReplyOf(rolled).body();
  pba::Call get;
  get.set_key("t/c");
  EXPECT_EQ(d.Call("kv.get", get).status.code(), absl::StatusCode::kNotFound);
  // Only reads: answered without a log entry, in the read's consistency mode.
  const uint64_t last = d.machine->raft()->log().last_index();
  txn.set_json(R"([{"KV":{"Verb":"get","Key":"t/a"}},{"KV":{"Verb":"get-tree","Key":"t/"}}])");
  txn.set_consistency("stale");
  const Response& read = d.Call("txn", txn);
  ASSERT_TRUE(read.status.ok()) << read.status;
  EXPECT_EQ(d.machine->raft()->log().last_index(), last);
  EXPECT_NE(ReplyOf(read).body().find(absl::StrCat(R"("Value":")", v, "\"")), std::string::npos)
      << ReplyOf(read).body();
  // The client's mistakes are 400s that name the op; too many ops is its own code (413).
  for (const char* bad : {"{}", "[1]", R"([{"KV":{"Verb":"fly","Key":"k"}}])",
                          R"([{"KV":{"Verb":"set","Key":"k","Value":"%%%"}}])",
                          R"([{"Node":{"Verb":"set"}}])", "not json"}) {
    txn.set_json(bad);
    EXPECT_EQ(d.Call("txn", txn).status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  std::string many = "[";
  for (int i = 0; i < 65; ++i) absl::StrAppend(&many, i ? "," : "", R"({"KV":{"Verb":"get","Key":"k"}})");
  txn.set_json(many + "]");
  EXPECT_EQ(d.Call("txn", txn).status.code(), absl::StatusCode::kResourceExhausted);
}

TEST(AgentMachineTest, UserEventsAreFiredListedAndWakeABlockingList) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  pba::Call list;
  const Response& empty = d.Call("event.list", list);
  EXPECT_EQ(ReplyOf(empty).body(), "[]");
  EXPECT_EQ(ReplyOf(empty).index(), 1u);
  pba::Call fire;
  fire.set_key("deploy");
  fire.set_value("v42");
  const Response& fired = d.Call("event.fire", fire);
  ASSERT_TRUE(fired.status.ok()) << fired.status;
  const std::string f = ReplyOf(fired).body();
  EXPECT_NE(f.find(R"("Name":"deploy","Payload":")" + absl::Base64Escape("v42") + "\""), std::string::npos) << f;
  EXPECT_NE(f.find(R"("Version":1,"LTime":0)"), std::string::npos) << f;
  const Response& one = d.Call("event.list", list);
  const std::string listed = ReplyOf(one).body();
  EXPECT_NE(listed.find(R"("Name":"deploy")"), std::string::npos) << listed;
  const uint64_t index = ReplyOf(one).index();
  EXPECT_GT(index, 1u);
  // Consul's index is a fold of the newest event's ID, which a client can compute itself.
  const size_t id_at = f.find(R"("ID":")") + 6;
  EXPECT_EQ(IndexOfEventId(f.substr(id_at, 36)), index);
  // A blocking list on that index waits for the next event, then answers with it.
  list.set_min_index(index);
  list.set_wait_ms(60'000);
  const uint64_t parked = d.next_id++;
  d.Feed(RequestInput{parked, "event.list", list.SerializeAsString()});
  d.RunFor(absl::Seconds(1));
  EXPECT_TRUE(d.responses[parked].empty());
  fire.set_value("");
  ASSERT_TRUE(d.Call("event.fire", fire).status.ok());
  d.RunFor(absl::Milliseconds(10));
  ASSERT_EQ(d.responses[parked].size(), 1u);
  EXPECT_NE(ReplyOf(d.responses[parked][0]).index(), index);
  EXPECT_NE(ReplyOf(d.responses[parked][0]).body().find(R"("Payload":null)"), std::string::npos);
  // A node filter that does not match this node: fired, not kept here.
  fire.set_key("elsewhere");
  fire.set_event_node_filter("^other$");
  ASSERT_TRUE(d.Call("event.fire", fire).status.ok());
  list.Clear();
  list.set_key("elsewhere");
  EXPECT_EQ(ReplyOf(d.Call("event.list", list)).body(), "[]");
  // Bad names and filters are the client's mistake.
  fire.set_event_node_filter("(");
  EXPECT_EQ(d.Call("event.fire", fire).status.code(), absl::StatusCode::kInvalidArgument);
  fire.set_event_node_filter("");
  fire.set_key("_reserved");
  EXPECT_EQ(d.Call("event.fire", fire).status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentMachineTest, SameSeedAndInputsGiveTheSameEffects) {
  auto run = [](uint64_t seed) {
    Driver d(seed);
    d.RunFor(absl::Seconds(3));
    pba::Call put;
    put.set_key("x");
    put.set_value("y");
    d.Call("kv.put", put);
    d.RunFor(absl::Seconds(5));
    std::string out = d.trace;
    for (const OutboundMessage& m : d.sent) absl::StrAppend(&out, m.to, m.payload.size(), ",");
    for (const auto& [k, v] : d.storage.kv) absl::StrAppend(&out, k, "=", v.size(), ";");
    return out;
  };
  EXPECT_EQ(run(5), run(5));
}

}  // namespace
}  // namespace muster::agent

namespace muster::agent {
namespace {

// Network coordinates through one server: its own sent after 15-30 s and batched into the log
// within the 5 s update period; an update through the API likewise; bad ones refused at once.
TEST(AgentMachineTest, CoordinatesAreSentBatchedThroughTheLogAndRead) {
  Driver d;
  d.RunFor(absl::Seconds(3));
  pba::Call none;
  none.set_key("solo");
  EXPECT_EQ(d.Call("coordinate.node", none).status.code(), absl::StatusCode::kNotFound);
  pba::Call update;
  update.set_json(R"({"Node":"solo","Coord":{"Vec":[0.001,0,0,0,0,0,0,0],"Error":0.2,"Height":0.0001}})");
  ASSERT_TRUE(d.Call("coordinate.update", update).status.ok());
  pba::Call bad;
  bad.set_json(R"({"Node":"solo","Coord":{"Vec":[0.001]}})");
  EXPECT_EQ(d.Call("coordinate.update", bad).status.code(), absl::StatusCode::kInvalidArgument);
  d.RunFor(absl::Seconds(6));
  const pba::Reply one = ReplyOf(d.Call("coordinate.node", none));
  EXPECT_NE(one.body().find("\"Height\":0.0001"), std::string::npos) << one.body();
  // Within 30 s more the agent has sent its own (the origin: nobody to measure against).
  d.RunFor(absl::Seconds(32));
  const pba::Reply own = ReplyOf(d.Call("coordinate.nodes", pba::Call()));
  EXPECT_NE(own.body().find("\"Error\":1.5"), std::string::npos) << own.body();
  EXPECT_GT(own.index(), one.index());
  const pba::Reply dcs = ReplyOf(d.Call("coordinate.datacenters", pba::Call()));
  EXPECT_NE(dcs.body().find("\"Datacenter\":\"dc1\""), std::string::npos) << dcs.body();
}

}  // namespace
}  // namespace muster::agent
