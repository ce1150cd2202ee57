// The agent's local endpoints through Route() and Answer(): each path to its method and Call,
// python-consul's GETs on the write endpoints (W9), ?enable read as Go's booleans, bodies
// checked before the agent, and the local health endpoints' 200/429/503.
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "io/api/router.h"
#include "nlohmann/json.hpp"

namespace muster::io::api {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

http::Request Req(std::string method, std::string path, Query query = {}, std::string body = "") {
  http::Request r;
  r.method = std::move(method);
  r.path = path;
  r.target = std::move(path);
  r.query = std::move(query);
  r.body = std::move(body);
  return r;
}

RoutedCall Routes(const http::Request& r, RouterOptions options = {}) {
  auto routed = Route(r, options);
  if (auto* refused = std::get_if<http::Response>(&routed)) {
    ADD_FAILURE() << r.method << " " << r.path << ": " << refused->status << " " << refused->body;
    return {};
  }
  return std::get<RoutedCall>(routed);
}

http::Response Refused(const http::Request& r, RouterOptions options = {}) {
  auto routed = Route(r, options);
  EXPECT_TRUE(std::holds_alternative<http::Response>(routed)) << r.path;
  return std::holds_alternative<http::Response>(routed) ? std::get<http::Response>(routed) : http::Response{};
}

TEST(AgentLocalRoutes, EachPathItsMethod) {
  EXPECT_EQ(Routes(Req("GET", "/v1/agent/services")).method, "agent.services");
  EXPECT_EQ(Routes(Req("GET", "/v1/agent/checks")).method, "agent.checks");
  RoutedCall one = Routes(Req("GET", "/v1/agent/service/web1"));
  EXPECT_EQ(one.method, "agent.service");
  EXPECT_EQ(one.call.key(), "web1");
  RoutedCall reg = Routes(Req("PUT", "/v1/agent/service/register", {{"replace-existing-checks", ""}}, R"({"name":"web"})"));
  EXPECT_EQ(reg.method, "agent.service.register");
  EXPECT_EQ(reg.call.json(), R"({"name":"web"})");
  EXPECT_EQ(reg.call.flags(), 1u);
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/service/register", {}, "{}")).call.flags(), 0u);
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/service/deregister/web1")).call.key(), "web1");
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/check/register", {}, R"({"name":"c","ttl":"5s"})")).method,
            "agent.check.register");
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/check/deregister/c")).method, "agent.check.deregister");
  RoutedCall warn = Routes(Req("PUT", "/v1/agent/check/warn/c", {{"note", "slow"}}));
  EXPECT_EQ(warn.method, "agent.check.update");
  EXPECT_EQ(warn.call.key(), "c");
  EXPECT_EQ(nlohmann::json::parse(warn.call.json()), nlohmann::json({{"Status", "warning"}, {"Output", "slow"}}));
  EXPECT_EQ(nlohmann::json::parse(Routes(Req("PUT", "/v1/agent/check/fail/c")).call.json())["Status"], "critical");
  EXPECT_EQ(nlohmann::json::parse(Routes(Req("PUT", "/v1/agent/check/pass/c")).call.json())["Status"], "passing");
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/check/update/c", {}, R"({"Status":"passing"})")).method, "agent.check.update");
  RoutedCall health = Routes(Req("GET", "/v1/agent/health/service/name/web"));
  EXPECT_EQ(health.method, "agent.health.service.name");
  EXPECT_EQ(health.shape, AnswerShape::kAgentHealth);
  EXPECT_EQ(Routes(Req("GET", "/v1/agent/health/service/id/web1")).call.key(), "web1");
}

TEST(AgentLocalRoutes, PythonConsulsGetsOnWriteEndpoints) {
  for (std::string path : {"/v1/agent/service/deregister/x", "/v1/agent/check/deregister/x", "/v1/agent/check/pass/x",
                           "/v1/agent/check/warn/x", "/v1/agent/check/fail/x"}) {
    EXPECT_FALSE(Routes(Req("GET", path)).method.empty()) << path;
    RouterOptions strict;
    strict.strict_http_methods = true;
    EXPECT_EQ(Refused(Req("GET", path), strict).status, 405) << path;
  }
  EXPECT_EQ(Refused(Req("GET", "/v1/agent/service/register")).status, 405);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/services")).status, 405);
}

TEST(AgentLocalRoutes, Maintenance) {
  RoutedCall on = Routes(Req("PUT", "/v1/agent/maintenance", {{"enable", "True"}, {"reason", "upgrade"}}));
  EXPECT_EQ(on.method, "agent.maintenance");
  EXPECT_EQ(on.call.flags(), 1u);
  EXPECT_EQ(on.call.value(), "upgrade");
  EXPECT_EQ(Routes(Req("PUT", "/v1/agent/maintenance", {{"enable", "false"}})).call.flags(), 0u);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/maintenance")).body, "Missing value for enable");
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/maintenance", {{"enable", "yes"}})).status, 400);
  RoutedCall svc = Routes(Req("PUT", "/v1/agent/service/maintenance/web1", {{"enable", "1"}}));
  EXPECT_EQ(svc.method, "agent.service.maintenance");
  EXPECT_EQ(svc.call.key(), "web1");
  EXPECT_EQ(svc.call.flags(), 1u);
}

TEST(AgentLocalRoutes, BodiesAndIdsCheckedFirst) {
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/service/register", {}, "[1]")).status, 400);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/service/register", {}, "{")).status, 400);
  std::string deep = R"({"a":)";
  for (int i = 0; i < 20; ++i) deep += "[";
  for (int i = 0; i < 20; ++i) deep += "]";
  deep += "}";
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/check/register", {}, deep)).status, 400);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/service/deregister/")).status, 400);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/check/pass/")).status, 400);
  EXPECT_EQ(Refused(Req("PUT", "/v1/agent/service/deregister/" + std::string(1000, 'x'))).status, 400);
}

::muster::Response Agent(std::string json, absl::Status status = absl::OkStatus()) {
  proto::agent::Reply reply;
  reply.set_body(std::move(json));
  ::muster::Response r;
  r.status = std::move(status);
  r.body = reply.SerializeAsString();
  return r;
}

TEST(AgentLocalAnswers, HealthStatusCodes) {
  RoutedCall routed = Routes(Req("GET", "/v1/agent/health/service/id/web1"));
  EXPECT_EQ(Answer(routed, Agent(R"({"AggregatedStatus":"passing"})")).status, 200);
  EXPECT_EQ(Answer(routed, Agent(R"({"AggregatedStatus":"warning"})")).status, 429);
  EXPECT_EQ(Answer(routed, Agent(R"({"AggregatedStatus":"critical"})")).status, 503);
  EXPECT_EQ(Answer(routed, Agent(R"({"AggregatedStatus":"maintenance"})")).status, 503);
  const http::Response list =
      Answer(routed, Agent(R"([{"AggregatedStatus":"passing"},{"AggregatedStatus":"warning"}])"));
  EXPECT_EQ(list.status, 429);  // the worst of the instances
  EXPECT_NE(list.body.find("warning"), std::string::npos);  // the body still comes
  EXPECT_EQ(Answer(routed, Agent("", absl::NotFoundError("ServiceId web1 not found"))).status, 404);
}

}  // namespace
}  // namespace muster::io::api
