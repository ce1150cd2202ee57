// The Consul HTTP API router against a fake agent: a function from (method, Call) to Response
// plays the Host, so every route, parameter check and answer shape is checked without sockets.
#include "io/api/router.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace muster::io::api {
namespace {

using Query = std::vector<std::pair<std::string, std::string>>;

http::Request MakeRequest(std::string method, std::string path, Query query = {}, std::string body = "") {
  http::Request request;
  request.method = std::move(method);
  request.path = path;
  request.target = std::move(path);
  request.query = std::move(query);
  request.body = std::move(body);
  return request;
}

std::string ReplyBody(std::string json, uint64_t index = 0, bool known_leader = true, uint64_t last_contact_ms = 0) {
  proto::agent::Reply reply;
  reply.set_body(std::move(json));
  reply.set_index(index);
  reply.set_known_leader(known_leader);
  reply.set_last_contact_ms(last_contact_ms);
  return reply.SerializeAsString();
}

::muster::Response AgentAnswer(absl::Status status, std::string json, uint64_t index = 0) {
  ::muster::Response response;
  response.status = std::move(status);
  response.body = ReplyBody(std::move(json), index);
  return response;
}

// Plays the Host: records what it is asked and answers with `play` (at once; the router does
// not care when).
class FakeAgent {
 public:
  std::function<::muster::Response(const std::string&, const proto::agent::Call&)> play =
      [](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), "true"); };
  std::vector<std::pair<std::string, proto::agent::Call>> asked;

  AgentRequester requester() {
    return [this](std::string method, std::string body, std::function<void(const ::muster::Response&)> done) {
      proto::agent::Call call;
      EXPECT_TRUE(call.ParseFromString(body)) << method;
      asked.emplace_back(method, call);
      done(play(method, call));
    };
  }
};

class RouterTest : public ::testing::Test {
 protected:
  http::Response Serve(std::string method, std::string path, Query query = {}, std::string body = "") {
    std::optional<http::Response> answered;
    router_.Serve(MakeRequest(std::move(method), std::move(path), std::move(query), std::move(body)),
                  [&](http::Response response) {
                    EXPECT_FALSE(answered.has_value()) << "answered twice";
                    answered = std::move(response);
                  });
    EXPECT_TRUE(answered.has_value()) << "never answered";
    return answered.value_or(http::Response{});
  }
  // The Call the last request became.
  const proto::agent::Call& LastCall() {
    EXPECT_FALSE(agent_.asked.empty());
    return agent_.asked.back().second;
  }
  const std::string& LastMethod() { return agent_.asked.back().first; }
  static std::string Header(const http::Response& response, std::string_view name) {
    const std::string* value = response.headers.Find(absl::string_view(name.data(), name.size()));
    return value == nullptr ? "<none>" : *value;
  }

  FakeAgent agent_;
  RouterOptions options_;
  Router router_{options_, agent_.requester()};
};

TEST_F(RouterTest, StatusLeaderIsJsonWithoutQueryHeaders) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::OkStatus(), "\"127.0.0.1:8300\"", 7);
  };
  http::Response response = Serve("GET", "/v1/status/leader");
  EXPECT_EQ(LastMethod(), "status.leader");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "\"127.0.0.1:8300\"");
  EXPECT_EQ(Header(response, "Content-Type"), "application/json");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");
  Serve("GET", "/v1/status/peers");
  EXPECT_EQ(LastMethod(), "status.peers");
}

TEST_F(RouterTest, KvGetCarriesKeyAndConsistencyAndQueryHeaders) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    ::muster::Response response;
    response.body = ReplyBody("[{\"Key\":\"a/b\"}]", 42, false, 17);
    return response;
  };
  http::Response response = Serve("GET", "/v1/kv/a/b", {{"stale", ""}});
  EXPECT_EQ(LastMethod(), "kv.get");
  EXPECT_EQ(LastCall().key(), "a/b");
  EXPECT_EQ(LastCall().consistency(), "stale");
  EXPECT_FALSE(LastCall().recurse());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[{\"Key\":\"a/b\"}]");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "42");
  EXPECT_EQ(Header(response, "X-Consul-KnownLeader"), "false");
  EXPECT_EQ(Header(response, "X-Consul-LastContact"), "17");
  Serve("GET", "/v1/kv/a", {{"consistent", "1"}});
  EXPECT_EQ(LastCall().consistency(), "consistent");
  Serve("GET", "/v1/kv/a");
  EXPECT_EQ(LastCall().consistency(), "");
}

