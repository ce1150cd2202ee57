// Watches: Consul's definitions read (every type, its parameters, the two handler kinds) and
// refused as Consul refuses them; the result shaping (key, keyprefix, event pruning); and the
// plan through a fake agent: the handler runs the first time and when the index moves with a
// different result, never on the same index or an equal result, and not before the previous
// run ended; an error backs off 5 s x failures^2; an index going backwards starts over.
#include "core/agent/watches.h"

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;
const Time kT0 = absl::FromUnixSeconds(1'000'000);

WatchDefinition Parse(std::string_view json) {
  absl::StatusOr<WatchDefinition> w = ParseWatch(json, "dc1");
  EXPECT_TRUE(w.ok()) << json << ": " << w.status();
  return w.ok() ? *w : WatchDefinition();
}

std::string Refusal(std::string_view json) {
  absl::StatusOr<WatchDefinition> w = ParseWatch(json, "dc1");
  EXPECT_FALSE(w.ok()) << json;
  return std::string(w.status().message());
}

TEST(ParseWatch, EveryTypeAsItsRead) {
  WatchDefinition w = Parse(R"({"type":"key","key":"/cfg/a","handler":"h.sh"})");
  EXPECT_EQ(w.method, "kv.get");
  EXPECT_EQ(w.call.key(), "cfg/a");
  EXPECT_TRUE(w.single_pair);
  EXPECT_EQ(w.handler_kind, WatchDefinition::HandlerKind::kShell);
  EXPECT_EQ(w.shell_command, "h.sh");

  w = Parse(R"({"type":"keyprefix","prefix":"cfg/","args":["/bin/h","-x"],"stale":true})");
  EXPECT_EQ(w.method, "kv.get");
  EXPECT_TRUE(w.call.recurse());
  EXPECT_EQ(w.call.consistency(), "stale");
  EXPECT_EQ(w.handler_kind, WatchDefinition::HandlerKind::kExec);
  EXPECT_EQ(w.args, (std::vector<std::string>{"/bin/h", "-x"}));

  EXPECT_EQ(Parse(R"({"type":"services","handler":"h"})").method, "catalog.services");
  EXPECT_EQ(Parse(R"({"type":"nodes","handler":"h","datacenter":"dc1","token":"x"})").method, "catalog.nodes");

  w = Parse(R"({"type":"service","service":"web","tag":["a","b"],"passingonly":true,"handler":"h"})");
  EXPECT_EQ(w.method, "health.service");
  EXPECT_EQ(w.call.key(), "web");
  ASSERT_EQ(w.call.tags_size(), 2);
  EXPECT_TRUE(w.call.passing());
  EXPECT_EQ(Parse(R"({"type":"service","service":"web","tag":"a","handler":"h"})").call.tags(0), "a");

  EXPECT_EQ(Parse(R"({"type":"checks","service":"web","handler":"h"})").method, "health.checks");
  w = Parse(R"({"type":"checks","handler":"h"})");
  EXPECT_EQ(w.method, "health.state");
  EXPECT_EQ(w.call.key(), "any");
  EXPECT_EQ(Parse(R"({"type":"checks","state":"critical","handler":"h"})").call.key(), "critical");

  w = Parse(R"({"type":"event","name":"deploy","handler":"h"})");
  EXPECT_EQ(w.method, "event.list");
  EXPECT_EQ(w.call.key(), "deploy");
  EXPECT_TRUE(w.events);

  w = Parse(R"({"type":"key","key":"k","handler_type":"http","http_handler_config":{
      "path":"http://127.0.0.1:9/hook","method":"PUT","header":{"X-A":["1","2"]},"timeout":"3s",
      "tls_skip_verify":true}})");
  EXPECT_EQ(w.handler_kind, WatchDefinition::HandlerKind::kHttp);
  EXPECT_EQ(w.url, "http://127.0.0.1:9/hook");
  EXPECT_EQ(w.http_method, "PUT");
  EXPECT_EQ(w.headers.size(), 2u);
  EXPECT_EQ(w.timeout, absl::Seconds(3));
  EXPECT_TRUE(w.tls_skip_verify);
  w = Parse(R"({"type":"nodes","handler_type":"http","http_handler_config":{"path":"https://h/x"}})");
  EXPECT_EQ(w.http_method, "POST");
  EXPECT_EQ(w.timeout, kWatchHttpTimeoutDefault);
}

