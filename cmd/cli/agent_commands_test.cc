// The agent commands against canned answers in Consul's shapes: force-leave, reload, maint,
// event, services register and deregister (request, output, stream, exit code).
#include "cmd/cli/cli_test_fixture.h"

namespace muster::cli {
namespace {

constexpr char kSelf[] = R"({"Config":{"NodeName":"web-1","Datacenter":"dc1"}})";

TEST_F(CliTest, ForceLeave) {
  transport_.Answer("PUT /v1/agent/force-leave/node-9", 200, "");
  EXPECT_EQ(Cli({"force-leave", "node-9"}), 0);
  EXPECT_EQ(Out(), "");  // Consul prints nothing on success
  EXPECT_EQ(Err(), "");
  EXPECT_EQ(OnlyRequest().method, "PUT");
  transport_.Answer("PUT /v1/agent/force-leave/node-9?prune=1&wan=1", 200, "");
  EXPECT_EQ(Cli({"force-leave", "-prune", "-wan", "node-9"}), 0);
  EXPECT_EQ(OnlyRequest().target, "/v1/agent/force-leave/node-9?prune=1&wan=1");
  EXPECT_EQ(Cli({"force-leave"}), 1);
  EXPECT_EQ(Err().rfind("A single node name must be specified to force leave.\n\nUsage: muster force-leave", 0), 0u);
  EXPECT_EQ(Cli({"force-leave", "a", "b"}), 1);
  EXPECT_TRUE(transport_.requests.empty());
  transport_.Answer("PUT /v1/agent/force-leave/x", 500, "No node found");
  EXPECT_EQ(Cli({"force-leave", "x"}), 1);
  EXPECT_EQ(Err(), "Error force leaving: Unexpected response code: 500 (No node found)\n");
}

TEST_F(CliTest, Reload) {
  transport_.Answer("PUT /v1/agent/reload", 200, "");
  EXPECT_EQ(Cli({"reload"}), 0);
  EXPECT_EQ(Out(), "Configuration reload triggered\n");
  EXPECT_EQ(OnlyRequest().method, "PUT");
  transport_.Answer("PUT /v1/agent/reload", 500, "bad config");
  EXPECT_EQ(Cli({"reload"}), 1);
  EXPECT_EQ(Err(), "Error reloading: Unexpected response code: 500 (bad config)\n");
  EXPECT_EQ(Out(), "");
}

TEST_F(CliTest, MaintEnableDisable) {
  transport_.Answer("GET /v1/agent/self", 200, kSelf);
  transport_.Answer("PUT /v1/agent/maintenance?enable=true&reason=kernel+upgrade", 200, "");
  EXPECT_EQ(Cli({"maint", "-enable", "-reason=kernel upgrade"}), 0);
  EXPECT_EQ(Out(), "Node maintenance is now enabled\n");
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(transport_.requests[1].method, "PUT");
  transport_.Answer("PUT /v1/agent/maintenance?enable=true&reason=", 200, "");
  EXPECT_EQ(Cli({"maint", "-enable"}), 0);
  transport_.Answer("PUT /v1/agent/maintenance?enable=false", 200, "");
  EXPECT_EQ(Cli({"maint", "-disable"}), 0);
  EXPECT_EQ(Out(), "Node maintenance is now disabled\n");
  transport_.Answer("PUT /v1/agent/service/maintenance/redis-1?enable=true&reason=", 200, "");
  EXPECT_EQ(Cli({"maint", "-enable", "-service=redis-1"}), 0);
  EXPECT_EQ(Out(), "Service maintenance is now enabled for \"redis-1\"\n");
  transport_.Answer("PUT /v1/agent/service/maintenance/redis-1?enable=false", 404, "Unknown service");
  EXPECT_EQ(Cli({"maint", "-disable", "-service", "redis-1"}), 1);
  EXPECT_EQ(Err(), "Error disabling service maintenance: Unexpected response code: 404 (Unknown service)\n");
}

TEST_F(CliTest, MaintFlagConflictsSendNothing) {
  EXPECT_EQ(Cli({"maint", "-enable", "-disable"}), 1);
  EXPECT_EQ(Err(), "Only one of -enable or -disable may be provided\n");
  EXPECT_EQ(Cli({"maint", "-reason=x"}), 1);
  EXPECT_EQ(Err(), "Reason may only be provided with -enable\n");
  EXPECT_EQ(Cli({"maint", "-service=web"}), 1);
  EXPECT_EQ(Err(), "Service requires either -enable or -disable\n");
  EXPECT_TRUE(transport_.requests.empty());
  transport_.Refuse();
  EXPECT_EQ(Cli({"maint", "-enable"}), 1);
  EXPECT_EQ(Err().rfind("Error querying muster agent: Get \"http://127.0.0.1:8500/v1/agent/self\"", 0), 0u);
}

TEST_F(CliTest, MaintListsMaintenanceChecks) {
  transport_.Answer("GET /v1/agent/self", 200, kSelf);
  transport_.Answer("GET /v1/agent/checks", 200, R"({
    "serfHealth":{"CheckID":"serfHealth","Status":"passing"},
    "_service_maintenance:redis-1":{"CheckID":"_service_maintenance:redis-1","ServiceID":"redis-1","Notes":"disk swap"},
    "_node_maintenance":{"CheckID":"_node_maintenance","Notes":"kernel upgrade","Status":"critical"}})");
  EXPECT_EQ(Cli({"maint"}), 0);
  EXPECT_EQ(Out(),
            "Node:\n  Name:   web-1\n  Reason: kernel upgrade\n\n"
            "Service:\n  ID:     redis-1\n  Reason: disk swap\n\n");
  transport_.Answer("GET /v1/agent/checks", 200, R"({"serfHealth":{"CheckID":"serfHealth"}})");
  EXPECT_EQ(Cli({"maint"}), 0);
  EXPECT_EQ(Out(), "");
}

TEST_F(CliTest, EventFires) {
  transport_.Answer("GET /v1/agent/self", 200, kSelf);
  transport_.Answer("PUT /v1/event/fire/deploy", 200,
                    R"({"ID":"b54fe110-7af5-cafc-d1fb-afc8ba432b1c","Name":"deploy","Payload":"djI=","Version":1,"LTime":0})");
  EXPECT_EQ(Cli({"event", "-name=deploy", "v2"}), 0);
  EXPECT_EQ(Out(), "Event ID: b54fe110-7af5-cafc-d1fb-afc8ba432b1c\n");
  ASSERT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(transport_.requests[1].body, "v2");
  transport_.Answer("PUT /v1/event/fire/deploy?node=web-.%2A&service=redis&tag=prim", 200, R"({"ID":"e1"})");
  EXPECT_EQ(Cli({"event", "-name", "deploy", "-node=web-.*", "-service=redis", "-tag=prim"}), 0);
  EXPECT_EQ(Out(), "Event ID: e1\n");
  EXPECT_EQ(transport_.requests[1].body, "");
}

TEST_F(CliTest, EventErrors) {
  EXPECT_EQ(Cli({"event"}), 1);
  EXPECT_EQ(Err().rfind("Event name must be specified\n\nUsage: muster event", 0), 0u);
  EXPECT_EQ(Cli({"event", "-name=x", "-node=("}), 1);
  EXPECT_EQ(Err().rfind("Failed to compile node filter regexp: error parsing regexp: ", 0), 0u);
  EXPECT_EQ(Cli({"event", "-name=x", "-tag=a"}), 1);
  EXPECT_EQ(Err(), "Cannot provide tag filter without service filter.\n");
  EXPECT_EQ(Cli({"event", "-name=x", "a", "b"}), 1);
  EXPECT_EQ(Err().rfind("Too many command line arguments.\n", 0), 0u);
  EXPECT_TRUE(transport_.requests.empty());
  transport_.Answer("GET /v1/agent/self", 200, kSelf);
  transport_.Answer("PUT /v1/event/fire/_x", 500, "Event name cannot start with _");
  EXPECT_EQ(Cli({"event", "-name=_x"}), 1);
  EXPECT_EQ(Err(), "Error firing event: Unexpected response code: 500 (Event name cannot start with _)\n");
}

TEST_F(CliTest, ServicesRegisterFromFlags) {
  transport_.Answer("PUT /v1/agent/service/register", 200, "");
  EXPECT_EQ(Cli({"services", "register", "-name=web", "-id=web-1", "-port=8080", "-address=10.0.0.5", "-tag=v1",
                 "-tag=prod", "-meta=env=prod", "-meta=az=a"}),
            0);
  EXPECT_EQ(Out(), "Registered service: web\n");
  // The Go client's AgentServiceRegistration order, Meta's keys sorted, as json.Encoder writes it.
  EXPECT_EQ(OnlyRequest().body,
            R"({"ID":"web-1","Name":"web","Tags":["v1","prod"],"Port":8080,"Address":"10.0.0.5","Meta":{"az":"a","env":"prod"}})"
            "\n");
  EXPECT_EQ(Cli({"services", "register", "-name=db"}), 0);
  EXPECT_EQ(OnlyRequest().body, "{\"Name\":\"db\"}\n");
  EXPECT_EQ(Cli({"services", "register"}), 1);
  EXPECT_EQ(Err(), "Service registration requires at least one argument or flags.\n");
  EXPECT_EQ(Cli({"services", "register", "-name=x", "web.json"}), 1);
  EXPECT_EQ(Err(), "Service registration requires arguments or -id, not both.\n");
  EXPECT_EQ(Cli({"services", "register", "-name=x", "-meta=novalue"}), 1);
  EXPECT_EQ(Err().rfind("invalid value \"novalue\" for flag -meta: Missing \"=\" value in argument: novalue\n", 0), 0u);
  EXPECT_TRUE(transport_.requests.empty());
  transport_.Answer("PUT /v1/agent/service/register", 400, "Invalid check: TTL must be > 0");
  EXPECT_EQ(Cli({"services", "register", "-name=web"}), 1);
  EXPECT_EQ(Err(), "Error registering service \"web\": Unexpected response code: 400 (Invalid check: TTL must be > 0)\n");
}

TEST_F(CliTest, ServicesRegisterFromFilesMergesFlags) {
  env_.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
    if (path == "web.json") return std::string(R"({"service":{"name":"web","port":80,"tags":["a"],"meta":{"k":"file"},"check":{"ttl":"10s"}}})");
    if (path == "two.json") return std::string(R"({"services":[{"Name":"a"},{"Name":"b","ID":"b-1"}]})");
    if (path == "empty.json") return std::string(R"({"node_name":"x"})");
    return absl::NotFoundError(absl::StrCat("open ", path, ": no such file or directory"));
  };
  transport_.Answer("PUT /v1/agent/service/register", 200, "");
  EXPECT_EQ(Cli({"services", "register", "-id=web-2", "-port=81", "-tag=b", "-meta=k=flag", "web.json"}), 0);
  EXPECT_EQ(Out(), "Registered service: web\n");
  // The file's fields as written; the flags fill what it lacks (ID), append tags, win on meta.
  EXPECT_EQ(OnlyRequest().body,
            R"({"name":"web","port":80,"tags":["a","b"],"meta":{"k":"flag"},"check":{"ttl":"10s"},"ID":"web-2"})" "\n");
  EXPECT_EQ(Cli({"services", "register", "two.json"}), 0);
  EXPECT_EQ(Out(), "Registered service: a\nRegistered service: b\n");
  EXPECT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Cli({"services", "register", "empty.json"}), 1);
  EXPECT_EQ(Err(), "Error: Failed to decode empty.json: no \"service\" or \"services\" in it\n");
  EXPECT_EQ(Cli({"services", "register", "web.hcl"}), 1);
  EXPECT_EQ(Err().rfind("Error: Failed to decode web.hcl: HCL is not read by muster", 0), 0u);
  EXPECT_EQ(Cli({"services", "register", "gone.json"}), 1);
  EXPECT_EQ(Err(), "Error: Failed to read gone.json: open gone.json: no such file or directory\n");
  EXPECT_TRUE(transport_.requests.empty());
}

