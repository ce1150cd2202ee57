// Catalog and health semantics, following Consul's docs: api/catalog ("Register Entity",
// "Deregister Entity", "List Nodes for Service", "List Services") and api/health
// ("List Service Instances for Service", "List Checks in State"), and agent maintenance mode.
#include <gtest/gtest.h>

#include "core/state/store.h"
#include "core/state/test_util.h"

namespace muster::state {
namespace {

using testing::LiveNodeReq;
using testing::MakeCheck;
using testing::NodeReq;
using testing::ServiceReq;
using testing::T;

std::vector<std::string> Ids(const std::vector<Check>& checks) {
  std::vector<std::string> out;
  for (const Check& c : checks) out.push_back(c.check_id);
  return out;
}

// api/catalog "Register Entity": node, service and checks in one request, one index.
TEST(CatalogTest, RegisterEntityNodeServiceAndChecksAtOneIndex) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "web-1", "web", {"v1", "prod"}, 8080);
  req.node.id = "11111111-2222-3333-4444-555555555555";
  req.node.tagged_addresses = {{"lan", "10.0.0.1"}, {"wan", "1.2.3.4"}};
  req.node.meta = {{"rack", "a"}};
  req.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  req.checks.push_back(MakeCheck("web-http", HealthStatus::kWarning, "web-1"));
  ASSERT_TRUE(s.Register(5, T(0), req).ok());

  std::optional<Node> n = s.GetNode("n1");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->create_index, 5u);
  EXPECT_EQ(n->modify_index, 5u);
  EXPECT_EQ(n->tagged_addresses.at("wan"), "1.2.3.4");
  EXPECT_EQ(n->meta.at("rack"), "a");

  auto instances = s.ServiceNodes("web", {});
  ASSERT_EQ(instances.value.size(), 1u);
  EXPECT_EQ(instances.index, 5u);
  EXPECT_EQ(instances.value[0].node.name, "n1");
  EXPECT_EQ(instances.value[0].service.port, 8080);
  EXPECT_EQ(instances.value[0].service.create_index, 5u);

  auto checks = s.ServiceChecks("web");
  ASSERT_EQ(checks.value.size(), 1u);
  // The store fills ServiceName and ServiceTags from the service.
  EXPECT_EQ(checks.value[0].service_name, "web");
  EXPECT_EQ(checks.value[0].service_tags, (std::vector<std::string>{"v1", "prod"}));
  EXPECT_EQ(s.TableIndex(kTableNodes), 5u);
  EXPECT_EQ(s.TableIndex(kTableServices), 5u);
  EXPECT_EQ(s.TableIndex(kTableChecks), 5u);
}

TEST(CatalogTest, ServiceIdDefaultsToNameAndCheckIdToName) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "", "redis");
  Check c = MakeCheck("", HealthStatus::kPassing, "redis");
  c.name = "redis-alive";
  req.checks.push_back(c);
  ASSERT_TRUE(s.Register(1, T(0), req).ok());
  auto nodes = s.ServiceNodes("redis", {});
  ASSERT_EQ(nodes.value.size(), 1u);
  EXPECT_EQ(nodes.value[0].service.id, "redis");
  EXPECT_EQ(Ids(s.NodeChecks("n1").value), std::vector<std::string>{"redis-alive"});
}

// A check registered without a status starts critical, as in Consul's catalog.
TEST(CatalogTest, NewCheckDefaultsToCritical) {
  Store s;
  RegisterRequest req = NodeReq("n1");
  Check c;
  c.check_id = "c";
  req.checks.push_back(c);
  ASSERT_TRUE(s.Register(1, T(0), req).ok());
  EXPECT_EQ(s.NodeChecks("n1").value.at(0).status, HealthStatus::kCritical);
}

TEST(CatalogTest, IdenticalReRegistrationMovesNoIndex) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "web-1", "web");
  req.checks.push_back(MakeCheck("c1", HealthStatus::kPassing, "web-1"));
  ASSERT_TRUE(s.Register(3, T(0), req).ok());
  s.TakeChanges();
  ASSERT_TRUE(s.Register(4, T(0), req).ok());
  EXPECT_EQ(s.TableIndex(kTableNodes), 3u);
  EXPECT_EQ(s.TableIndex(kTableServices), 3u);
  EXPECT_EQ(s.TableIndex(kTableChecks), 3u);
  EXPECT_EQ(s.ServiceIndex("web"), 3u);
  EXPECT_TRUE(s.TakeChanges().empty());
}

