// Golden answers of the catalog and health reads: the exact JSON text each endpoint answers
// (field names and order, null vs [], lowercase tagged-address fields), from a catalog built
// through catalog.register bodies as clients and anti-entropy send them. Also: the per-service
// index and watch topics, ?tag, ?passing, ?node-meta, ?filter and ?near, and the register and
// deregister bodies refused before anything is proposed. (The HTTP headers are router_test's.)
#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/agent/autopilot.h"
#include "core/agent/store_reads.h"
#include "core/agent/store_writes.h"
#include "core/base/rng.h"
#include "core/base/time.h"
#include "core/state/fsm.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;

constexpr char kNodeA[] = R"({"ID":"11111111-2222-3333-4444-555555555555","Node":"node-a","Address":"10.0.0.1","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.1","wan":"192.0.2.1"},"NodeMeta":{"rack":"r1"},"Service":{"ID":"web-1","Service":"web","Tags":["v1","primary"],"Address":"10.0.0.11","Port":8080,"Meta":{"version":"1.2"},"Weights":{"Passing":3,"Warning":1},"EnableTagOverride":true,"TaggedAddresses":{"lan":{"Address":"10.0.0.11","Port":8080}}},"Checks":[{"CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing"},{"CheckID":"service:web-1","Name":"web alive","Status":"passing","ServiceID":"web-1","Output":"HTTP 200","Type":"http"}]})";
// python-consul 0.7.1's spelling: lower-case top-level names (W4), the service as the user wrote it.
constexpr char kNodeB[] = R"({"node":"node-b","address":"10.0.0.2","service":{"Service":"web","ID":"web-2","Tags":["v2"],"Port":80},"check":{"CheckID":"service:web-2","Name":"web alive","Status":"critical","ServiceID":"web-2"}})";
constexpr char kNodeC[] = R"({"Node":"node-c","Address":"10.0.0.3","NodeMeta":{"rack":"r2"},"Service":{"Service":"db","Port":5432}})";

class StoreReadsGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Register(kNodeA);
    Register(kNodeB);
    Register(kNodeC);
  }

  absl::Status Write(const std::string& method, std::string json) {
    pba::Call call;
    call.set_json(std::move(json));
    absl::StatusOr<StoreWrite> w = BuildStoreWrite(fsm_.store(), StoreWriteContext{"node-a", "dc1"}, method, call,
                                                   SimEpoch() + absl::Seconds(next_index_));
    if (!w.ok()) return w.status();
    EXPECT_EQ(w->answer, WriteAnswer::kTrue);
    state::ApplyResult r = fsm_.Apply(next_index_++, w->command);
    return r.status;
  }
  void Register(std::string json) { ASSERT_TRUE(Write("catalog.register", std::move(json)).ok()) << json; }

  struct Answer {
    absl::Status status;
    std::string body;
    uint64_t index = 0;
  };
  Answer Read(const std::string& method, pba::Call call) {
    pba::Reply reply;
    Answer a;
    a.status = ServeStoreRead(fsm_.store(), StoreReadContext{autopilot_, "node-b"}, method, call, &reply);
    a.body = reply.body();
    a.index = reply.index();
    return a;
  }
  Answer Read(const std::string& method, const std::string& key = "") {
    pba::Call call;
    call.set_key(key);
    return Read(method, call);
  }
  std::string Body(const std::string& method, pba::Call call) {
    Answer a = Read(method, std::move(call));
    EXPECT_TRUE(a.status.ok()) << method << ": " << a.status;
    return a.body;
  }
  static pba::Call Key(const std::string& key) {
    pba::Call call;
    call.set_key(key);
    return call;
  }

  state::Fsm fsm_;
  AutopilotConfig autopilot_;
  uint64_t next_index_ = 1;
};

constexpr char kNodeAJson[] =
    R"({"ID":"11111111-2222-3333-4444-555555555555","Node":"node-a","Address":"10.0.0.1","Datacenter":"dc1",)"
    R"("TaggedAddresses":{"lan":"10.0.0.1","wan":"192.0.2.1"},"Meta":{"rack":"r1"},"CreateIndex":1,"ModifyIndex":1})";
constexpr char kNodeBJson[] =
    R"({"ID":"","Node":"node-b","Address":"10.0.0.2","Datacenter":"dc1","TaggedAddresses":{},"Meta":{},)"
    R"("CreateIndex":2,"ModifyIndex":2})";
