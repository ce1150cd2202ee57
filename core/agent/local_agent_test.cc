// The agent's local services and checks through the whole machine (a -bootstrap server driven
// by hand): a registration reaches the catalog by anti-entropy, a TTL pass and an HTTP check's
// result change the catalog's status, a deregistration and maintenance show there too, and a
// restarted agent still has what was registered; an alias of another node's service follows
// that node's check in the catalog.
#include <deque>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/agent/agent_machine.h"
#include "core/agent/identity.h"
#include "core/seam/apply_storage_op.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;
using J = nlohmann::json;

class Disk final : public StorageView {
 public:
  std::optional<std::string> Get(std::string_view key) const override {
    auto it = kv.find(key);
    if (it == kv.end()) return std::nullopt;
    return it->second;
  }
  void Scan(std::string_view begin, std::string_view end,
            const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    for (auto it = kv.lower_bound(begin); it != kv.end() && (end.empty() || it->first < end); ++it) {
      if (!visit(it->first, it->second)) return;
    }
  }
  OrderedKv kv;
};

// One agent; every write durable at once; check runs kept for the test to answer.
class Agent {
 public:
  explicit Agent(Disk* disk, Time start, bool scripts = false) : now(start), disk_(disk) {
    AgentMachineOptions o;
    o.config.server = true;
    o.config.bootstrap = true;
    o.config.node_name = "solo";
    o.config.node_id = FormatNodeId(0x0123456789abcdefull, 0x1111222233334444ull);
    o.config.data_dir = "/x";
    o.config.enable_script_checks = scripts;
    MachineContext ctx;
    ctx.id = NodeId{1};
    ctx.address = "10.0.0.1:8301";
    ctx.endpoints = {"10.0.0.1:8301", "10.0.0.1:8300", "10.0.0.1:8302"};
    ctx.seed = 5;
    ctx.now = start;
    ctx.storage = disk;
    machine_ = std::make_unique<AgentMachine>(ctx, o);
  }

  void Feed(const InputEvent& what) {
    std::deque<Input> inputs;
    inputs.push_back(Input{now, what});
    while (!inputs.empty()) {
      Effects out;
      machine_->Step(inputs.front(), &out);
      inputs.pop_front();
      for (const StorageWrite& w : out.writes) {
        for (const StorageOp& op : w.ops) ApplyStorageOp(disk_->kv, op);
        if (w.sync) inputs.push_back(Input{now, WriteDurableInput{w.id}});
      }
      for (Response& r : out.responses) responses[r.request_id].push_back(std::move(r));
      for (ProcessStart& p : out.processes) started.push_back(std::move(p));
      if (out.wake_at.has_value()) wake = *out.wake_at;
    }
  }
  void RunFor(Duration d) {
    const Time end = now + d;
    Feed(TickInput{});
    for (int guard = 0; guard < 100000 && wake.has_value() && *wake <= end; ++guard) {
      now = std::max(now, *wake);
      wake.reset();
      Feed(TickInput{});
    }
    now = end;
  }
  // The answer's status and body.
  std::pair<absl::Status, std::string> Call(const std::string& method, const pba::Call& call) {
    const uint64_t id = next_id_++;
    Feed(RequestInput{id, method, call.SerializeAsString()});
    for (int i = 0; i < 100 && responses[id].empty(); ++i) RunFor(absl::Milliseconds(10));
    EXPECT_EQ(responses[id].size(), 1u) << method;
    if (responses[id].empty()) return {absl::UnknownError("no answer"), ""};
    pba::Reply reply;
    EXPECT_TRUE(reply.ParseFromString(responses[id].front().body));
    return {responses[id].front().status, reply.body()};
  }
  J Json(const std::string& method, const pba::Call& call = {}) {
    auto [status, body] = Call(method, call);
    EXPECT_TRUE(status.ok()) << method << ": " << status;
    return J::parse(body.empty() ? "null" : body);
  }
  J CatalogNode() {
    pba::Call c;
    c.set_key("solo");
    return Json("catalog.node", c);
  }
  // The catalog's checks of the node, by ID -> status.
  std::map<std::string, std::string> CatalogChecks() {
    pba::Call c;
    c.set_key("solo");
    std::map<std::string, std::string> out;
    for (const J& k : Json("health.node", c)) out[k["CheckID"]] = k["Status"];
    return out;
  }

  Time now;
  std::optional<Time> wake;
  std::map<uint64_t, std::vector<Response>> responses;
  std::vector<ProcessStart> started;

 private:
  Disk* disk_;
  std::unique_ptr<AgentMachine> machine_;
  uint64_t next_id_ = 1;
};