TEST_F(RouterTest, KvGetNotFoundIs404WithIndexNeverZero) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::NotFoundError("no such key"), "", 0);
  };
  http::Response response = Serve("GET", "/v1/kv/missing");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, "");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "1");
  EXPECT_EQ(Header(response, "X-Consul-KnownLeader"), "true");
}

TEST_F(RouterTest, KvRawIsTheValueAsPlainTextWithoutSniffing) {
  agent_.play = [](const std::string&, const proto::agent::Call& call) {
    EXPECT_TRUE(call.raw());
    return AgentAnswer(absl::OkStatus(), std::string("<b>\0x", 4), 3);
  };
  http::Response response = Serve("GET", "/v1/kv/page", {{"raw", ""}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, std::string("<b>\0x", 4));
  EXPECT_EQ(Header(response, "Content-Type"), "text/plain");
  EXPECT_EQ(Header(response, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(response, "Content-Security-Policy"), "sandbox");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "3");
  // With recurse the answer is Consul's JSON list, raw or not.
  response = Serve("GET", "/v1/kv/page", {{"raw", ""}, {"recurse", ""}});
  EXPECT_EQ(Header(response, "Content-Type"), "application/json");
}

TEST_F(RouterTest, KvKeysWithSeparatorEitherSpelling) {
  Serve("GET", "/v1/kv/web/", {{"keys", ""}, {"separator", "/"}});
  EXPECT_TRUE(LastCall().keys());
  EXPECT_EQ(LastCall().key(), "web/");
  EXPECT_EQ(LastCall().separator(), "/");
  Serve("GET", "/v1/kv/", {{"keys", ""}, {"seperator", ":"}});
  EXPECT_EQ(LastCall().key(), "");
  EXPECT_EQ(LastCall().separator(), ":");
}

TEST_F(RouterTest, KvGetWithoutKeyNeedsRecurse) {
  http::Response response = Serve("GET", "/v1/kv/");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Missing key name");
  EXPECT_TRUE(agent_.asked.empty());
  Serve("GET", "/v1/kv/", {{"recurse", "1"}});
  EXPECT_TRUE(LastCall().recurse());
}

TEST_F(RouterTest, KvPutCarriesValueFlagsCasAndLocks) {
  http::Response response = Serve("PUT", "/v1/kv/config/x", {{"flags", "42"}, {"cas", "0"}}, "value bytes");
  EXPECT_EQ(LastMethod(), "kv.put");
  EXPECT_EQ(LastCall().key(), "config/x");
  EXPECT_EQ(LastCall().value(), "value bytes");
  EXPECT_EQ(LastCall().flags(), 42u);
  EXPECT_TRUE(LastCall().has_cas());
  EXPECT_EQ(LastCall().cas(), 0u);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "true");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");
  Serve("PUT", "/v1/kv/lock", {{"acquire", "a1b2"}});
  EXPECT_EQ(LastCall().acquire(), "a1b2");
  EXPECT_FALSE(LastCall().has_cas());
  Serve("PUT", "/v1/kv/lock", {{"release", "a1b2"}});
  EXPECT_EQ(LastCall().release(), "a1b2");
  Serve("PUT", "/v1/kv/max", {{"cas", "18446744073709551615"}});
  EXPECT_EQ(LastCall().cas(), 18446744073709551615u);
}

TEST_F(RouterTest, KvPutRefusesBadNumbersNamingTheParameter) {
  for (const char* bad : {"", "-1", "+1", " 1", "1x", "0x10", "18446744073709551616", "99999999999999999999999"}) {
    http::Response response = Serve("PUT", "/v1/kv/k", {{"cas", bad}});
    EXPECT_EQ(response.status, 400) << bad;
    EXPECT_NE(response.body.find("cas"), std::string::npos) << response.body;
    response = Serve("PUT", "/v1/kv/k", {{"flags", bad}});
    EXPECT_EQ(response.status, 400) << bad;
    EXPECT_NE(response.body.find("flags"), std::string::npos) << response.body;
  }
  EXPECT_TRUE(agent_.asked.empty());
}

TEST_F(RouterTest, KvPutRefusesMissingKeyAndConflictingFlags) {
  EXPECT_EQ(Serve("PUT", "/v1/kv/", {}, "v").body, "Missing key name");
  http::Response response = Serve("PUT", "/v1/kv/k", {{"cas", "1"}, {"acquire", "s"}});
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Conflicting flags: cas, acquire");
  EXPECT_EQ(Serve("PUT", "/v1/kv/k", {{"acquire", "s"}, {"release", "s"}}).status, 400);
  EXPECT_TRUE(agent_.asked.empty());
}