constexpr char kWeb1CatalogJson[] =
    R"({"ID":"11111111-2222-3333-4444-555555555555","Node":"node-a","Address":"10.0.0.1","Datacenter":"dc1",)"
    R"("TaggedAddresses":{"lan":"10.0.0.1","wan":"192.0.2.1"},"NodeMeta":{"rack":"r1"},"ServiceKind":"",)"
    R"("ServiceID":"web-1","ServiceName":"web","ServiceTags":["v1","primary"],"ServiceAddress":"10.0.0.11",)"
    R"("ServiceTaggedAddresses":{"lan":{"address":"10.0.0.11","port":8080}},)"
    R"("ServiceWeights":{"Passing":3,"Warning":1},"ServiceMeta":{"version":"1.2"},"ServicePort":8080,)"
    R"("ServiceEnableTagOverride":true,"ServiceProxy":{"MeshGateway":{},"Expose":{}},"ServiceConnect":{},)"
    R"("CreateIndex":1,"ModifyIndex":1})";
constexpr char kWeb2CatalogJson[] =
    R"({"ID":"","Node":"node-b","Address":"10.0.0.2","Datacenter":"dc1","TaggedAddresses":{},"NodeMeta":{},)"
    R"("ServiceKind":"","ServiceID":"web-2","ServiceName":"web","ServiceTags":["v2"],"ServiceAddress":"",)"
    R"("ServiceWeights":{"Passing":1,"Warning":1},"ServiceMeta":{},"ServicePort":80,)"
    R"("ServiceEnableTagOverride":false,"ServiceProxy":{"MeshGateway":{},"Expose":{}},"ServiceConnect":{},)"
    R"("CreateIndex":2,"ModifyIndex":2})";
constexpr char kWeb1ServiceJson[] =
    R"({"ID":"web-1","Service":"web","Tags":["v1","primary"],"Address":"10.0.0.11",)"
    R"("TaggedAddresses":{"lan":{"address":"10.0.0.11","port":8080}},"Meta":{"version":"1.2"},"Port":8080,)"
    R"("Weights":{"Passing":3,"Warning":1},"EnableTagOverride":true,"Proxy":{"MeshGateway":{},"Expose":{}},)"
    R"("Connect":{},"CreateIndex":1,"ModifyIndex":1})";
constexpr char kSerfAJson[] =
    R"({"Node":"node-a","CheckID":"serfHealth","Name":"Serf Health Status","Status":"passing","Notes":"",)"
    R"("Output":"","ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"","CreateIndex":1,"ModifyIndex":1})";
constexpr char kWeb1CheckJson[] =
    R"({"Node":"node-a","CheckID":"service:web-1","Name":"web alive","Status":"passing","Notes":"",)"
    R"("Output":"HTTP 200","ServiceID":"web-1","ServiceName":"web","ServiceTags":["v1","primary"],"Type":"http",)"
    R"("CreateIndex":1,"ModifyIndex":1})";
constexpr char kWeb2CheckJson[] =
    R"({"Node":"node-b","CheckID":"service:web-2","Name":"web alive","Status":"critical","Notes":"",)"
    R"("Output":"","ServiceID":"web-2","ServiceName":"web","ServiceTags":["v2"],"Type":"","CreateIndex":2,)"
    R"("ModifyIndex":2})";

std::string List(std::vector<std::string> rows) {
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i) out += (i ? "," : "") + rows[i];
  return out + "]";
}

TEST_F(StoreReadsGoldenTest, CatalogServiceRows) {
  Answer a = Read("catalog.service", "web");
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.body, List({kWeb1CatalogJson, kWeb2CatalogJson}));
  EXPECT_EQ(a.index, fsm_.store().ServiceIndex("web"));
  EXPECT_EQ(a.index, 2u);  // node-c's db (index 3) is not web's
  // No such service: [] (not null), still indexed.
  a = Read("catalog.service", "nope");
  EXPECT_EQ(a.body, "[]");
  EXPECT_GE(a.index, 1u);
}