TEST_F(CliTest, ServicesDeregister) {
  env_.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
    return std::string(R"({"services":[{"name":"web"},{"name":"db","id":"db-1"},{"port":1}]})");
  };
  transport_.Answer("PUT /v1/agent/service/deregister/web-1", 200, "");
  EXPECT_EQ(Cli({"services", "deregister", "-id=web-1"}), 0);
  EXPECT_EQ(Out(), "Deregistered service: web-1\n");
  EXPECT_EQ(OnlyRequest().method, "PUT");
  transport_.Answer("PUT /v1/agent/service/deregister/web", 200, "");
  transport_.Answer("PUT /v1/agent/service/deregister/db-1", 200, "");
  EXPECT_EQ(Cli({"services", "deregister", "svcs.json"}), 0);
  EXPECT_EQ(Out(), "Deregistered service: web\nDeregistered service: db-1\n");  // the nameless one skipped
  EXPECT_EQ(transport_.requests.size(), 2u);
  EXPECT_EQ(Cli({"services", "deregister"}), 1);
  EXPECT_EQ(Err(), "Service deregistration requires at least one argument or -id.\n");
  EXPECT_EQ(Cli({"services", "deregister", "-id=a", "svcs.json"}), 1);
  EXPECT_EQ(Err(), "Service deregistration requires arguments or -id, not both.\n");
  EXPECT_EQ(Cli({"services", "deregister", "-id=gone"}), 1);
  EXPECT_EQ(Err(), "Error deregistering service \"gone\": Unexpected response code: 404 ()\n");
}

}  // namespace
}  // namespace muster::cli