TEST_F(RouterTest, KvDeleteRecurseAndCas) {
  Serve("DELETE", "/v1/kv/", {{"recurse", ""}});
  EXPECT_EQ(LastMethod(), "kv.delete");
  EXPECT_TRUE(LastCall().recurse());
  EXPECT_EQ(LastCall().key(), "");
  Serve("DELETE", "/v1/kv/k", {{"cas", "9"}});
  EXPECT_TRUE(LastCall().has_cas());
  EXPECT_EQ(LastCall().cas(), 9u);
  size_t asked = agent_.asked.size();
  EXPECT_EQ(Serve("DELETE", "/v1/kv/").body, "Missing key name");
  EXPECT_EQ(Serve("DELETE", "/v1/kv/k", {{"recurse", ""}, {"cas", "1"}}).status, 400);
  EXPECT_EQ(Serve("DELETE", "/v1/kv/k", {{"cas", "nine"}}).status, 400);
  EXPECT_EQ(agent_.asked.size(), asked);
}

TEST_F(RouterTest, KeysAndParametersAreBoundedAndUtf8) {
  EXPECT_EQ(Serve("GET", "/v1/kv/" + std::string(kKeyBytesMax, 'k')).status, 200);
  http::Response response = Serve("GET", "/v1/kv/" + std::string(kKeyBytesMax + 1, 'k'));
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("key"), std::string::npos);
  size_t asked = agent_.asked.size();
  for (std::string bad : {"\xff", "a\xc0\x80", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80"}) {
    EXPECT_EQ(Serve("PUT", "/v1/kv/" + bad).status, 400) << bad;
    EXPECT_EQ(Serve("PUT", "/v1/kv/k", {{"acquire", bad}}).status, 400) << bad;
  }
  EXPECT_EQ(Serve("PUT", "/v1/kv/k", {{"acquire", std::string(kParamBytesMax + 1, 's')}}).status, 400);
  EXPECT_EQ(agent_.asked.size(), asked);
  // Multi-byte UTF-8 is a key like any other.
  EXPECT_EQ(Serve("PUT", "/v1/kv/caf\xc3\xa9/\xf0\x9f\x98\x80").status, 200);
  EXPECT_EQ(LastCall().key(), "caf\xc3\xa9/\xf0\x9f\x98\x80");
}

TEST_F(RouterTest, CommonParameters) {
  http::Response response = Serve("GET", "/v1/kv/k", {{"stale", ""}, {"consistent", ""}});
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Cannot specify ?stale with ?consistent, conflicting semantics.");
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"index", "abc"}}).body, "Invalid index");
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"dc", "dc2"}}).body, "No path to datacenter");
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"dc", "dc2"}}).status, 500);
  EXPECT_TRUE(agent_.asked.empty());
  // A blocking query's index and wait go to the agent, which parks it.
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"index", "12"}, {"wait", "5s"}, {"dc", "dc1"}}).status, 200);
  EXPECT_EQ(agent_.asked.size(), 1u);
  EXPECT_EQ(LastCall().min_index(), 12u);
  EXPECT_EQ(LastCall().wait_ms(), 5000u);
  Serve("GET", "/v1/catalog/nodes", {{"index", "7"}, {"wait", "1m30s"}});
  EXPECT_EQ(LastCall().min_index(), 7u);
  EXPECT_EQ(LastCall().wait_ms(), 90'000u);
  Serve("GET", "/v1/kv/k", {{"index", "7"}, {"wait", "2h"}});
  EXPECT_EQ(LastCall().wait_ms(), 600'000u) << "clamped to Consul's 10 min";
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"index", "7"}, {"wait", "soon"}}).body, "Invalid wait time");
  EXPECT_EQ(Serve("GET", "/v1/kv/k", {{"index", "7"}, {"wait", "-1s"}}).status, 400);
}

TEST_F(RouterTest, UnknownPathsAndMethods) {
  EXPECT_EQ(Serve("GET", "/v1/nope").status, 404);
  EXPECT_EQ(Serve("GET", "/").status, 404);
  EXPECT_EQ(Serve("GET", "/v1/status/leader/extra").status, 404);
  http::Response response = Serve("POST", "/v1/kv/k");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.body, "method POST not allowed");
  EXPECT_EQ(Header(response, "Allow"), "OPTIONS,GET,PUT,DELETE");
  response = Serve("PUT", "/v1/status/leader");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "OPTIONS,GET");
  EXPECT_EQ(Serve("GET", "/v1/agent/leave").status, 405);
  EXPECT_EQ(Serve("GET", "/v1/operator/raft/peer", {{"id", "x"}}).status, 405);
  response = Serve("OPTIONS", "/v1/operator/autopilot/configuration");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(Header(response, "Allow"), "OPTIONS,GET,PUT");
  EXPECT_TRUE(agent_.asked.empty());
}