TEST(CatalogTest, UpdateKeepsCreateIndexAndMovesModifyIndex) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "web-1", "web", {"v1"});
  ASSERT_TRUE(s.Register(3, T(0), req).ok());
  req.service->tags = {"v2"};
  ASSERT_TRUE(s.Register(7, T(0), req).ok());
  auto svc = s.ServiceNodes("web", {}).value.at(0).service;
  EXPECT_EQ(svc.create_index, 3u);
  EXPECT_EQ(svc.modify_index, 7u);
  EXPECT_EQ(s.GetNode("n1")->modify_index, 3u);  // the node itself did not change
  EXPECT_EQ(s.ServiceIndex("web"), 7u);
}

TEST(CatalogTest, BadRegistrationsAreRejectedAndChangeNothing) {
  Store s;
  EXPECT_EQ(s.Register(1, T(0), NodeReq("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.Register(1, T(0), NodeReq("n1", "")).code(), absl::StatusCode::kInvalidArgument);
  RegisterRequest no_name = ServiceReq("n1", "x", "");
  EXPECT_FALSE(s.Register(1, T(0), no_name).ok());
  // A service check for a service not on the node.
  RegisterRequest orphan = NodeReq("n1");
  orphan.checks.push_back(MakeCheck("c", HealthStatus::kPassing, "nope"));
  EXPECT_FALSE(s.Register(1, T(0), orphan).ok());
  // A check naming another node.
  RegisterRequest other = NodeReq("n1");
  other.checks.push_back(MakeCheck("c", HealthStatus::kPassing));
  other.checks.back().node = "n2";
  EXPECT_FALSE(s.Register(1, T(0), other).ok());
  EXPECT_TRUE(s.Nodes().value.empty());
  EXPECT_TRUE(s.TakeChanges().empty());
  EXPECT_EQ(s.Nodes().index, 1u);  // never 0
}

TEST(CatalogTest, NodeIdAliasingAnotherNodeIsRejected) {
  Store s;
  RegisterRequest a = NodeReq("a");
  a.node.id = "id-1";
  ASSERT_TRUE(s.Register(1, T(0), a).ok());
  RegisterRequest b = NodeReq("b");
  b.node.id = "id-1";
  EXPECT_FALSE(s.Register(2, T(0), b).ok());
  EXPECT_FALSE(s.GetNode("b").has_value());
}

TEST(CatalogTest, SkipNodeUpdateLeavesNodeAlone) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), NodeReq("n1", "10.0.0.1")).ok());
  RegisterRequest req = ServiceReq("n1", "web-1", "web");
  req.node.address = "";  // allowed with skip_node_update on a known node
  req.skip_node_update = true;
  ASSERT_TRUE(s.Register(2, T(0), req).ok());
  EXPECT_EQ(s.GetNode("n1")->address, "10.0.0.1");
  EXPECT_EQ(s.GetNode("n1")->modify_index, 1u);
  EXPECT_EQ(s.ServiceNodes("web", {}).value.size(), 1u);
}

// api/catalog "Deregister Entity": removing a node removes its services and checks.
TEST(CatalogTest, DeregisterNodeWithServicesRemovesEverything) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "web-1", "web");
  req.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  req.checks.push_back(MakeCheck("c1", HealthStatus::kPassing, "web-1"));
  ASSERT_TRUE(s.Register(1, T(0), req).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n1", "db-1", "db")).ok());
  ASSERT_TRUE(s.Register(3, T(0), ServiceReq("n2", "web-2", "web")).ok());
  s.TakeChanges();

  ASSERT_TRUE(s.DeregisterNode(9, T(0), "n1").ok());
  EXPECT_FALSE(s.GetNode("n1").has_value());
  EXPECT_FALSE(s.GetNodeServices("n1").value.has_value());
  EXPECT_TRUE(s.NodeChecks("n1").value.empty());
  auto web = s.ServiceNodes("web", {});
  ASSERT_EQ(web.value.size(), 1u);
  EXPECT_EQ(web.value[0].node.name, "n2");
  EXPECT_EQ(web.index, 9u);
  // "db" has no instances left, but its index still records the delete.
  EXPECT_TRUE(s.ServiceNodes("db", {}).value.empty());
  EXPECT_EQ(s.ServiceIndex("db"), 9u);
  EXPECT_EQ(s.check_count(), 0u);
  ChangeSet ch = s.TakeChanges();
  EXPECT_TRUE(ch.service_names.contains("db"));
  EXPECT_TRUE(ch.service_names.contains("web"));
  EXPECT_TRUE(ch.nodes.contains("n1"));
}

