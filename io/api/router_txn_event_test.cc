// The /v1/txn and /v1/event routes against a fake agent: what each request becomes, and how a
// rolled-back transaction and the event list are answered.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "io/api/router.h"

namespace muster::io::api {
namespace {

http::Request MakeRequest(std::string method, std::string path,
                          std::vector<std::pair<std::string, std::string>> query = {}, std::string body = "") {
  http::Request request;
  request.method = std::move(method);
  request.path = path;
  request.target = std::move(path);
  request.query = std::move(query);
  request.body = std::move(body);
  return request;
}

::muster::Response AgentAnswer(absl::Status status, std::string json, uint64_t index = 0) {
  proto::agent::Reply reply;
  reply.set_body(std::move(json));
  reply.set_index(index);
  reply.set_known_leader(true);
  ::muster::Response response;
  response.status = std::move(status);
  response.body = reply.SerializeAsString();
  return response;
}

class TxnEventRouteTest : public ::testing::Test {
 protected:
  http::Response Serve(std::string method, std::string path,
                       std::vector<std::pair<std::string, std::string>> query = {}, std::string body = "") {
    std::optional<http::Response> answered;
    router_.Serve(MakeRequest(std::move(method), std::move(path), std::move(query), std::move(body)),
                  [&](http::Response response) {
                    EXPECT_FALSE(answered.has_value()) << "answered twice";
                    answered = std::move(response);
                  });
    EXPECT_TRUE(answered.has_value()) << "never answered";
    return answered.value_or(http::Response{});
  }
  static std::string Header(const http::Response& response, std::string_view name) {
    const std::string* value = response.headers.Find(absl::string_view(name.data(), name.size()));
    return value == nullptr ? "<none>" : *value;
  }

  ::muster::Response next_ = AgentAnswer(absl::OkStatus(), "true");
  std::vector<std::pair<std::string, proto::agent::Call>> asked_;
  Router router_{RouterOptions{}, [this](std::string method, std::string body,
                                        std::function<void(const ::muster::Response&)> done) {
                   proto::agent::Call call;
                   EXPECT_TRUE(call.ParseFromString(body));
                   asked_.emplace_back(method, call);
                   done(next_);
                 }};
};

TEST_F(TxnEventRouteTest, TxnCarriesTheBodyAndConsistency) {
  const std::string ops = R"([{"KV":{"Verb":"get","Key":"a"}}])";
  next_ = AgentAnswer(absl::OkStatus(), R"({"Results":[],"Errors":null})");
  http::Response ok = Serve("PUT", "/v1/txn", {{"stale", ""}}, ops);
  ASSERT_EQ(asked_.size(), 1u);
  EXPECT_EQ(asked_[0].first, "txn");
  EXPECT_EQ(asked_[0].second.json(), ops);
  EXPECT_EQ(asked_[0].second.consistency(), "stale");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(Header(ok, "Content-Type"), "application/json");
  // Rolled back: 409 with the agent's JSON errors as the body.
  const std::string errors = R"({"Results":null,"Errors":[{"OpIndex":0,"What":"key \"a\" exists"}]})";
  next_ = AgentAnswer(absl::AbortedError("transaction rolled back"), errors);
  http::Response rolled = Serve("PUT", "/v1/txn", {}, ops);
  EXPECT_EQ(rolled.status, 409);
  EXPECT_EQ(rolled.body, errors);
  EXPECT_EQ(Header(rolled, "Content-Type"), "application/json");
  next_ = AgentAnswer(absl::ResourceExhaustedError("Transaction contains too many operations (65 > 64)"), "");
  EXPECT_EQ(Serve("PUT", "/v1/txn", {}, ops).status, 413);
  // Refused before the agent: no body, wrong method.
  const size_t asked = asked_.size();
  EXPECT_EQ(Serve("PUT", "/v1/txn").status, 400);
  http::Response get = Serve("GET", "/v1/txn");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(Header(get, "Allow"), "OPTIONS,PUT");
  EXPECT_EQ(asked_.size(), asked);
}

TEST_F(TxnEventRouteTest, EventFireCarriesNamePayloadAndFilters) {
  next_ = AgentAnswer(absl::OkStatus(), R"({"ID":"x"})");
  http::Response fired =
      Serve("PUT", "/v1/event/fire/deploy", {{"node", "web-.*"}, {"service", "api"}, {"tag", "v1"}}, "payload");
  ASSERT_EQ(asked_.size(), 1u);
  EXPECT_EQ(asked_[0].first, "event.fire");
  const proto::agent::Call& call = asked_[0].second;
  EXPECT_EQ(call.key(), "deploy");
  EXPECT_EQ(call.value(), "payload");
  EXPECT_EQ(call.event_node_filter(), "web-.*");
  EXPECT_EQ(call.event_service_filter(), "api");
  EXPECT_EQ(call.event_tag_filter(), "v1");
  EXPECT_EQ(fired.status, 200);
  EXPECT_EQ(Header(fired, "X-Consul-Index"), "<none>");
  EXPECT_EQ(Serve("PUT", "/v1/event/fire/").status, 400);
  EXPECT_EQ(Serve("GET", "/v1/event/fire/deploy").status, 405);
  EXPECT_EQ(Serve("PUT", "/v1/event/fire/x", {{"node", std::string(600, 'a')}}).status, 400);
  EXPECT_EQ(asked_.size(), 1u);
}

TEST_F(TxnEventRouteTest, EventListIsABlockingQueryWithTheEventIndex) {
  next_ = AgentAnswer(absl::OkStatus(), "[]", 0x1234);
  http::Response listed = Serve("GET", "/v1/event/list", {{"name", "deploy"}, {"index", "77"}, {"wait", "2s"}});
  ASSERT_EQ(asked_.size(), 1u);
  EXPECT_EQ(asked_[0].first, "event.list");
  EXPECT_EQ(asked_[0].second.key(), "deploy");
  EXPECT_EQ(asked_[0].second.min_index(), 77u);
  EXPECT_EQ(asked_[0].second.wait_ms(), 2000u);
  EXPECT_EQ(listed.status, 200);
  EXPECT_EQ(Header(listed, "X-Consul-Index"), "4660");
  EXPECT_EQ(Header(listed, "X-Consul-KnownLeader"), "true");
}

}  // namespace
}  // namespace muster::io::api