TEST_F(RouterTest, CatalogHealthAndAgentEndpoints) {
  agent_.play = [](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), "[]", 5); };
  http::Response response = Serve("GET", "/v1/catalog/nodes", {{"consistent", ""}});
  EXPECT_EQ(LastMethod(), "catalog.nodes");
  EXPECT_EQ(LastCall().consistency(), "consistent");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "5");
  response = Serve("GET", "/v1/health/node/node-1");
  EXPECT_EQ(LastMethod(), "health.node");
  EXPECT_EQ(LastCall().key(), "node-1");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "5");
  EXPECT_EQ(Serve("GET", "/v1/health/node/").body, "Missing node name");
  response = Serve("GET", "/v1/agent/self");
  EXPECT_EQ(LastMethod(), "agent.self");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");
  Serve("GET", "/v1/agent/members", {{"wan", "1"}});
  EXPECT_EQ(LastMethod(), "agent.members");
  EXPECT_TRUE(LastCall().wan());
  Serve("GET", "/v1/agent/members");
  EXPECT_FALSE(LastCall().wan());
}

TEST_F(RouterTest, CatalogDatacentersServicesNodeAndHealthState) {
  Serve("GET", "/v1/catalog/datacenters");
  EXPECT_EQ(LastMethod(), "catalog.datacenters");
  Serve("GET", "/v1/catalog/services", {{"index", "3"}});
  EXPECT_EQ(LastMethod(), "catalog.services");
  EXPECT_EQ(LastCall().min_index(), 3u);
  Serve("GET", "/v1/catalog/node/web-1", {{"stale", ""}});
  EXPECT_EQ(LastMethod(), "catalog.node");
  EXPECT_EQ(LastCall().key(), "web-1");
  EXPECT_EQ(LastCall().consistency(), "stale");
  Serve("GET", "/v1/health/state/critical");
  EXPECT_EQ(LastMethod(), "health.state");
  EXPECT_EQ(LastCall().key(), "critical");
  EXPECT_EQ(Serve("GET", "/v1/health/state/sideways").status, 400);
  EXPECT_EQ(Serve("GET", "/v1/catalog/node/").body, "Missing node name");
  EXPECT_EQ(Serve("PUT", "/v1/catalog/services").status, 405);
}

TEST_F(RouterTest, JoinAndLeave) {
  agent_.play = [](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), ""); };
  http::Response response = Serve("PUT", "/v1/agent/join/10.0.0.2:8301", {{"wan", ""}});
  EXPECT_EQ(LastMethod(), "agent.join");
  ASSERT_EQ(LastCall().addresses_size(), 1);
  EXPECT_EQ(LastCall().addresses(0), "10.0.0.2:8301");
  EXPECT_TRUE(LastCall().wan());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "");
  EXPECT_EQ(Header(response, "Content-Type"), "<none>");
  // python-consul 0.7.1 joins with GET (W9): accepted unless methods are strict.
  EXPECT_EQ(Serve("GET", "/v1/agent/join/10.0.0.3").status, 200);
  EXPECT_EQ(LastCall().addresses(0), "10.0.0.3");
  EXPECT_EQ(Serve("PUT", "/v1/agent/join/").status, 400);
  Serve("PUT", "/v1/agent/leave");
  EXPECT_EQ(LastMethod(), "agent.leave");

  RouterOptions strict;
  strict.strict_http_methods = true;
  Router strict_router(strict, agent_.requester());
  std::optional<http::Response> answered;
  strict_router.Serve(MakeRequest("GET", "/v1/agent/join/10.0.0.3"), [&](http::Response r) { answered = r; });
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->status, 405);
}

TEST_F(RouterTest, OperatorRaft) {
  Serve("GET", "/v1/operator/raft/configuration", {{"stale", ""}});
  EXPECT_EQ(LastMethod(), "operator.raft.configuration");
  EXPECT_EQ(LastCall().consistency(), "stale");
  Serve("DELETE", "/v1/operator/raft/peer", {{"id", "e7f1e0bc-5c9a-4a57-9d3b-5e1b3f6a0c11"}});
  EXPECT_EQ(LastMethod(), "operator.raft.remove-peer");
  EXPECT_EQ(LastCall().id(), "e7f1e0bc-5c9a-4a57-9d3b-5e1b3f6a0c11");
  EXPECT_EQ(LastCall().address(), "");
  Serve("DELETE", "/v1/operator/raft/peer", {{"address", "10.0.0.4:8300"}});
  EXPECT_EQ(LastCall().address(), "10.0.0.4:8300");
  size_t asked = agent_.asked.size();
  EXPECT_EQ(Serve("DELETE", "/v1/operator/raft/peer").status, 400);
  EXPECT_EQ(Serve("DELETE", "/v1/operator/raft/peer", {{"id", "a"}, {"address", "b"}}).body,
            "Must specify only one of ?id or ?address");
  EXPECT_EQ(agent_.asked.size(), asked);
}