TEST_F(StoreReadsGoldenTest, CatalogServiceTagsAllMustMatchInAnyCase) {
  pba::Call call = Key("web");
  call.add_tags("PRIMARY");
  EXPECT_EQ(Body("catalog.service", call), List({kWeb1CatalogJson}));
  call.add_tags("v1");
  EXPECT_EQ(Body("catalog.service", call), List({kWeb1CatalogJson}));
  call.add_tags("v2");
  EXPECT_EQ(Body("catalog.service", call), "[]");
}

TEST_F(StoreReadsGoldenTest, HealthServiceRowsAndPassing) {
  const std::string web1 = std::string(R"({"Node":)") + kNodeAJson + R"(,"Service":)" + kWeb1ServiceJson +
                           R"(,"Checks":[)" + kSerfAJson + "," + kWeb1CheckJson + "]}";
  pba::Call call = Key("web");
  call.set_passing(true);
  Answer a = Read("health.service", call);
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.body, "[" + web1 + "]");
  EXPECT_EQ(a.index, fsm_.store().ServiceIndex("web"));
  // Without ?passing both, node-b's with its one (critical) check.
  std::string all = Body("health.service", Key("web"));
  EXPECT_EQ(all.substr(0, web1.size() + 1), "[" + web1);
  EXPECT_NE(all.find(std::string(R"("Checks":[)") + kWeb2CheckJson + "]}]"), std::string::npos) << all;
  // A service without checks: "Checks": [].
  EXPECT_NE(Body("health.service", Key("db")).find(R"("Checks":[]})"), std::string::npos);
  EXPECT_EQ(Body("health.service", Key("nope")), "[]");
}

TEST_F(StoreReadsGoldenTest, HealthChecksOfAService) {
  Answer a = Read("health.checks", "web");
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.body, List({kWeb1CheckJson, kWeb2CheckJson}));
  EXPECT_EQ(a.index, fsm_.store().ServiceIndex("web"));
  EXPECT_EQ(Body("health.checks", Key("db")), "[]");
}

TEST_F(StoreReadsGoldenTest, NodeServicesAndNode) {
  EXPECT_EQ(Body("catalog.node-services", Key("node-a")),
            std::string(R"({"Node":)") + kNodeAJson + R"(,"Services":[)" + kWeb1ServiceJson + "]}");
  EXPECT_EQ(Body("catalog.node", Key("node-a")),
            std::string(R"({"Node":)") + kNodeAJson + R"(,"Services":{"web-1":)" + kWeb1ServiceJson + "}}");
  // An unknown node: 200 null for both, as Consul.
  EXPECT_EQ(Body("catalog.node-services", Key("nope")), "null");
  EXPECT_EQ(Body("catalog.node", Key("nope")), "null");
  // A node without services: an empty list / object.
  Register(R"({"Node":"node-d","Address":"10.0.0.4"})");
  EXPECT_NE(Body("catalog.node-services", Key("node-d")).find(R"("Services":[]})"), std::string::npos);
  EXPECT_NE(Body("catalog.node", Key("node-d")).find(R"("Services":{}})"), std::string::npos);
}

TEST_F(StoreReadsGoldenTest, NodeMetaOnEveryCatalogRead) {
  pba::Call rack1;
  rack1.add_node_meta("rack:r1");
  EXPECT_EQ(Body("catalog.nodes", rack1), List({kNodeAJson}));
  EXPECT_EQ(Body("catalog.services", rack1), R"({"web":["primary","v1"]})");
  pba::Call web = Key("web");
  web.add_node_meta("rack:r1");
  EXPECT_EQ(Body("catalog.service", web), List({kWeb1CatalogJson}));
  EXPECT_EQ(Body("health.checks", web), List({kWeb1CheckJson}));
  web.add_node_meta("rack:r2");  // every pair must match
  EXPECT_EQ(Body("catalog.service", web), "[]");
  pba::Call none;
  none.add_node_meta("zone");  // "zone" is zone:"" (no node has it)
  EXPECT_EQ(Body("catalog.nodes", none), "[]");
  EXPECT_EQ(Body("catalog.services", none), "{}");
  // Without node-meta, every service with the union of its tags.
  EXPECT_EQ(Body("catalog.services", pba::Call()), R"({"db":[],"web":["primary","v1","v2"]})");
}