const Time kT0 = absl::FromUnixSeconds(1'700'000'000);

pba::Call Body(const std::string& json) {
  pba::Call c;
  c.set_json(json);
  return c;
}

pba::Call Key(const std::string& key) {
  pba::Call c;
  c.set_key(key);
  return c;
}

TEST(LocalAgent, RegisterReachesTheCatalogAndTtlPassesChangeIt) {
  Disk disk;
  Agent a(&disk, kT0);
  a.RunFor(absl::Seconds(3));  // leader, own node synced
  auto [status, body] = a.Call("agent.service.register",
                               Body(R"({"name": "web", "id": "web1", "port": 80, "tags": ["v1"], "check": {"ttl": "30s"}})"));
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(body, "");
  J services = a.Json("agent.services");
  ASSERT_TRUE(services.contains("web1"));
  EXPECT_EQ(services["web1"]["Service"], "web");
  EXPECT_EQ(services["web1"]["Port"], 80);
  J checks = a.Json("agent.checks");
  ASSERT_TRUE(checks.contains("service:web1"));
  EXPECT_EQ(checks["service:web1"]["Status"], "critical");
  EXPECT_EQ(checks["service:web1"]["ServiceName"], "web");

  a.RunFor(absl::Milliseconds(100));  // the partial sync after the change
  J node = a.CatalogNode();
  ASSERT_TRUE(node["Services"].contains("web1")) << node.dump();
  EXPECT_EQ(node["Services"]["web1"]["Tags"], J::array({"v1"}));
  EXPECT_EQ(a.CatalogChecks()["service:web1"], "critical");
  EXPECT_EQ(a.CatalogChecks()["serfHealth"], "passing");

  pba::Call pass = Body(R"({"Status": "passing", "Output": "fine"})");
  pass.set_key("service:web1");
  ASSERT_TRUE(a.Call("agent.check.update", pass).first.ok());
  a.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(a.CatalogChecks()["service:web1"], "passing");

  // The TTL runs out: critical in the catalog soon after.
  a.RunFor(absl::Seconds(31));
  EXPECT_EQ(a.CatalogChecks()["service:web1"], "critical");

  // Deregistered: gone from the agent and the catalog; serfHealth stays.
  ASSERT_TRUE(a.Call("agent.service.deregister", Key("web1")).first.ok());
  a.RunFor(absl::Milliseconds(100));
  EXPECT_FALSE(a.CatalogNode()["Services"].contains("web1"));
  EXPECT_FALSE(a.CatalogChecks().contains("service:web1"));
  EXPECT_TRUE(a.CatalogChecks().contains("serfHealth"));
  EXPECT_EQ(a.Call("agent.service", Key("web1")).first.code(), absl::StatusCode::kNotFound);
}

TEST(LocalAgent, AnHttpCheckRunsAsAHostTaskAndItsResultReachesTheCatalog) {
  Disk disk;
  Agent a(&disk, kT0);
  a.RunFor(absl::Seconds(3));
  ASSERT_TRUE(a.Call("agent.service.register",
                     Body(R"({"Name": "api", "Check": {"HTTP": "http://127.0.0.1:9/health", "Interval": "5s"}})"))
                  .first.ok());
  a.RunFor(absl::Seconds(6));
  ASSERT_FALSE(a.started.empty());
  const ProcessStart p = a.started.front();
  EXPECT_EQ(p.kind, ProcessStart::Kind::kHttp);
  EXPECT_EQ(p.url, "http://127.0.0.1:9/health");
  ProcessExitedInput exit;
  exit.process_id = p.id;
  exit.exit_code = 200;
  exit.output = "ok";
  a.Feed(exit);
  a.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(a.CatalogChecks()["service:api"], "passing");
  J health = a.Json("agent.health.service.id", Key("api"));
  EXPECT_EQ(health["AggregatedStatus"], "passing");
  EXPECT_EQ(health["Checks"][0]["Output"], "HTTP GET http://127.0.0.1:9/health: 200 OK Output: ok");
}

TEST(LocalAgent, ARestartKeepsServicesAndChecksWithoutRegisteringAgain) {
  Disk disk;
  {
    Agent a(&disk, kT0);
    a.RunFor(absl::Seconds(3));
    ASSERT_TRUE(a.Call("agent.service.register", Body(R"({"name": "db", "check": {"ttl": "1m"}})")).first.ok());
    pba::Call pass = Body(R"({"Status": "passing"})");
    pass.set_key("service:db");
    ASSERT_TRUE(a.Call("agent.check.update", pass).first.ok());
  }
  Agent b(&disk, kT0 + absl::Seconds(10));
  b.RunFor(absl::Seconds(3));
  EXPECT_TRUE(b.Json("agent.services").contains("db"));
  EXPECT_EQ(b.Json("agent.checks")["service:db"]["Status"], "passing");
  EXPECT_TRUE(b.CatalogNode()["Services"].contains("db"));
}

TEST(LocalAgent, MaintenanceAndRefusals) {
  Disk disk;
  Agent a(&disk, kT0);
  a.RunFor(absl::Seconds(3));
  pba::Call on;
  on.set_flags(1);
  ASSERT_TRUE(a.Call("agent.maintenance", on).first.ok());
  a.RunFor(absl::Milliseconds(100));
  EXPECT_EQ(a.CatalogChecks()["_node_maintenance"], "critical");
  ASSERT_TRUE(a.Call("agent.maintenance", pba::Call()).first.ok());
  a.RunFor(absl::Milliseconds(100));
  EXPECT_FALSE(a.CatalogChecks().contains("_node_maintenance"));

  // A script check on an agent without enable_script_checks; a check of an unknown service.
  EXPECT_EQ(a.Call("agent.check.register", Body(R"({"name": "s", "script": "true", "interval": "5s"})")).first.code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.Call("agent.check.register", Body(R"({"name": "c", "ttl": "5s", "serviceid": "ghost"})")).first.code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Call("agent.service.maintenance", Key("ghost")).first.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a.Call("agent.health.service.name", Key("ghost")).first.code(), absl::StatusCode::kNotFound);
}


// The other node "far" written into the catalog by hand (as its own agent's anti-entropy
// would): the alias on "solo" follows its service's check through the agent's own blocking
// read, in the agent and in the catalog; gone from the catalog, it is critical.
TEST(LocalAgent, AnAliasOfAnotherNodesServiceFollowsItInTheCatalog) {
  Disk disk;
  Agent a(&disk, kT0);
  a.RunFor(absl::Seconds(3));
  auto far_web = [&](const std::string& status, const std::string& output) {
    const std::string body = absl::StrCat(
        R"({"Node": "far", "Address": "10.0.0.9", "Service": {"ID": "web1", "Service": "web"},)",
        R"( "Check": {"CheckID": "service:web1", "Name": "web ttl", "ServiceID": "web1", "Status": ")", status,
        R"(", "Output": ")", output, R"("}})");
    ASSERT_TRUE(a.Call("catalog.register", Body(body)).first.ok());
  };
  far_web("passing", "");
  ASSERT_TRUE(a.Call("agent.check.register",
                     Body(R"({"Name": "far web", "ID": "far-web", "AliasNode": "far", "AliasService": "web1"})"))
                  .first.ok());
  auto agent_check = [&] { return a.Json("agent.checks")["far-web"]; };
  a.RunFor(absl::Milliseconds(200));
  EXPECT_EQ(agent_check()["Status"], "passing");
  EXPECT_EQ(agent_check()["Output"], "All checks passing.");
  EXPECT_EQ(agent_check()["Type"], "alias");
  EXPECT_EQ(a.CatalogChecks()["far-web"], "passing");
  const struct {
    const char* status;
    const char* output;
  } steps[] = {{"warning", "Aliased check \"web ttl\" failing: slow"},
               {"critical", "Aliased check \"web ttl\" failing: slow"},
               {"passing", "All checks passing."}};
  for (const auto& step : steps) {
    far_web(step.status, "slow");
    a.RunFor(absl::Milliseconds(200));  // the blocking read wakes, the partial sync goes
    EXPECT_EQ(agent_check()["Status"], step.status);
    EXPECT_EQ(agent_check()["Output"], step.output);
    EXPECT_EQ(a.CatalogChecks()["far-web"], step.status);
  }
  // The service deregistered from the node: Consul's output, critical in the catalog too.
  ASSERT_TRUE(a.Call("catalog.deregister", Body(R"({"Node": "far", "ServiceID": "web1"})")).first.ok());
  a.RunFor(absl::Milliseconds(200));
  EXPECT_EQ(agent_check()["Status"], "critical");
  EXPECT_EQ(agent_check()["Output"], "Service web1 could not be found on node far");
  EXPECT_EQ(a.CatalogChecks()["far-web"], "critical");
  // Deregistering the alias stops its read; the node coming back changes nothing here.
  ASSERT_TRUE(a.Call("agent.check.deregister", Key("far-web")).first.ok());
  far_web("passing", "");
  a.RunFor(absl::Milliseconds(200));
  EXPECT_FALSE(a.Json("agent.checks").contains("far-web"));
  EXPECT_FALSE(a.CatalogChecks().contains("far-web"));
}

}  // namespace
}  // namespace muster::agent