TEST_F(RouterTest, OperatorAutopilot) {
  Serve("GET", "/v1/operator/autopilot/configuration");
  EXPECT_EQ(LastMethod(), "operator.autopilot.get");
  const std::string config = R"({"CleanupDeadServers":false,"MaxTrailingLogs":300})";
  Serve("PUT", "/v1/operator/autopilot/configuration", {{"cas", "4"}}, config);
  EXPECT_EQ(LastMethod(), "operator.autopilot.set");
  EXPECT_EQ(LastCall().json(), config);
  EXPECT_TRUE(LastCall().has_cas());
  EXPECT_EQ(LastCall().cas(), 4u);
  size_t asked = agent_.asked.size();
  for (const char* bad : {"", "not json", "[1,2]", "{\"a\":", "\"s\""}) {
    http::Response response = Serve("PUT", "/v1/operator/autopilot/configuration", {}, bad);
    EXPECT_EQ(response.status, 400) << bad;
    EXPECT_NE(response.body.find("autopilot config"), std::string::npos);
  }
  // Deep nesting is refused or parsed without recursion, never a crash.
  EXPECT_EQ(Serve("PUT", "/v1/operator/autopilot/configuration", {}, std::string(200000, '[')).status, 400);
  EXPECT_EQ(agent_.asked.size(), asked);
}

TEST_F(RouterTest, AutopilotHealthIs429WhenUnhealthy) {
  std::string health = R"({"Healthy":false,"FailureTolerance":0,"Servers":[]})";
  agent_.play = [&](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), health); };
  http::Response response = Serve("GET", "/v1/operator/autopilot/health");
  EXPECT_EQ(LastMethod(), "operator.autopilot.health");
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.body, health);
  health = R"({"Healthy":true,"FailureTolerance":1,"Servers":[]})";
  EXPECT_EQ(Serve("GET", "/v1/operator/autopilot/health").status, 200);
}

TEST_F(RouterTest, SessionCreateRenamesFieldsAsConsulMatchesThem) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::OkStatus(), R"({"ID":"adf4238a-882b-9ddc-4a9d-5b6758e4159e"})", 12);
  };
  // python-consul's body: lower-case names (W4), Go durations as strings.
  http::Response response = Serve("PUT", "/v1/session/create", {},
                                  R"({"name": "lock", "lockdelay": "5s", "behavior": "delete", "ttl": "10s",)"
                                  R"( "checks": ["serfHealth"], "NODE": "n1"})");
  EXPECT_EQ(LastMethod(), "session.create");
  EXPECT_EQ(LastCall().json(),
            R"({"Name":"lock","LockDelay":"5s","Behavior":"delete","TTL":"10s","Checks":["serfHealth"],"Node":"n1"})");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, R"({"ID":"adf4238a-882b-9ddc-4a9d-5b6758e4159e"})");
  EXPECT_EQ(Header(response, "Content-Type"), "application/json");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");
  // Consul's own spelling passes unchanged; a field sent twice keeps the later value, as Go's
  // encoding/json; an unknown field goes on for the agent to refuse by name.
  Serve("PUT", "/v1/session/create", {}, R"({"TTL":"30s","ServiceChecks":[{"ID":"web"}],"ttl":"40s","Extra":1})");
  EXPECT_EQ(LastCall().json(), R"({"TTL":"40s","ServiceChecks":[{"ID":"web"}],"Extra":1})");
  // No body: Consul's defaults, decided by the agent.
  Serve("PUT", "/v1/session/create");
  EXPECT_EQ(LastCall().json(), "");
}