TEST_F(StoreReadsGoldenTest, FiltersOnEachEndpointsRows) {
  auto filtered = [&](const std::string& method, const std::string& key, const std::string& filter) {
    pba::Call call = Key(key);
    call.set_filter(filter);
    return Body(method, call);
  };
  EXPECT_EQ(filtered("catalog.service", "web", "ServiceMeta.version == \"1.2\""), List({kWeb1CatalogJson}));
  EXPECT_EQ(filtered("catalog.service", "web", "v2 in ServiceTags or NodeMeta.rack == r9"), List({kWeb2CatalogJson}));
  EXPECT_EQ(filtered("catalog.nodes", "", "Meta.rack == r1"), List({kNodeAJson}));
  EXPECT_EQ(filtered("catalog.services", "", "ServicePort == 5432"), R"({"db":[]})");
  EXPECT_EQ(filtered("health.checks", "web", "Status == critical"), List({kWeb2CheckJson}));
  EXPECT_EQ(filtered("health.node", "node-a", "CheckID == serfHealth"), List({kSerfAJson}));
  EXPECT_EQ(filtered("health.state", "passing", "ServiceName == web"), List({kWeb1CheckJson}));
  const std::string healthy = filtered("health.service", "web", "Checks.Status != critical and Service.Port == 8080");
  EXPECT_NE(healthy.find("\"web-1\""), std::string::npos);
  EXPECT_EQ(healthy.find("\"web-2\""), std::string::npos);
  EXPECT_EQ(filtered("catalog.node-services", "node-a", "Port == 1"),
            std::string(R"({"Node":)") + kNodeAJson + R"(,"Services":[]})");
  // A bad filter is the client's mistake, named.
  pba::Call bad = Key("web");
  bad.set_filter("ServiceNam == web");
  Answer a = Read("catalog.service", bad);
  EXPECT_EQ(a.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status.message(), "Failed to create boolean expression evaluator: Selector \"ServiceNam\" is not valid");
}

TEST_F(StoreReadsGoldenTest, NearSortsThatNodeFirst) {
  pba::Call call = Key("web");
  call.set_near("node-b");
  EXPECT_EQ(Body("catalog.service", call), List({kWeb2CatalogJson, kWeb1CatalogJson}));
  call.set_near("_agent");  // the context's node: node-b
  EXPECT_EQ(Body("catalog.service", call), List({kWeb2CatalogJson, kWeb1CatalogJson}));
  EXPECT_EQ(Body("health.checks", call), List({kWeb2CheckJson, kWeb1CheckJson}));
  call.set_near("no-such-node");  // no coordinates: the default order
  EXPECT_EQ(Body("catalog.service", call), List({kWeb1CatalogJson, kWeb2CatalogJson}));
  pba::Call nodes;
  nodes.set_near("node-c");
  std::string body = Body("catalog.nodes", nodes);
  EXPECT_EQ(body.rfind(R"([{"ID":"","Node":"node-c")", 0), 0u) << body;
}

TEST_F(StoreReadsGoldenTest, OneServicesReadsWatchThatService) {
  for (const char* method : {"catalog.service", "health.service", "health.checks"}) {
    std::vector<state::WatchTopic> topics = StoreReadTopics(method, Key("web"));
    ASSERT_EQ(topics.size(), 1u) << method;
    EXPECT_EQ(topics[0].kind, state::WatchTopic::Kind::kServiceName);
    EXPECT_EQ(topics[0].name, "web");
  }
  EXPECT_EQ(StoreReadTopics("catalog.node-services", Key("node-a")).size(), 2u);
  // A change to db moves neither web's index nor wakes its watchers.
  const uint64_t web_index = Read("catalog.service", "web").index;
  fsm_.watches().Add(77, StoreReadTopics("catalog.service", Key("web")));
  Register(R"({"Node":"node-c","Address":"10.0.0.3","Service":{"Service":"db","Port":5433}})");
  EXPECT_EQ(Read("catalog.service", "web").index, web_index);
  EXPECT_EQ(fsm_.watches().size(), 1u);
  // A change to one of web's checks does both.
  Register(R"({"Node":"node-b","Address":"10.0.0.2","Check":{"CheckID":"service:web-2","Name":"web alive","Status":"passing","ServiceID":"web-2"}})");
  EXPECT_GT(Read("catalog.service", "web").index, web_index);
  EXPECT_EQ(fsm_.watches().size(), 0u);
}