TEST(ParseWatch, RefusedAsConsulRefuses) {
  EXPECT_EQ(Refusal(R"({"type":"key","handler":"h"})"), "watch: Must specify a single key to watch");
  EXPECT_EQ(Refusal(R"({"type":"keyprefix","handler":"h"})"), "watch: Must specify a single prefix to watch");
  EXPECT_EQ(Refusal(R"({"type":"service","handler":"h"})"), "watch: Must specify a single service to watch");
  EXPECT_EQ(Refusal(R"({"type":"checks","service":"a","state":"any","handler":"h"})"),
            "watch: Cannot specify service and state");
  EXPECT_EQ(Refusal(R"({"type":"nodes","key":"x","service":"y","handler":"h"})"), "watch: Invalid parameters: [key service]");
  EXPECT_EQ(Refusal(R"({"type":"bogus","handler":"h"})"), "watch: Unsupported watch type: bogus");
  EXPECT_EQ(Refusal(R"({"handler":"h"})"), "watch: Watch type must be specified");
  EXPECT_EQ(Refusal(R"({"type":"nodes"})"), "watch: Must define a watch handler");
  EXPECT_EQ(Refusal(R"({"type":"nodes","handler":"h","args":["a"]})"), "watch: Only one watch handler allowed");
  Refusal(R"({"type":"nodes","args":[1]})");
  Refusal(R"({"type":"nodes","handler":"h","datacenter":"dc2"})");
  Refusal(R"({"type":"nodes","handler_type":"http"})");
  Refusal(R"({"type":"nodes","handler_type":"http","http_handler_config":{"path":"ftp://x"}})");
  Refusal(R"({"type":"nodes","handler_type":"http","http_handler_config":{"path":"http://x","timeout":"soon"}})");
  Refusal(R"({"type":"nodes","handler_type":"mail","handler":"h"})");
  Refusal(R"({"type":"checks","state":"sleepy","handler":"h"})");
  Refusal("[1]");
  Refusal("{");
}

TEST(WatchResult, KeyKeyprefixAndEventsShapedAsConsulHandsThem) {
  const std::string kv = R"([{"LockIndex":0,"Key":"a","Flags":0,"Value":"eA==","CreateIndex":5,"ModifyIndex":7}])";
  WatchDefinition key = Parse(R"({"type":"key","key":"a","handler":"h"})");
  EXPECT_EQ(*WatchResult(key, false, kv, ""),
            R"({"Key":"a","CreateIndex":5,"ModifyIndex":7,"LockIndex":0,"Flags":0,"Value":"eA==","Session":""})");
  EXPECT_EQ(*WatchResult(key, true, "", ""), "null");
  WatchDefinition prefix = Parse(R"({"type":"keyprefix","prefix":"a","handler":"h"})");
  EXPECT_EQ(WatchResult(prefix, false, kv, "")->front(), '[');
  EXPECT_EQ(*WatchResult(prefix, true, "", ""), "null");
  WatchDefinition nodes = Parse(R"({"type":"nodes","handler":"h"})");
  EXPECT_EQ(*WatchResult(nodes, false, R"([{"Node":"n1"}])", ""), R"([{"Node":"n1"}])");  // as the endpoint

  WatchDefinition events = Parse(R"({"type":"event","handler":"h"})");
  const std::string list = R"([{"ID":"e1","Name":"x"},{"ID":"e2","Name":"x"},{"ID":"e3","Name":"x"}])";
  EXPECT_EQ(*WatchResult(events, false, list, ""), list);  // the first time: all of them
  EXPECT_EQ(*WatchResult(events, false, list, "e2"), R"([{"ID":"e3","Name":"x"}])");
  EXPECT_EQ(*WatchResult(events, false, list, "gone"), list);  // fell out of the ring: all
  EXPECT_FALSE(WatchResult(events, false, "not json", "").has_value());
  // What Go's json.Encoder writes: HTML-safe escapes, inside strings only (where they can be).
  EXPECT_EQ(*WatchResult(nodes, false, "[{\"Node\":\"a<b>&c\u2028\"}]", ""),
            R"([{"Node":"a\u003cb\u003e\u0026c\u2028"}])");
}

// A fake agent: queries recorded, answered when the test says.
struct FakeAgent {
  struct Query {
    std::string method;
    pba::Call call;
    Watches::Callback done;
  };
  std::deque<Query> queries;
  Watches::Requester requester() {
    return [this](const std::string& method, const pba::Call& call, Watches::Callback done) {
      queries.push_back({method, call, std::move(done)});
    };
  }
  void Answer(uint64_t index, std::string body, absl::Status status = absl::OkStatus()) {
    ASSERT_FALSE(queries.empty());
    pba::Reply r;
    r.set_index(index);
    r.set_body(std::move(body));
    Query q = std::move(queries.front());
    queries.pop_front();
    q.done(status, r);
  }
};

struct Harness {
  Watches watches;
  HandlerQueue queue{Logger()};
  FakeAgent agent;
  Time now = kT0;
  std::vector<ProcessStart> started;

  explicit Harness(std::string_view json) : watches({Parse(json)}, kT0, Logger()) {}
  Effects Tick() {
    Effects out;
    watches.Tick(now, agent.requester(), queue, &out);
    for (ProcessStart& p : out.processes) started.push_back(p);
    return out;
  }
  // The running handler exits, a moment later.
  void FinishRun() {
    ASSERT_TRUE(queue.running());
    now += kWatchQueryIntervalMin;
    Effects out;
    ProcessExitedInput e;
    e.process_id = started.back().id;
    queue.HandleProcessExit(now, e, &out);
  }
  void Advance(Duration d) { now += d; }
};

TEST(Watches, RunsFirstThenOnlyOnChangeAwaitingEachRun) {
  Harness h(R"({"type":"nodes","handler":"h.sh"})");
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  EXPECT_EQ(h.agent.queries[0].method, "catalog.nodes");
  EXPECT_EQ(h.agent.queries[0].call.min_index(), 0u);  // none at first
  h.agent.Answer(10, R"([{"Node":"a"}])");
  EXPECT_TRUE(h.watches.wants_tick());
  h.Tick();
  ASSERT_EQ(h.started.size(), 1u);
  EXPECT_EQ(h.started[0].stdin_data, "[{\"Node\":\"a\"}]\n");
  EXPECT_EQ(h.started[0].env, (std::vector<std::pair<std::string, std::string>>{{"CONSUL_INDEX", "10"}}));
  EXPECT_EQ(h.started[0].command, "h.sh");
  // The run has not ended: no query yet.
  h.Advance(absl::Seconds(1));
  h.Tick();
  EXPECT_TRUE(h.agent.queries.empty());
  h.FinishRun();
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  EXPECT_EQ(h.agent.queries[0].call.min_index(), 10u);
  EXPECT_EQ(h.agent.queries[0].call.wait_ms(), 60000u);
  // The same index (the wait ran out): asked again, no run.
  h.agent.Answer(10, R"([{"Node":"a"}])");
  h.Tick();
  EXPECT_EQ(h.started.size(), 1u);
  h.Advance(kWatchQueryIntervalMin);
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  // A new index with an equal result: no run either.
  h.agent.Answer(11, R"([{"Node":"a"}])");
  h.Advance(kWatchQueryIntervalMin);
  h.Tick();
  EXPECT_EQ(h.started.size(), 1u);
  ASSERT_EQ(h.agent.queries.size(), 1u);
  EXPECT_EQ(h.agent.queries[0].call.min_index(), 11u);
  // A change: a run.
  h.agent.Answer(12, R"([{"Node":"a"},{"Node":"b"}])");
  h.Tick();
  ASSERT_EQ(h.started.size(), 2u);
  EXPECT_EQ(h.started[1].env[0].second, "12");
  EXPECT_EQ(h.watches.runs(), 2u);
}

TEST(Watches, ErrorsBackOffAndForgetTheIndex) {
  Harness h(R"({"type":"service","service":"web","handler":"h"})");
  h.Tick();
  h.agent.Answer(5, "[]");
  h.Tick();
  h.FinishRun();
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  h.agent.Answer(0, "", absl::UnavailableError("No cluster leader"));
  Effects out = h.Tick();
  EXPECT_TRUE(h.agent.queries.empty());
  ASSERT_TRUE(out.wake_at.has_value());
  EXPECT_EQ(*out.wake_at, h.now + absl::Seconds(5));  // 5 s x 1^2
  h.Advance(absl::Seconds(5));
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  EXPECT_EQ(h.agent.queries[0].call.min_index(), 0u);  // forgotten
  h.agent.Answer(0, "", absl::UnavailableError("No cluster leader"));
  out = h.Tick();
  EXPECT_EQ(*out.wake_at, h.now + absl::Seconds(20));  // 5 s x 2^2
  h.Advance(absl::Seconds(20));
  h.Tick();
  h.agent.Answer(5, "[]");  // back: with the index forgotten it is handed again, as Consul's plan
  h.Tick();
  EXPECT_EQ(h.started.size(), 2u);
}

TEST(Watches, AnIndexGoingBackwardsStartsOver) {
  Harness h(R"({"type":"services","handler":"h"})");
  h.Tick();
  h.agent.Answer(50, R"({"a":[]})");
  h.Tick();
  h.FinishRun();
  h.Tick();
  h.agent.Answer(20, R"({"b":[]})");  // a restored snapshot, a new cluster
  h.Tick();
  ASSERT_EQ(h.started.size(), 2u);
  h.FinishRun();
  h.Tick();
  ASSERT_EQ(h.agent.queries.size(), 1u);
  EXPECT_EQ(h.agent.queries[0].call.min_index(), 0u);
}

TEST(Watches, KeyNotFoundIsNullAndEventsRunPerNewEvent) {
  Harness key(R"({"type":"key","key":"k","handler":"h"})");
  key.Tick();
  key.agent.Answer(3, "", absl::NotFoundError(""));
  key.Tick();
  ASSERT_EQ(key.started.size(), 1u);
  EXPECT_EQ(key.started[0].stdin_data, "null\n");

  Harness ev(R"({"type":"event","name":"x","handler":"h"})");
  ev.Tick();
  EXPECT_EQ(ev.agent.queries[0].call.key(), "x");
  ev.agent.Answer(1, "[]");
  ev.Tick();
  ASSERT_EQ(ev.started.size(), 1u);  // the first time, as Consul: an empty list
  ev.FinishRun();
  ev.Tick();
  ev.agent.Answer(77, R"([{"ID":"e1"}])");
  ev.Tick();
  ASSERT_EQ(ev.started.size(), 2u);
  EXPECT_EQ(ev.started[1].stdin_data, "[{\"ID\":\"e1\"}]\n");
  ev.FinishRun();
  ev.Tick();
  ev.agent.Answer(78, R"([{"ID":"e1"},{"ID":"e2"}])");
  ev.Tick();
  ASSERT_EQ(ev.started.size(), 3u);
  EXPECT_EQ(ev.started[2].stdin_data, "[{\"ID\":\"e2\"}]\n");  // only the new one
}

TEST(Watches, HttpHandlersPostTheResult) {
  Harness h(R"({"type":"nodes","handler_type":"http","http_handler_config":{"path":"http://127.0.0.1:1/x","header":{"A":["b"]}}})");
  h.Tick();
  h.agent.Answer(9, "[]");
  h.Tick();
  ASSERT_EQ(h.started.size(), 1u);
  const ProcessStart& p = h.started[0];
  EXPECT_EQ(p.kind, ProcessStart::Kind::kHttp);
  EXPECT_EQ(p.method, "POST");
  EXPECT_EQ(p.body, "[]\n");
  EXPECT_EQ(p.timeout, kWatchHttpTimeoutDefault);
  std::map<std::string, std::string> headers(p.headers.begin(), p.headers.end());
  EXPECT_EQ(headers["X-Consul-Index"], "9");
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_EQ(headers["A"], "b");
}

// An endpoint that answers at once with nothing new cannot make the watch spin: its queries
// are kWatchQueryIntervalMin apart.
TEST(Watches, AnAnswerAtOnceIsNotASpin) {
  Harness h(R"({"type":"nodes","handler":"h"})");
  Watches::Requester instant = [](const std::string&, const pba::Call&, Watches::Callback done) {
    pba::Reply r;
    r.set_index(4);
    r.set_body("[]");
    done(absl::OkStatus(), r);
  };
  Effects out;
  h.watches.Tick(h.now, instant, h.queue, &out);
  for (int i = 0; i < 100; ++i) {
    out.processes.clear();
    h.watches.Tick(h.now, instant, h.queue, &out);
    if (h.queue.running()) {
      Effects e;
      ProcessExitedInput x;
      x.process_id = 1;
      h.queue.HandleProcessExit(h.now, x, &e);
    }
  }
  EXPECT_EQ(h.watches.queries(), 1u);  // the same instant: the next waits kWatchQueryIntervalMin
}

}  // namespace
}  // namespace muster::agent