TEST_F(RouterTest, SessionCreateRefusesBodiesThatAreNotJsonObjects) {
  for (const char* bad : {"not json", "[]", "\"ttl\"", "{\"ttl\":", " ", "{\"ttl\":\"10s\"} x"}) {
    http::Response response = Serve("PUT", "/v1/session/create", {}, bad);
    EXPECT_EQ(response.status, 400) << bad;
    EXPECT_NE(response.body.find("Request decode failed"), std::string::npos) << response.body;
  }
  EXPECT_EQ(Serve("PUT", "/v1/session/create", {}, std::string(100000, '{')).status, 400);
  // Well-formed but deep (no session field nests past 3): refused before anything walks it
  // recursively (nlohmann's dump recurses).
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"x\":";
  deep += "1" + std::string(100000, '}');
  http::Response response = Serve("PUT", "/v1/session/create", {}, deep);
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("nested"), std::string::npos) << response.body;
  EXPECT_EQ(Serve("PUT", "/v1/session/create", {}, "{\"Checks\":" + std::string(9, '[') + std::string(9, ']') + "}").status,
            400);
  EXPECT_TRUE(agent_.asked.empty());
}

TEST_F(RouterTest, SessionDestroyAndRenewCarryTheId) {
  const std::string id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
  http::Response response = Serve("PUT", "/v1/session/destroy/" + id);
  EXPECT_EQ(LastMethod(), "session.destroy");
  EXPECT_EQ(LastCall().key(), id);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "true");
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::OkStatus(), R"([{"ID":"s","TTL":"10s"}])", 8);
  };
  response = Serve("PUT", "/v1/session/renew/" + id);
  EXPECT_EQ(LastMethod(), "session.renew");
  EXPECT_EQ(LastCall().key(), id);
  EXPECT_EQ(response.body, R"([{"ID":"s","TTL":"10s"}])");
  // An unknown session: 404, which python-consul's renew raises as NotFound.
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::NotFoundError("Session id 'x' not found"), "");
  };
  EXPECT_EQ(Serve("PUT", "/v1/session/renew/x").status, 404);
  size_t asked = agent_.asked.size();
  for (const char* verb : {"destroy", "renew"}) {
    const std::string path = std::string("/v1/session/") + verb + "/";
    EXPECT_EQ(Serve("PUT", path).body, "Missing session") << verb;
    EXPECT_EQ(Serve("PUT", path + "\xff").status, 400) << verb;
    EXPECT_EQ(Serve("PUT", path + std::string(kParamBytesMax + 1, 's')).status, 400) << verb;
    // Writes: Consul's strict PUT (python-consul 0.7.1 uses PUT here).
    response = Serve("GET", path + id);
    EXPECT_EQ(response.status, 405) << verb;
    EXPECT_EQ(Header(response, "Allow"), "OPTIONS,PUT");
  }
  EXPECT_EQ(Serve("GET", "/v1/session/create").status, 405);
  EXPECT_EQ(agent_.asked.size(), asked);
}

TEST_F(RouterTest, SessionInfoAndListAreBlockingReads) {
  agent_.play = [](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), "[]", 0); };
  // An unknown ID is 200 with [] (Consul 1.x), with the query headers.
  http::Response response = Serve("GET", "/v1/session/info/nope", {{"index", "4"}, {"wait", "10s"}, {"stale", "1"}});
  EXPECT_EQ(LastMethod(), "session.info");
  EXPECT_EQ(LastCall().key(), "nope");
  EXPECT_EQ(LastCall().min_index(), 4u);
  EXPECT_EQ(LastCall().wait_ms(), 10'000u);
  EXPECT_EQ(LastCall().consistency(), "stale");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[]");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "1");
  EXPECT_EQ(Header(response, "X-Consul-KnownLeader"), "true");
  EXPECT_EQ(Header(response, "X-Consul-LastContact"), "0");
  response = Serve("GET", "/v1/session/list", {{"consistent", ""}});
  EXPECT_EQ(LastMethod(), "session.list");
  EXPECT_EQ(LastCall().consistency(), "consistent");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "1");
  size_t asked = agent_.asked.size();
  EXPECT_EQ(Serve("GET", "/v1/session/info/").body, "Missing session");
  EXPECT_EQ(Serve("GET", "/v1/session/info/x", {{"index", "-1"}}).body, "Invalid index");
  EXPECT_EQ(Serve("PUT", "/v1/session/list").status, 405);
  EXPECT_EQ(Serve("GET", "/v1/session/list/extra").status, 404);
  EXPECT_EQ(agent_.asked.size(), asked);
}