TEST_F(StoreReadsGoldenTest, DeregisterServiceCheckAndNode) {
  ASSERT_TRUE(Write("catalog.deregister", R"({"node":"node-b","checkid":"service:web-2"})").ok());
  EXPECT_EQ(Body("health.checks", Key("web")), List({kWeb1CheckJson}));
  ASSERT_TRUE(Write("catalog.deregister", R"({"Node":"node-b","ServiceID":"web-2"})").ok());
  EXPECT_EQ(Body("catalog.service", Key("web")), List({kWeb1CatalogJson}));
  // A client may remove a node's serfHealth, as Consul lets it.
  ASSERT_TRUE(Write("catalog.deregister", R"({"Node":"node-a","CheckID":"serfHealth"})").ok());
  EXPECT_EQ(Body("health.node", Key("node-a")), List({kWeb1CheckJson}));
  ASSERT_TRUE(Write("catalog.deregister", R"({"Node":"node-a"})").ok());
  EXPECT_EQ(Body("catalog.service", Key("web")), "[]");
  EXPECT_EQ(Body("catalog.node", Key("node-a")), "null");
  // Something absent: a no-op, still true.
  EXPECT_TRUE(Write("catalog.deregister", R"({"Node":"nope","ServiceID":"x"})").ok());
}