TEST(CatalogTest, DeregisterServiceRemovesItsChecksOnly) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "web-1", "web");
  req.checks.push_back(MakeCheck("node-check", HealthStatus::kPassing));
  req.checks.push_back(MakeCheck("web-check", HealthStatus::kPassing, "web-1"));
  ASSERT_TRUE(s.Register(1, T(0), req).ok());
  ASSERT_TRUE(s.DeregisterService(2, T(0), "n1", "web-1").ok());
  EXPECT_TRUE(s.ServiceNodes("web", {}).value.empty());
  EXPECT_EQ(Ids(s.NodeChecks("n1").value), std::vector<std::string>{"node-check"});
  EXPECT_TRUE(s.GetNode("n1").has_value());
}

TEST(CatalogTest, DeregisterMissingThingsIsANoOp) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), NodeReq("n1")).ok());
  s.TakeChanges();
  EXPECT_TRUE(s.DeregisterNode(2, T(0), "ghost").ok());
  EXPECT_TRUE(s.DeregisterService(2, T(0), "n1", "ghost").ok());
  EXPECT_TRUE(s.DeregisterCheck(2, T(0), "n1", "ghost").ok());
  EXPECT_TRUE(s.TakeChanges().empty());
  EXPECT_EQ(s.TableIndex(kTableNodes), 1u);
}

// api/catalog "List Services": name -> union of tags.
TEST(CatalogTest, ListServicesUnionsTags) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), ServiceReq("n1", "web-1", "web", {"v1", "prod"})).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n2", "web-2", "web", {"v2", "prod"})).ok());
  ASSERT_TRUE(s.Register(3, T(0), ServiceReq("n2", "db", "db")).ok());
  auto services = s.Services();
  ASSERT_EQ(services.value.size(), 2u);
  EXPECT_EQ(services.value[0].first, "db");
  EXPECT_TRUE(services.value[0].second.empty());
  EXPECT_EQ(services.value[1].second, (std::vector<std::string>{"prod", "v1", "v2"}));
  EXPECT_EQ(services.index, 3u);
}

// api/catalog "List Nodes for Service": repeated tag filters must all match.
TEST(CatalogTest, ServiceNodesTagFilterNeedsEveryTag) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), ServiceReq("n1", "web-1", "web", {"v1", "prod"})).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n2", "web-2", "web", {"v2", "prod"})).ok());
  EXPECT_EQ(s.ServiceNodes("web", {"prod"}).value.size(), 2u);
  auto v1 = s.ServiceNodes("web", {"prod", "V1"}).value;
  ASSERT_EQ(v1.size(), 1u);
  EXPECT_EQ(v1[0].node.name, "n1");
  EXPECT_TRUE(s.ServiceNodes("web", {"v3"}).value.empty());
  EXPECT_TRUE(s.ServiceNodes("nope", {}).value.empty());
}