TEST_F(RouterTest, AgentErrorsBecomeConsulStatuses) {
  struct Case {
    absl::Status status;
    int http_status;
  };
  for (const Case& c : {Case{absl::UnavailableError("No cluster leader"), 500},
                        Case{absl::InvalidArgumentError("Invalid session"), 400},
                        Case{absl::FailedPreconditionError("lock held"), 400},
                        Case{absl::PermissionDeniedError("Permission denied"), 403},
                        Case{absl::DeadlineExceededError("timed out"), 500},
                        Case{absl::InternalError("broken"), 500}}) {
    agent_.play = [&](const std::string&, const proto::agent::Call&) { return AgentAnswer(c.status, "", 9); };
    http::Response response = Serve("GET", "/v1/kv/k");
    EXPECT_EQ(response.status, c.http_status) << c.status;
    EXPECT_EQ(response.body, c.status.message());
    EXPECT_EQ(Header(response, "Content-Type"), "text/plain; charset=utf-8");
    // No query headers when the request failed (Consul sets them only on a served read).
    EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");
  }
}

TEST_F(RouterTest, AnUnreadableReplyIsA500NotPassedOn) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    ::muster::Response response;
    response.body = "\xff\xff\xff garbage";
    return response;
  };
  http::Response response = Serve("GET", "/v1/status/leader");
  EXPECT_EQ(response.status, 500);
  EXPECT_NE(response.body.find("not a Reply"), std::string::npos);
}

TEST_F(RouterTest, PrettyIndentsJson) {
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::OkStatus(), R"({"Servers":[{"ID":"a"}],"Index":1})");
  };
  http::Response response = Serve("GET", "/v1/operator/raft/configuration", {{"pretty", ""}});
  EXPECT_EQ(response.body, "{\n    \"Servers\": [\n        {\n            \"ID\": \"a\"\n        }\n    ],\n    \"Index\": 1\n}\n");
}

TEST_F(RouterTest, TheAgentMayAnswerLater) {
  std::vector<std::function<void(const ::muster::Response&)>> parked;
  Router router(options_, [&](std::string, std::string, std::function<void(const ::muster::Response&)> done) {
    parked.push_back(std::move(done));
  });
  std::optional<http::Response> answered;
  router.Serve(MakeRequest("PUT", "/v1/kv/k", {}, "v"), [&](http::Response r) { answered = std::move(r); });
  EXPECT_FALSE(answered.has_value());
  ASSERT_EQ(parked.size(), 1u);
  parked[0](AgentAnswer(absl::OkStatus(), "true"));
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->body, "true");
}

// ---- catalog and health (issue 12): the reads' parameters, the writes' bodies, headers.

TEST_F(RouterTest, CatalogServiceCarriesTagsNodeMetaFilterAndNear) {
  agent_.play = [](const std::string&, const proto::agent::Call&) { return AgentAnswer(absl::OkStatus(), "[]", 9); };
  http::Response response = Serve("GET", "/v1/catalog/service/web",
                                  {{"tag", "v1"}, {"tag", "primary"}, {"node-meta", "rack:r1"},
                                   {"node-meta", "env:prod"}, {"filter", "ServicePort == 80"}, {"near", "_agent"},
                                   {"index", "4"}, {"stale", ""}});
  EXPECT_EQ(LastMethod(), "catalog.service");
  const proto::agent::Call& call = LastCall();
  EXPECT_EQ(call.key(), "web");
  EXPECT_EQ(std::vector<std::string>(call.tags().begin(), call.tags().end()),
            (std::vector<std::string>{"v1", "primary"}));
  EXPECT_EQ(std::vector<std::string>(call.node_meta().begin(), call.node_meta().end()),
            (std::vector<std::string>{"rack:r1", "env:prod"}));
  EXPECT_EQ(call.filter(), "ServicePort == 80");
  EXPECT_EQ(call.near(), "_agent");
  EXPECT_EQ(call.min_index(), 4u);
  EXPECT_EQ(call.consistency(), "stale");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "[]");
  EXPECT_EQ(Header(response, "Content-Type"), "application/json");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "9");
  EXPECT_EQ(Header(response, "X-Consul-KnownLeader"), "true");
  EXPECT_EQ(Header(response, "X-Consul-LastContact"), "0");
  EXPECT_EQ(Serve("GET", "/v1/catalog/service/").body, "Missing service name");
  EXPECT_EQ(Serve("PUT", "/v1/catalog/service/web").status, 405);
}