TEST_F(StoreReadsGoldenTest, RegisterKeepsAndDefaultsAsConsul) {
  // SkipNodeUpdate keeps the node as it is; no address is needed for a known node then.
  Register(R"({"Node":"node-a","SkipNodeUpdate":true,"Service":{"Service":"cache","Port":6379}})");
  EXPECT_EQ(Body("catalog.nodes", [] {
              pba::Call c;
              c.set_filter("Node == node-a");
              return c;
            }()),
            List({kNodeAJson}));
  // The service's ID is its name; a check's ID its name, its status critical.
  Register(R"({"Node":"node-a","SkipNodeUpdate":true,"Check":{"Name":"disk","ServiceID":"cache"}})");
  const std::string checks = Body("health.checks", Key("cache"));
  EXPECT_NE(checks.find(R"("CheckID":"disk","Name":"disk","Status":"critical")"), std::string::npos) << checks;
  EXPECT_NE(checks.find(R"("ServiceID":"cache","ServiceName":"cache")"), std::string::npos) << checks;
  // Later spellings of a field win, as Go's decoder.
  Register(R"({"Node":"node-e","Address":"10.0.0.5","address":"10.0.0.6"})");
  EXPECT_NE(Body("catalog.node", Key("node-e")).find(R"("Address":"10.0.0.6")"), std::string::npos);
  // Fields muster does not keep are read past (Consul's api.CatalogRegistration carries them).
  Register(R"({"Node":"node-f","Address":"10.0.0.7","Partition":"","WriteRequest":{"Token":"x"},"Service":{"Service":"s","Kind":"","Proxy":{"Upstreams":[{"DestinationName":"x","Config":{"a":1}}]},"Connect":{"Native":false}},"Check":{"Name":"c","Definition":{"HTTP":"http://x","Header":{"A":["b"]}},"Interval":"10s"}})");
  EXPECT_EQ(Body("catalog.service", Key("s")).find("node-f") != std::string::npos, true);
}

TEST_F(StoreReadsGoldenTest, RegisterRefusalsBeforeProposing) {
  auto refusal = [&](const std::string& method, const std::string& body) {
    absl::Status s = Write(method, body);
    EXPECT_FALSE(s.ok()) << body;
    return s;
  };
  absl::Status dc = refusal("catalog.register", R"({"Node":"x","Address":"1.2.3.4","Datacenter":"dc2"})");
  EXPECT_EQ(dc.code(), absl::StatusCode::kUnavailable);  // HTTP 500, as Consul's
  EXPECT_EQ(dc.message(), "No path to datacenter");
  EXPECT_EQ(refusal("catalog.deregister", R"({"Node":"x","Datacenter":"dc2"})").message(), "No path to datacenter");
  EXPECT_TRUE(Write("catalog.register", R"({"Node":"x","Address":"1.2.3.4","Datacenter":"dc1"})").ok());
  EXPECT_EQ(refusal("catalog.deregister", R"({"ServiceID":"s"})").message(), "Must provide node");
  for (const char* body : {
           "",
           "[]",
           "{",
           R"({"Address":"1.2.3.4"})",
           R"({"Node":"new","Service":{"Service":"s"}})",
           R"({"Node":"x","Address":"1.2.3.4","ID":"not-a-uuid"})",
           R"({"Node":7,"Address":"1.2.3.4"})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"Service":"s","Port":"80"}})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"Service":"s","Port":80.5}})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"Service":"s","Port":70000}})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"ID":"s"}})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"Service":"s","Tags":"a"}})",
           R"({"Node":"x","Address":"1.2.3.4","Service":{"Service":"s","Meta":{"a":1}}})",
           R"({"Node":"x","Address":"1.2.3.4","Check":{"Name":"c","Status":"maybe"}})",
           R"({"Node":"x","Address":"1.2.3.4","Checks":{"Name":"c"}})",
           R"({"Node":"x","Address":"1.2.3.4","SkipNodeUpdate":"yes"})",
       }) {
    absl::Status s = refusal("catalog.register", body);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body << ": " << s;
  }
  // Go's decoder refuses what follows a NUL byte; nlohmann would stop there and accept.
  EXPECT_EQ(refusal("catalog.register", std::string(R"({"Node":"y","Address":"1.2.3.4"})") + '\0' + "garbage")
                .message(),
            "Request decode failed: invalid character '\\x00' in the body");
  EXPECT_EQ(refusal("catalog.deregister", std::string(R"({"Node":"x"})") + '\0').code(),
            absl::StatusCode::kInvalidArgument);
  // Bounds: nesting, meta pairs, body size.
  std::string deep = R"({"Node":"x","Address":"1.2.3.4","Service":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  EXPECT_EQ(refusal("catalog.register", deep).message(), "Request decode failed: nested deeper than 10");
  std::string meta = R"({"Node":"x","Address":"1.2.3.4","NodeMeta":{)";
  for (int i = 0; i < 65; ++i) meta += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":\"v\"";
  EXPECT_EQ(refusal("catalog.register", meta + "}}").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refusal("catalog.register", std::string(600 * 1024, ' ')).code(), absl::StatusCode::kInvalidArgument);
  // A check of a service the node does not have is refused when the entry applies.
  EXPECT_EQ(refusal("catalog.register", R"({"Node":"x","Address":"1.2.3.4","Check":{"Name":"c","ServiceID":"nope"}})")
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// ?keys answers what nlohmann writes for the array of keys, for plain keys (written directly)
// and keys that need escapes or are not ASCII (through nlohmann).
TEST_F(StoreReadsGoldenTest, KeysListingIsTheJsonArrayOfTheKeys) {
  const std::vector<std::vector<std::string>> sets = {
      {"p/a", "p/b/c", "p/d e", "p/~{}[]:,"},
      {"q/plain", "q/quote\"d", "q/back\\slash", "q/tab\t", "q/ctl\x01", "q/del\x7f", "q/caf\xc3\xa9"},
  };
  for (const std::vector<std::string>& keys : sets) {
    for (const std::string& key : keys) {
      state::KVEntry e;
      e.key = key;
      e.value = "v";
      ASSERT_TRUE(fsm_.Apply(next_index_++, state::commands::KV(SimEpoch(), proto::state::KVRequest::SET, e)).status.ok());
    }
    pba::Call call;
    call.set_key(keys.front().substr(0, 2));
    call.set_keys(true);
    const Answer a = Read("kv.get", call);
    ASSERT_TRUE(a.status.ok()) << a.status;
    std::vector<std::string> sorted = keys;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(a.body, nlohmann::ordered_json(sorted).dump());
  }
}

TEST_F(StoreReadsGoldenTest, CheckOutputThatIsNotUtf8IsAnsweredWithReplacements) {
  // A script check's output is its bytes (the agent's own checks reach the store without a
  // JSON body); the answers carry U+FFFD for them, as Go's encoder does, and never fail.
  state::RegisterRequest req;
  req.node.name = "node-a";
  req.skip_node_update = true;
  state::Check c;
  c.check_id = "script";
  c.name = "script";
  c.status = state::HealthStatus::kWarning;
  c.output = "exit 1: \xff\xfe";
  req.checks.push_back(c);
  ASSERT_TRUE(fsm_.Apply(next_index_++, state::commands::Register(SimEpoch(), req)).status.ok());
  for (const char* method : {"health.node", "health.state"}) {
    Answer a = Read(method, method == std::string("health.node") ? "node-a" : "warning");
    ASSERT_TRUE(a.status.ok()) << method;
    EXPECT_NE(a.body.find("\"Output\":\"exit 1: \xef\xbf\xbd\xef\xbf\xbd\""), std::string::npos) << a.body;
  }
  EXPECT_NE(Body("health.service", Key("web")).find("\xef\xbf\xbd"), std::string::npos);
}

// Seeded random mutations of real register and deregister bodies (bytes dropped, inserted,
// swapped; values replaced by other JSON types): each is refused by name before proposing,
// refused by the state when it applies, or applied; the catalog's answers stay JSON.
TEST_F(StoreReadsGoldenTest, RandomBodiesAreRefusedOrApplied) {
  const std::vector<std::string> seeds = {
      kNodeA, kNodeB, kNodeC, R"({"Node":"node-b","ServiceID":"web-2"})", R"({"Node":"node-a","CheckID":"serfHealth"})",
      R"({"Node":"node-a","SkipNodeUpdate":true,"Checks":[{"Name":"x","ServiceID":"web-1"},{"CheckID":"y","Status":"warning"}]})"};
  const std::vector<std::string> values = {"null", "true", "-1", "1e308", "\"\"", "[]", "{}", "[[[[]]]]",
                                           "\"\\u0000\"", "65536", "\"passing\"", "{\"a\":\"b\"}"};
  Rng rng(1201);
  size_t applied = 0, refused_early = 0, refused_late = 0;
  for (int run = 0; run < 4000; ++run) {
    std::string body = seeds[rng.Uniform(seeds.size())];
    const int edits = static_cast<int>(rng.Uniform(4));
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = rng.Uniform(body.size());
      switch (rng.Uniform(4)) {
        case 0: body.erase(at, 1 + rng.Uniform(8)); break;
        case 1: body.insert(at, 1, static_cast<char>(rng.Uniform(256))); break;
        case 2: {  // a value after some ':' replaced by another type
          const size_t colon = body.find(':', at);
          if (colon == std::string::npos) break;
          const size_t end = body.find_first_of(",}", colon);
          body.replace(colon + 1, end == std::string::npos ? 0 : end - colon - 1, values[rng.Uniform(values.size())]);
          break;
        }
        default: std::swap(body[at], body[rng.Uniform(body.size())]); break;
      }
    }
    const std::string method = body.find("\"Address\"") != std::string::npos || rng.Bernoulli(0.5)
                                   ? "catalog.register"
                                   : "catalog.deregister";
    pba::Call call;
    call.set_json(body);
    absl::StatusOr<StoreWrite> w = BuildStoreWrite(fsm_.store(), StoreWriteContext{"node-a", "dc1"}, method, call,
                                                   SimEpoch() + absl::Seconds(next_index_));
    if (!w.ok()) {
      ASSERT_TRUE(w.status().code() == absl::StatusCode::kInvalidArgument ||
                  w.status().code() == absl::StatusCode::kUnavailable)
          << body << ": " << w.status();
      ASSERT_FALSE(w.status().message().empty());
      ++refused_early;
      continue;
    }
    const state::ApplyResult r = fsm_.Apply(next_index_++, w->command);
    if (r.status.ok()) {
      ++applied;
    } else {
      ASSERT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << body << ": " << r.status;
      ++refused_late;
    }
    if (run % 50 == 0) {
      for (const char* read : {"catalog.nodes", "catalog.services", "health.state"}) {
        Answer a = Read(read, read == std::string("health.state") ? "any" : "");
        ASSERT_TRUE(a.status.ok()) << read;
        ASSERT_FALSE(nlohmann::json::parse(a.body, nullptr, false).is_discarded()) << a.body;
      }
      Answer a = Read("health.service", "web");
      ASSERT_FALSE(nlohmann::json::parse(a.body, nullptr, false).is_discarded()) << a.body;
    }
  }
  // Each outcome occurs, or the mutations test less than they seem to.
  EXPECT_GT(applied, 100u);
  EXPECT_GT(refused_early, 100u);
  EXPECT_GT(refused_late, 0u);
}

}  // namespace
}  // namespace muster::agent