// api/health "List Service Instances for Service": node checks plus service checks; with
// ?passing only instances whose every check passes.
TEST(HealthTest, ServiceHealthCombinesNodeAndServiceChecksAndFiltersPassing) {
  Store s;
  RegisterRequest a = ServiceReq("a", "web-a", "web");
  a.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  a.checks.push_back(MakeCheck("web-a-http", HealthStatus::kPassing, "web-a"));
  RegisterRequest b = ServiceReq("b", "web-b", "web");
  b.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  b.checks.push_back(MakeCheck("web-b-http", HealthStatus::kWarning, "web-b"));
  RegisterRequest c = ServiceReq("c", "web-c", "web");
  c.checks.push_back(MakeCheck("serfHealth", HealthStatus::kCritical));  // failed node
  ASSERT_TRUE(s.Register(1, T(0), a).ok());
  ASSERT_TRUE(s.Register(2, T(0), b).ok());
  ASSERT_TRUE(s.Register(3, T(0), c).ok());
  // A node check unrelated to the service still counts; a check of another service does not.
  ASSERT_TRUE(s.Register(4, T(0), ServiceReq("a", "other", "other")).ok());
  RegisterRequest other_check = NodeReq("a");
  other_check.checks.push_back(MakeCheck("other-check", HealthStatus::kCritical, "other"));
  ASSERT_TRUE(s.Register(5, T(0), other_check).ok());

  auto all = s.ServiceHealthQuery("web", {}, false);
  ASSERT_EQ(all.value.size(), 3u);
  EXPECT_EQ(Ids(all.value[0].checks), (std::vector<std::string>{"serfHealth", "web-a-http"}));
  EXPECT_EQ(AggregateStatus(all.value[1].checks), HealthStatus::kWarning);
  EXPECT_EQ(AggregateStatus(all.value[2].checks), HealthStatus::kCritical);
  auto passing = s.ServiceHealthQuery("web", {}, true);
  ASSERT_EQ(passing.value.size(), 1u);
  EXPECT_EQ(passing.value[0].node.name, "a");
  EXPECT_EQ(passing.index, s.ServiceIndex("web"));
}

TEST(HealthTest, NodeCheckChangeMovesTheIndexOfServicesOnThatNode) {
  Store s;
  RegisterRequest a = ServiceReq("a", "web-a", "web");
  a.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  ASSERT_TRUE(s.Register(1, T(0), a).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("b", "db", "db")).ok());
  s.TakeChanges();
  RegisterRequest fail = NodeReq("a");
  fail.skip_node_update = true;
  fail.checks.push_back(MakeCheck("serfHealth", HealthStatus::kCritical));
  ASSERT_TRUE(s.Register(6, T(0), fail).ok());
  EXPECT_EQ(s.ServiceIndex("web"), 6u);
  EXPECT_EQ(s.ServiceIndex("db"), 2u);  // unrelated churn does not move other services
  ChangeSet ch = s.TakeChanges();
  EXPECT_EQ(ch.service_names, absl::btree_set<std::string>{"web"});
  EXPECT_TRUE(s.ServiceHealthQuery("web", {}, true).value.empty());
}

// api/agent "Enable Maintenance Mode": maintenance is a critical check, so the instance (or
// every instance on the node) leaves passing results, and disabling removes the check.
TEST(HealthTest, MaintenanceModeIsACriticalCheck) {
  Store s;
  RegisterRequest a = ServiceReq("a", "web-a", "web");
  a.checks.push_back(MakeCheck("serfHealth", HealthStatus::kPassing));
  ASSERT_TRUE(s.Register(1, T(0), a).ok());
  ASSERT_EQ(s.ServiceHealthQuery("web", {}, true).value.size(), 1u);

  RegisterRequest maint = NodeReq("a");
  maint.skip_node_update = true;
  maint.checks.push_back(ServiceMaintenanceCheck("a", *a.service, "deploying"));
  ASSERT_TRUE(s.Register(2, T(0), maint).ok());
  auto h = s.ServiceHealthQuery("web", {}, false).value;
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(Ids(h[0].checks), (std::vector<std::string>{"serfHealth", "_service_maintenance:web-a"}));
  EXPECT_EQ(h[0].checks[1].notes, "deploying");
  EXPECT_EQ(h[0].checks[1].service_name, "web");
  EXPECT_TRUE(s.ServiceHealthQuery("web", {}, true).value.empty());
  ASSERT_TRUE(s.DeregisterCheck(3, T(0), "a", "_service_maintenance:web-a").ok());
  EXPECT_EQ(s.ServiceHealthQuery("web", {}, true).value.size(), 1u);

  RegisterRequest node_maint = NodeReq("a");
  node_maint.skip_node_update = true;
  node_maint.checks.push_back(NodeMaintenanceCheck("a", ""));
  ASSERT_TRUE(s.Register(4, T(0), node_maint).ok());
  EXPECT_TRUE(s.ServiceHealthQuery("web", {}, true).value.empty());
  EXPECT_EQ(s.NodeChecks("a").value.at(0).check_id, "_node_maintenance");
}