TEST_F(RouterTest, HealthServicePassingIsTrueWhenPresent) {
  for (const char* value : {"1", "", "true", "0"}) {  // W3: present is true, whatever the value
    Serve("GET", "/v1/health/service/web", {{"passing", value}, {"tag", "v1"}});
    EXPECT_EQ(LastMethod(), "health.service");
    EXPECT_TRUE(LastCall().passing()) << value;
    EXPECT_EQ(LastCall().tags_size(), 1);
  }
  Serve("GET", "/v1/health/service/web");
  EXPECT_FALSE(LastCall().passing());
  EXPECT_EQ(Serve("GET", "/v1/health/service/").body, "Missing service name");
  http::Response response = Serve("GET", "/v1/health/checks/web", {{"filter", "Status == passing"}});
  EXPECT_EQ(LastMethod(), "health.checks");
  EXPECT_EQ(LastCall().key(), "web");
  EXPECT_EQ(LastCall().filter(), "Status == passing");
  EXPECT_EQ(LastCall().tags_size(), 0);  // ?tag is health/service's and catalog/service's only
  EXPECT_NE(Header(response, "X-Consul-Index"), "<none>");
  EXPECT_EQ(Serve("GET", "/v1/health/checks/").body, "Missing service name");
}

TEST_F(RouterTest, NodeServicesAndFiltersOnTheOtherReads) {
  Serve("GET", "/v1/catalog/node-services/node-1", {{"filter", "Port == 80"}});
  EXPECT_EQ(LastMethod(), "catalog.node-services");
  EXPECT_EQ(LastCall().key(), "node-1");
  EXPECT_EQ(LastCall().filter(), "Port == 80");
  EXPECT_EQ(Serve("GET", "/v1/catalog/node-services/").body, "Missing node name");
  for (const char* path : {"/v1/catalog/nodes", "/v1/catalog/services", "/v1/catalog/node/n", "/v1/health/node/n",
                           "/v1/health/state/any"}) {
    Serve("GET", path, {{"filter", "Node == n"}, {"node-meta", "a:b"}, {"near", "n"}});
    EXPECT_EQ(LastCall().filter(), "Node == n") << path;
    EXPECT_EQ(LastCall().node_meta_size(), 1) << path;
    EXPECT_EQ(LastCall().near(), "n") << path;
  }
}

TEST_F(RouterTest, CatalogQueryParametersAreBounded) {
  const size_t asked = agent_.asked.size();
  http::Response response = Serve("GET", "/v1/catalog/service/web", {{"filter", std::string(4097, 'x')}});
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Invalid filter: longer than 4096 bytes");
  EXPECT_EQ(Serve("GET", "/v1/catalog/service/web", {{"tag", "\xff"}}).status, 400);
  EXPECT_EQ(Serve("GET", "/v1/health/service/web", {{"near", std::string(600, 'n')}}).status, 400);
  Query many;
  for (int i = 0; i < 65; ++i) many.emplace_back("tag", "t");
  EXPECT_EQ(Serve("GET", "/v1/catalog/service/web", many).status, 400);
  EXPECT_EQ(agent_.asked.size(), asked);  // none of these reached the agent
}

TEST_F(RouterTest, CatalogRegisterAndDeregisterCarryTheBodyAsSent) {
  const std::string body = R"({"node":"n1","address":"10.0.0.9","service":{"Service":"web","Port":80}})";
  http::Response response = Serve("PUT", "/v1/catalog/register", {}, body);
  EXPECT_EQ(LastMethod(), "catalog.register");
  EXPECT_EQ(LastCall().json(), body);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "true");
  EXPECT_EQ(Header(response, "X-Consul-Index"), "<none>");  // a write, not a query
  Serve("PUT", "/v1/catalog/deregister", {}, R"({"Node":"n1","ServiceID":"web"})");
  EXPECT_EQ(LastMethod(), "catalog.deregister");
  EXPECT_EQ(LastCall().json(), R"({"Node":"n1","ServiceID":"web"})");
  response = Serve("GET", "/v1/catalog/register");
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(Header(response, "Allow"), "OPTIONS,PUT");
  EXPECT_EQ(Serve("GET", "/v1/catalog/deregister").status, 405);
  // ?dc of another datacenter never reaches the agent; a body's Datacenter is the agent's to
  // refuse, as Consul's 500.
  EXPECT_EQ(Serve("PUT", "/v1/catalog/register", {{"dc", "dc2"}}, body).body, "No path to datacenter");
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::UnavailableError("No path to datacenter"), "");
  };
  response = Serve("PUT", "/v1/catalog/register", {}, R"({"Node":"n","Address":"a","Datacenter":"dc2"})");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body, "No path to datacenter");
  agent_.play = [](const std::string&, const proto::agent::Call&) {
    return AgentAnswer(absl::InvalidArgumentError("Must provide node"), "");
  };
  response = Serve("PUT", "/v1/catalog/register", {}, "{}");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.body, "Must provide node");
}

}  // namespace
}  // namespace muster::io::api
