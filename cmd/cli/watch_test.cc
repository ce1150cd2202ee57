// watch against scripted answers, a fake clock and scripted handlers: Consul's plan rules (the
// index carried, same index or same data ignored, an index gone backwards reset to 0, errors
// backing off 5s x failures^2 up to 180s, events pruned to the new ones), the one-shot print
// without a handler, and the handler's stdin, environment and failure.
#include "cmd/cli/cli_test_fixture.h"

namespace muster::cli {
namespace {

constexpr char kSelf[] = R"({"Config":{"NodeName":"web-1"}})";

HttpResponse At(uint64_t index, std::string body, int status = 200) {
  return HttpResponse{status, std::move(body), {{"X-Consul-Index", absl::StrCat(index)}}};
}

class WatchTest : public CliTest {
 protected:
  WatchTest() { transport_.Answer("GET /v1/agent/self", 200, kSelf); }
  // The watch's own requests (after the agent/self check), by target.
  std::vector<std::string> Targets() const {
    std::vector<std::string> targets;
    for (const HttpRequest& r : transport_.requests) {
      if (r.target != "/v1/agent/self") targets.push_back(r.target);
    }
    return targets;
  }
  void StopAfterRequests(size_t n) {
    stop_when_ = [this, n]() { return transport_.requests.size() >= n; };
  }
};

TEST_F(WatchTest, KeyWithoutHandlerPrintsOnceAndExits) {
  transport_.AnswerInTurn("GET /v1/kv/app/cfg",
                          {At(12, R"([{"LockIndex":0,"Key":"app/cfg","Flags":0,"Value":"PGE+","CreateIndex":9,"ModifyIndex":12}])")});
  EXPECT_EQ(Cli({"watch", "-type=key", "-key=/app/cfg"}), 0);
  EXPECT_EQ(Out(),
            // The Go client's KVPair order, Session always there.
            "{\n    \"Key\": \"app/cfg\",\n    \"CreateIndex\": 9,\n    \"ModifyIndex\": 12,\n    \"LockIndex\": 0,\n"
            "    \"Flags\": 0,\n    \"Value\": \"PGE+\",\n    \"Session\": \"\"\n}\n");
  EXPECT_EQ(Targets(), std::vector<std::string>{"/v1/kv/app/cfg"});
  // Missing: null, as Go marshals a nil pair; a prefix with nothing under it likewise.
  transport_.AnswerInTurn("GET /v1/kv/none", {At(3, "", 404)});
  EXPECT_EQ(Cli({"watch", "-type=key", "-key=none"}), 0);
  EXPECT_EQ(Out(), "null\n");
  EXPECT_EQ(Cli({"watch", "-type=keyprefix", "-prefix=none"}), 0);
  EXPECT_EQ(Out(), "null\n");
  EXPECT_EQ(Targets(), std::vector<std::string>{"/v1/kv/none?recurse="});
}

TEST_F(WatchTest, HandlerRunsOnChangesFollowingTheIndexRules) {
  transport_.AnswerInTurn("GET /v1/catalog/services",
                          {At(5, R"({"consul":[]})"),
                           At(5, R"({"consul":[]})"),              // same index: ignored
                           At(7, R"({"consul":[]})"),              // new index, same data: ignored
                           At(9, R"({"consul":[],"web":["v1"]})"),  // a change: the handler runs
                           At(3, R"({"consul":[]})"),              // backwards: reset, and a change
                           At(4, R"({"consul":[]})")});
  StopAfterRequests(7);  // agent/self and six queries
  EXPECT_EQ(Cli({"watch", "-type=services", "./notify.sh", "--all"}), 0);
  EXPECT_EQ(Targets(), (std::vector<std::string>{
                           "/v1/catalog/services",
                           "/v1/catalog/services?index=5&wait=60000ms",
                           "/v1/catalog/services?index=5&wait=60000ms",
                           "/v1/catalog/services?index=7&wait=60000ms",
                           "/v1/catalog/services?index=9&wait=60000ms",
                           "/v1/catalog/services",  // index 0 after going backwards
                       }));
  ASSERT_EQ(children_.size(), 3u);
  EXPECT_EQ(children_[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "./notify.sh --all"}));
  EXPECT_EQ(children_[0].stdin_data, std::optional<std::string>("{\"consul\":[]}\n"));
  EXPECT_EQ(children_[0].extra_env, (std::vector<std::pair<std::string, std::string>>{{"CONSUL_INDEX", "5"}}));
  EXPECT_EQ(children_[1].stdin_data, std::optional<std::string>("{\"consul\":[],\"web\":[\"v1\"]}\n"));
  EXPECT_EQ(children_[1].extra_env[0].second, "9");
  EXPECT_EQ(children_[2].extra_env[0].second, "3");
  EXPECT_EQ(Out(), "");
}

TEST_F(WatchTest, HandlerFailureEndsTheWatch) {
  transport_.AnswerInTurn("GET /v1/catalog/nodes", {At(2, "[]")});
  child_scripts_ = {FakeChildScript{3, ChildExit{2, 0}}};
  vars_["SHELL"] = "/bin/bash";
  EXPECT_EQ(Cli({"watch", "-type=nodes", "exit 2"}), 1);
  EXPECT_EQ(Err(), "Error executing handler: exit status 2\n");
  ASSERT_EQ(children_.size(), 1u);
  EXPECT_EQ(children_[0].argv[0], "/bin/bash");
  EXPECT_EQ(sleeps_.size(), 3u);  // polled until it ended
  // -shell=false: the words themselves.
  child_start_error_ = absl::UnavailableError("fork/exec nope: No such file or directory");
  EXPECT_EQ(Cli({"watch", "-type=nodes", "-shell=false", "nope", "a b"}), 1);
  EXPECT_EQ(children_[0].argv, (std::vector<std::string>{"nope", "a b"}));
  EXPECT_EQ(Err(), "Error starting handler: fork/exec nope: No such file or directory\n");
}

TEST_F(WatchTest, ErrorsBackOffQuadraticallyToACap) {
  std::vector<HttpResponse> answers(7, HttpResponse{500, "No cluster leader", {}});
  answers.push_back(HttpResponse{200, "[]", {}});  // no X-Consul-Index: an error too, as Go's client
  answers.push_back(At(4, R"([{"Node":"n1","CheckID":"serfHealth","Status":"passing"}])"));
  transport_.AnswerInTurn("GET /v1/health/state/any", answers);
  EXPECT_EQ(Cli({"watch", "-type=checks"}), 0);
  EXPECT_EQ(sleeps_, (std::vector<absl::Duration>{absl::Seconds(5), absl::Seconds(20), absl::Seconds(45),
                                                  absl::Seconds(80), absl::Seconds(125), absl::Seconds(180),
                                                  absl::Seconds(180), absl::Seconds(180)}));
  EXPECT_EQ(Err().rfind("[ERROR] watch: Watch errored: type=checks error=\"Unexpected response code: 500 (No cluster "
                        "leader)\" retry=5s\n", 0), 0u);
  EXPECT_NE(Err().find("error=\"Failed to parse X-Consul-Index: strconv.ParseUint: parsing \"\": invalid syntax\" "
                       "retry=3m0s\n"), std::string::npos);
  EXPECT_NE(Out().find("\"CheckID\": \"serfHealth\""), std::string::npos);
  // Each error forgets the index: every query went without one.
  for (const std::string& target : Targets()) EXPECT_EQ(target, "/v1/health/state/any");
}

// Ctrl-C (caught) ends the watch with 0, as Consul's, even in the middle of a back-off or while
// a handler runs.
TEST_F(WatchTest, InterruptEndsTheWatchWithZero) {
  transport_.AnswerInTurn("GET /v1/catalog/nodes", {HttpResponse{500, "No cluster leader", {}}});
  on_sleep_ = [this]() { interrupted_ = true; };
  EXPECT_EQ(Cli({"watch", "-type=nodes"}), 0);
  EXPECT_TRUE(interrupts_caught_);
  EXPECT_EQ(sleeps_, std::vector<absl::Duration>{absl::Seconds(5)});
  EXPECT_EQ(Targets().size(), 1u);
  interrupted_ = false;
  transport_.AnswerInTurn("GET /v1/catalog/nodes", {At(3, "[]")});
  child_scripts_ = {FakeChildScript{-1, ChildExit{}}};  // a handler that does not end by itself
  EXPECT_EQ(Cli({"watch", "-type=nodes", "sleep 100"}), 0);
  EXPECT_EQ(children_.size(), 1u);
}

TEST_F(WatchTest, EventWatchHandsOverOnlyNewEvents) {
  const std::string e1 = "b54fe110-7af5-cafc-d1fb-afc8ba432b1c";
  const std::string e2 = "00000000-0000-0000-0000-000000000011";
  const std::string e3 = "00000000-0000-0001-0000-000000000000";
  const auto event = [](const std::string& id) { return absl::StrCat(R"({"ID":")", id, R"(","Name":"deploy"})"); };
  // Index = uint64(hex(id[0:8]+id[9:13]+id[14:18])) ^ uint64(hex(id[19:23]+id[24:36])).
  const uint64_t i2 = 0x11, i3 = 0x1;
  transport_.AnswerInTurn("GET /v1/event/list",
                          {At(i2, absl::StrCat("[", event(e1), ",", event(e2), "]")),
                           At(i3, absl::StrCat("[", event(e1), ",", event(e2), ",", event(e3), "]"))});
  StopAfterRequests(3);
  EXPECT_EQ(Cli({"watch", "-type=event", "-name=deploy", "cat"}), 0);
  EXPECT_EQ(Targets(), (std::vector<std::string>{"/v1/event/list?name=deploy",
                                                 "/v1/event/list?index=17&name=deploy&wait=60000ms"}));
  ASSERT_EQ(children_.size(), 2u);
  EXPECT_EQ(*children_[0].stdin_data, absl::StrCat("[", event(e1), ",", event(e2), "]\n"));
  EXPECT_EQ(*children_[1].stdin_data, absl::StrCat("[", event(e3), "]\n"));  // only the new one
}

TEST_F(WatchTest, ServiceAndChecksQueries) {
  transport_.AnswerInTurn("GET /v1/health/service/web", {At(8, "[]")});
  EXPECT_EQ(Cli({"watch", "-type=service", "-service=web", "-tag=prod", "-passingonly=true"}), 0);
  EXPECT_EQ(Targets(), std::vector<std::string>{"/v1/health/service/web?passing=1&tag=prod"});
  EXPECT_EQ(Out(), "[]\n");
  transport_.AnswerInTurn("GET /v1/health/checks/web", {At(8, "[]")});
  EXPECT_EQ(Cli({"watch", "-type=checks", "-service=web"}), 0);
  EXPECT_EQ(Targets(), std::vector<std::string>{"/v1/health/checks/web"});
  transport_.AnswerInTurn("GET /v1/health/state/critical", {At(8, "[]")});
  EXPECT_EQ(Cli({"watch", "-type=checks", "-state=critical"}), 0);
  EXPECT_EQ(Targets(), std::vector<std::string>{"/v1/health/state/critical"});
}

TEST_F(WatchTest, BadParametersSendNothing) {
  EXPECT_EQ(Cli({"watch"}), 1);
  EXPECT_EQ(Err().rfind("Watch type must be specified\n\nUsage: muster watch", 0), 0u);
  EXPECT_EQ(Cli({"watch", "-type=bogus"}), 1);
  EXPECT_EQ(Err(), "Unsupported watch type: bogus\n");
  EXPECT_EQ(Cli({"watch", "-type=key"}), 1);
  EXPECT_EQ(Err(), "Must specify a single key to watch\n");
  EXPECT_EQ(Cli({"watch", "-type=keyprefix"}), 1);
  EXPECT_EQ(Err(), "Must specify a single prefix to watch\n");
  EXPECT_EQ(Cli({"watch", "-type=service"}), 1);
  EXPECT_EQ(Err(), "Must specify a single service to watch\n");
  EXPECT_EQ(Cli({"watch", "-type=checks", "-service=a", "-state=any"}), 1);
  EXPECT_EQ(Err(), "Cannot specify service and state\n");
  EXPECT_EQ(Cli({"watch", "-type=nodes", "-key=a", "-name=b"}), 1);
  EXPECT_EQ(Err(), "Invalid parameters: [key name]\n");
  EXPECT_EQ(Cli({"watch", "-type=event", "-stale"}), 1);
  EXPECT_EQ(Err(), "Invalid parameters: [stale]\n");
  EXPECT_EQ(Cli({"watch", "-type=service", "-service=a", "-passingonly=maybe"}), 1);
  EXPECT_EQ(Err(), "Failed to parse passingonly flag: strconv.ParseBool: parsing \"maybe\": invalid syntax\n");
  EXPECT_TRUE(transport_.requests.empty());
  transport_.Answer("GET /v1/agent/self", 500, "down");
  EXPECT_EQ(Cli({"watch", "-type=nodes"}), 1);
  EXPECT_EQ(Err(), "Error querying muster agent: Unexpected response code: 500 (down)\n");
}

}  // namespace
}  // namespace muster::cli