// api/health "List Checks in State": "any" lists all; an unknown state is an error.
TEST(HealthTest, ChecksInState) {
  Store s;
  RegisterRequest a = NodeReq("a");
  a.checks.push_back(MakeCheck("c1", HealthStatus::kPassing));
  a.checks.push_back(MakeCheck("c2", HealthStatus::kCritical));
  a.checks.push_back(MakeCheck("c3", HealthStatus::kWarning));
  ASSERT_TRUE(s.Register(1, T(0), a).ok());
  EXPECT_EQ(Ids(s.ChecksInState("any")->value), (std::vector<std::string>{"c1", "c2", "c3"}));
  EXPECT_EQ(Ids(s.ChecksInState("critical")->value), std::vector<std::string>{"c2"});
  EXPECT_EQ(Ids(s.ChecksInState("passing")->value), std::vector<std::string>{"c1"});
  EXPECT_FALSE(s.ChecksInState("bogus").ok());
}

// A check's ServiceName/ServiceTags follow its service when the service is updated.
TEST(CatalogTest, ServiceUpdateRefreshesItsChecksServiceNameAndTags) {
  Store s;
  RegisterRequest req = ServiceReq("n1", "svc-1", "web", {"v1"});
  req.checks.push_back(MakeCheck("c", HealthStatus::kPassing, "svc-1"));
  ASSERT_TRUE(s.Register(1, T(0), req).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n1", "svc-1", "api", {"v2"})).ok());
  Check c = s.NodeChecks("n1").value.at(0);
  EXPECT_EQ(c.service_name, "api");
  EXPECT_EQ(c.service_tags, std::vector<std::string>{"v2"});
  EXPECT_EQ(c.modify_index, 2u);
  EXPECT_EQ(s.ServiceIndex("web"), 2u);  // the old name saw its instance leave
  EXPECT_EQ(s.ServiceChecks("api").value.size(), 1u);
  EXPECT_TRUE(s.ServiceChecks("web").value.empty());
}

// Turning a node-level check into a service check changes every service of the node.
TEST(CatalogTest, CheckMovingBetweenNodeAndServiceTouchesBothSides) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), ServiceReq("n1", "a", "db")).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("n1", "b", "web")).ok());
  RegisterRequest node_check = NodeReq("n1");
  node_check.checks.push_back(MakeCheck("c", HealthStatus::kCritical));
  ASSERT_TRUE(s.Register(3, T(0), node_check).ok());
  EXPECT_EQ(s.ServiceIndex("db"), 3u);
  EXPECT_EQ(s.ServiceIndex("web"), 3u);
  RegisterRequest to_web = NodeReq("n1");
  to_web.checks.push_back(MakeCheck("c", HealthStatus::kCritical, "b"));
  ASSERT_TRUE(s.Register(4, T(0), to_web).ok());
  EXPECT_EQ(s.ServiceIndex("db"), 4u);  // lost a node-level check
  EXPECT_EQ(s.ServiceIndex("web"), 4u);
  EXPECT_EQ(s.ServiceHealthQuery("db", {}, true).value.size(), 1u);
  EXPECT_TRUE(s.ServiceHealthQuery("web", {}, true).value.empty());
}

TEST(CatalogTest, NodeServicesListsServicesById) {
  Store s;
  ASSERT_TRUE(s.Register(1, T(0), ServiceReq("a", "z", "zed")).ok());
  ASSERT_TRUE(s.Register(2, T(0), ServiceReq("a", "b", "bee")).ok());
  auto ns = s.GetNodeServices("a");
  ASSERT_TRUE(ns.value.has_value());
  ASSERT_EQ(ns.value->services.size(), 2u);
  EXPECT_EQ(ns.value->services[0].id, "b");
  EXPECT_EQ(ns.index, 2u);
  EXPECT_FALSE(s.GetNodeServices("ghost").value.has_value());
}

}  // namespace
}  // namespace muster::state
