// The catalog commands against canned answers in Consul's shapes: datacenters, nodes (columns,
// the short ID, -detailed, -service, -near, -node-meta) and services (-tags, -node).
#include "cmd/cli/cli_test_fixture.h"

namespace muster::cli {
namespace {

constexpr char kNodes[] = R"([
  {"ID":"6b0bc5a1-3d5e-4c6a-9f1e-0a2b3c4d5e6f","Node":"s1","Address":"127.0.0.2","Datacenter":"dc1",
   "TaggedAddresses":{"wan":"10.1.0.2","lan":"127.0.0.2"},"Meta":{"rack":"r1","consul-network-segment":""},"CreateIndex":5},
  {"ID":"","Node":"external","Address":"example.com","Datacenter":"dc1","TaggedAddresses":null,"Meta":null}
])";

TEST_F(CliTest, CatalogDatacenters) {
  transport_.Answer("GET /v1/catalog/datacenters", 200, R"(["dc1","dc2"])");
  EXPECT_EQ(Cli({"catalog", "datacenters"}), 0);
  EXPECT_EQ(Out(), "dc1\ndc2\n");
  EXPECT_EQ(Cli({"catalog", "datacenters", "x"}), 1);
  EXPECT_EQ(Err(), "Too many arguments (expected 0, got 1)\n");
  transport_.Refuse();
  EXPECT_EQ(Cli({"catalog", "datacenters"}), 1);
  EXPECT_EQ(Err().rfind("Error listing datacenters: Get \"http://127.0.0.1:8500/v1/catalog/datacenters\"", 0), 0u);
}

TEST_F(CliTest, CatalogNodesColumns) {
  transport_.Answer("GET /v1/catalog/nodes", 200, kNodes);
  EXPECT_EQ(Cli({"catalog", "nodes"}), 0);
  EXPECT_EQ(Out(),
            "Node      ID        Address      DC\n"
            "s1        6b0bc5a1  127.0.0.2    dc1\n"
            "external            example.com  dc1\n");
  EXPECT_EQ(Err(), "");
  EXPECT_EQ(Cli({"catalog", "nodes", "-detailed"}), 0);
  EXPECT_EQ(Out(),
            "Node      ID                                    Address      DC   TaggedAddresses              Meta\n"
            "s1        6b0bc5a1-3d5e-4c6a-9f1e-0a2b3c4d5e6f  127.0.0.2    dc1  lan=127.0.0.2, wan=10.1.0.2  "
            "consul-network-segment=, rack=r1\n"
            "external                                        example.com  dc1                               \n");
}

TEST_F(CliTest, CatalogNodesQueries) {
  transport_.Answer("GET /v1/catalog/nodes?near=_agent&node-meta=az%3Aa&node-meta=rack%3Ar1", 200, kNodes);
  EXPECT_EQ(Cli({"catalog", "nodes", "-near=_agent", "-node-meta=rack=r1", "-node-meta", "az=a"}), 0);
  EXPECT_NE(Out().find("s1        6b0bc5a1"), std::string::npos);
  // -service: the service's instances, one row per instance's node; its meta is NodeMeta.
  transport_.Answer("GET /v1/catalog/service/web", 200,
                    R"([{"ID":"0c1d2e3f-4a5b","Node":"n2","Address":"10.0.0.3","Datacenter":"dc1",)"
                    R"("TaggedAddresses":{},"NodeMeta":{"a":"b"},"ServiceID":"web-1"}])");
  EXPECT_EQ(Cli({"catalog", "nodes", "-service=web", "-detailed"}), 0);
  EXPECT_EQ(Out(),
            "Node  ID             Address   DC   TaggedAddresses  Meta\n"
            "n2    0c1d2e3f-4a5b  10.0.0.3  dc1                   a=b\n");
  transport_.Answer("GET /v1/catalog/service/none", 200, "[]");
  EXPECT_EQ(Cli({"catalog", "nodes", "-service=none"}), 0);
  EXPECT_EQ(Out(), "");
  EXPECT_EQ(Err(), "No nodes match the given query - try expanding your search.\n");
  transport_.Answer("GET /v1/catalog/service/web?stale=", 500, "No cluster leader");
  EXPECT_EQ(Cli({"catalog", "nodes", "-service=web", "-stale"}), 1);
  EXPECT_EQ(Err(), "Error listing nodes for service: Unexpected response code: 500 (No cluster leader)\n");
  EXPECT_EQ(Cli({"catalog", "nodes", "-node-meta=bad"}), 1);
  EXPECT_EQ(Err().rfind("invalid value \"bad\" for flag -node-meta: Missing \"=\" value in argument: bad\n\nUsage:", 0), 0u);
}

TEST_F(CliTest, CatalogServices) {
  transport_.Answer("GET /v1/catalog/services", 200, R"({"web":["v2","prod"],"consul":[],"db":["primary"]})");
  EXPECT_EQ(Cli({"catalog", "services"}), 0);
  EXPECT_EQ(Out(), "consul\ndb\nweb\n");
  EXPECT_EQ(Cli({"catalog", "services", "-tags"}), 0);
  // Go's tabwriter (padding 6), then the whole trimmed: the tagless row keeps its padding.
  EXPECT_EQ(Out(),
            "consul      \n"
            "db          primary\n"
            "web         prod,v2\n");
  transport_.Answer("GET /v1/catalog/services?node-meta=rack%3Ar9", 200, "{}");
  EXPECT_EQ(Cli({"catalog", "services", "-node-meta=rack=r9"}), 0);
  EXPECT_EQ(Err(), "No services match the given query - try expanding your search.\n");
}

TEST_F(CliTest, CatalogServicesOfOneNode) {
  transport_.Answer("GET /v1/catalog/node/n1", 200,
                    R"({"Node":{"Node":"n1"},"Services":{"web-1":{"ID":"web-1","Service":"web","Tags":["b"]},)"
                    R"("web-2":{"ID":"web-2","Service":"web","Tags":["a"]},"redis":{"ID":"redis","Service":"redis","Tags":null}}})");
  EXPECT_EQ(Cli({"catalog", "services", "-node=n1", "-tags"}), 0);
  EXPECT_EQ(Out(), "redis      \nweb        a,b\n");
  transport_.Answer("GET /v1/catalog/node/gone", 200, "null");
  EXPECT_EQ(Cli({"catalog", "services", "-node=gone"}), 0);
  EXPECT_EQ(Err(), "No services match the given query - try expanding your search.\n");
  transport_.Answer("GET /v1/catalog/node/n1", 500, "No cluster leader");
  EXPECT_EQ(Cli({"catalog", "services", "-node=n1"}), 1);
  EXPECT_EQ(Err(), "Error listing services for node: Unexpected response code: 500 (No cluster leader)\n");
}

}  // namespace
}  // namespace muster::cli
