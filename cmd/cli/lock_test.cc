// lock against a fake agent that models the KV store's acquire/release/check-and-set, sessions
// (TTL renewals, destroy with release or delete behaviour) and blocking reads (which move the
// fake clock by their wait), with scripted children: the lock and the semaphore taken, waited
// for, lost, timed out, given back and cleaned up, as Consul's api.Lock and api.Semaphore.
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cmd/cli/cli_test_fixture.h"
#include "cmd/cli/json_fields.h"
#include "core/base/go_duration.h"

namespace muster::cli {
namespace {

constexpr char kLockFlags[] = "3304740253564472344";       // 0x2ddccbc058a50c18
constexpr char kSemaphoreFlags[] = "16210313421097356768";  // 0xe0f69a2baa414de0

class FakeKvServer : public HttpTransport {
 public:
  struct Entry {
    std::string value;
    uint64_t flags = 0;
    std::string session;
    uint64_t create_index = 0;
    uint64_t modify_index = 0;
    uint64_t lock_index = 0;
  };

  explicit FakeKvServer(absl::Time* now) : now_(now) {}

  void Put(const std::string& key, const std::string& value, uint64_t flags, const std::string& session = "") {
    Entry& e = kv[key];
    e.value = value;
    e.flags = flags;
    e.session = session;
    e.modify_index = ++index;
    if (e.create_index == 0) e.create_index = e.modify_index;
  }
  void DestroySession(const std::string& id) {
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    const bool delete_keys = it->second;
    sessions.erase(it);
    for (auto e = kv.begin(); e != kv.end();) {
      if (e->second.session != id) {
        ++e;
        continue;
      }
      if (delete_keys) {
        e = kv.erase(e);
      } else {
        e->second.session.clear();
        e->second.modify_index = ++index;
        ++e;
      }
      ++index;
    }
  }
  std::vector<std::string> Targets(const std::string& method) const {
    std::vector<std::string> out;
    for (const HttpRequest& r : requests) {
      if (r.method == method) out.push_back(r.target);
    }
    return out;
  }

  absl::StatusOr<HttpResponse> RoundTrip(const HttpAddress& to, const HttpRequest& request) override {
    requests.push_back(request);
    if (intercept) {
      if (std::optional<HttpResponse> r = intercept(request)) return *r;
    }
    const size_t q = request.target.find('?');
    const std::string path = request.target.substr(0, q);
    std::map<std::string, std::string> params;
    if (q != std::string::npos) {
      for (absl::string_view part : absl::StrSplit(request.target.substr(q + 1), '&')) {
        std::pair<std::string, std::string> kv_pair = absl::StrSplit(part, absl::MaxSplits('=', 1));
        params[kv_pair.first] = kv_pair.second;
      }
    }
    if (path == "/v1/agent/self") return Json200(R"({"Config":{"NodeName":"n1"}})");
    if (path == "/v1/session/create") {
      const std::string id = absl::StrCat("sess-", next_session++);
      sessions[id] = request.body.find("\"Behavior\":\"delete\"") != std::string::npos;
      session_bodies.push_back(request.body);
      return Json200(absl::StrCat(R"({"ID":")", id, R"("})"));
    }
    if (absl::StartsWith(path, "/v1/session/renew/")) {
      const std::string id = path.substr(18);
      if (!sessions.count(id)) return HttpResponse{404, absl::StrCat("Session id '", id, "' not found"), {}};
      return Json200(absl::StrCat(R"([{"ID":")", id, R"(","TTL":")", renew_ttl, R"("}])"));
    }
    if (absl::StartsWith(path, "/v1/session/destroy/")) {
      DestroySession(path.substr(20));
      return Json200("true");
    }
    if (!absl::StartsWith(path, "/v1/kv/")) return HttpResponse{404, "", {}};
    const std::string key = path.substr(7);
    if (request.method == "GET") return Get(key, params);
    if (request.method == "DELETE") {
      auto it = kv.find(key);
      if (params.count("cas")) {
        uint64_t cas = 0;
        absl::SimpleAtoi(params["cas"], &cas);
        if (it == kv.end() || it->second.modify_index != cas) return Json200("false");
      }
      if (it != kv.end()) kv.erase(it);
      ++index;
      return Json200("true");
    }
    uint64_t flags = 0;
    if (params.count("flags")) absl::SimpleAtoi(params["flags"], &flags);
    auto it = kv.find(key);
    if (params.count("acquire")) {
      const std::string& s = params["acquire"];
      if (!sessions.count(s)) return HttpResponse{500, absl::StrCat("invalid session \"", s, "\""), {}};
      if (it != kv.end() && !it->second.session.empty() && it->second.session != s) return Json200("false");
      const bool was_ours = it != kv.end() && it->second.session == s;
      Put(key, request.body, flags, s);
      if (!was_ours) ++kv[key].lock_index;
      return Json200("true");
    }
    if (params.count("release")) {
      if (it == kv.end() || it->second.session != params["release"]) return Json200("false");
      Put(key, request.body, flags, "");
      return Json200("true");
    }
    if (params.count("cas")) {
      uint64_t cas = 0;
      absl::SimpleAtoi(params["cas"], &cas);
      if (cas == 0 ? it != kv.end() : (it == kv.end() || it->second.modify_index != cas)) return Json200("false");
    }
    Put(key, request.body, flags, it != kv.end() ? it->second.session : "");
    return Json200("true");
  }

  std::map<std::string, Entry> kv;
  std::map<std::string, bool> sessions;  // id -> deletes its keys when destroyed
  std::vector<std::string> session_bodies;
  std::vector<HttpRequest> requests;
  uint64_t index = 1;
  std::string renew_ttl = "15s";
  // Called each time a blocking read waits out its wait (after the clock moved).
  std::function<void()> on_block;
  // A canned answer for a request, before the model sees it.
  std::function<std::optional<HttpResponse>(const HttpRequest&)> intercept;

 private:
  static HttpResponse Json200(std::string body) { return HttpResponse{200, std::move(body), {}}; }

  std::pair<uint64_t, std::string> Listing(const std::string& key, bool recurse) const {
    uint64_t listing_index = 0;
    std::string body = "[";
    for (const auto& [k, e] : kv) {
      if (recurse ? !absl::StartsWith(k, key) : k != key) continue;
      listing_index = std::max(listing_index, e.modify_index);
      if (body.size() > 1) body += ",";
      absl::StrAppend(&body, R"({"Key":")", k, R"(","Flags":)", e.flags, R"(,"Value":)",
                      e.value.empty() ? "null" : absl::StrCat("\"", absl::Base64Escape(e.value), "\""),
                      e.session.empty() ? "" : absl::StrCat(R"(,"Session":")", e.session, "\""),
                      R"(,"CreateIndex":)", e.create_index, R"(,"ModifyIndex":)", e.modify_index,
                      R"(,"LockIndex":)", e.lock_index, "}");
    }
    body += "]";
    if (listing_index == 0) return {index, ""};
    return {listing_index, body};
  }

  HttpResponse Get(const std::string& key, std::map<std::string, std::string>& params) {
    const bool recurse = params.count("recurse") > 0;
    auto [listing_index, body] = Listing(key, recurse);
    uint64_t wait_index = 0;
    if (params.count("index") && absl::SimpleAtoi(params["index"], &wait_index) && wait_index >= listing_index) {
      absl::StatusOr<absl::Duration> wait = ParseGoDuration(params["wait"]);
      *now_ += wait.ok() ? *wait : absl::Minutes(5);
      if (on_block) on_block();
      std::tie(listing_index, body) = Listing(key, recurse);
    }
    return HttpResponse{body.empty() ? 404 : 200, body, {{"X-Consul-Index", absl::StrCat(listing_index)}}};
  }

  absl::Time* now_;
  int next_session = 1;
};

class LockTest : public CliTest {
 protected:
  LockTest() : server_(&now_) { env_.transport = &server_; }
  FakeKvServer server_;
};

TEST_F(LockTest, HoldsTheLockWhileTheChildRunsThenCleansUp) {
  child_scripts_ = {FakeChildScript{3, ChildExit{0, 0}}};
  bool held_while_running = false;
  on_sleep_ = [&]() {
    auto it = server_.kv.find("app/.lock");
    held_while_running |= it != server_.kv.end() && it->second.session == "sess-1";
  };
  EXPECT_EQ(Cli({"lock", "-verbose", "/app", "echo", "hi"}), 0);
  EXPECT_TRUE(held_while_running);
  EXPECT_EQ(Out(),
            "Setting up lock at path: app/.lock\nAttempting lock acquisition\nStarting handler\n"
            "Child terminated, releasing lock\nCleanup succeeded\n");
  EXPECT_EQ(Err(), "");
  EXPECT_TRUE(interrupts_caught_);
  EXPECT_EQ(server_.session_bodies, std::vector<std::string>{R"({"Name":"muster lock for 'echo hi' at 'app'","TTL":"15s"})"});
  EXPECT_EQ(server_.Targets("PUT"), (std::vector<std::string>{
                                        "/v1/session/create",
                                        absl::StrCat("/v1/kv/app/.lock?acquire=sess-1&flags=", kLockFlags),
                                        absl::StrCat("/v1/kv/app/.lock?flags=", kLockFlags, "&release=sess-1"),
                                        "/v1/session/destroy/sess-1",
                                    }));
  ASSERT_EQ(children_.size(), 1u);
  EXPECT_EQ(children_[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(children_[0].extra_env, (std::vector<std::pair<std::string, std::string>>{{"CONSUL_LOCK_HELD", "true"}}));
  EXPECT_FALSE(children_[0].inherit_stdin);
  EXPECT_FALSE(children_[0].stdin_data.has_value());
  EXPECT_TRUE(server_.kv.empty());  // released, then deleted by check-and-set
  EXPECT_TRUE(server_.sessions.empty());
}

TEST_F(LockTest, RootPrefixLocksDotLock) {
  child_scripts_ = {FakeChildScript{0, ChildExit{0, 0}}};
  EXPECT_EQ(Cli({"lock", "-verbose", "/", "true"}), 0);
  EXPECT_NE(Out().find("Setting up lock at path: .lock\n"), std::string::npos);
  EXPECT_EQ(server_.Targets("PUT")[1], absl::StrCat("/v1/kv/.lock?acquire=sess-1&flags=", kLockFlags));
}

TEST_F(LockTest, ChildFailureExitsZeroUnlessChildExitCodeIsAsked) {
  child_scripts_ = {FakeChildScript{0, ChildExit{3, 0}}, FakeChildScript{0, ChildExit{3, 0}}};
  EXPECT_EQ(Cli({"lock", "app", "false"}), 0);
  EXPECT_EQ(Err(), "Error running handler: exit status 3\n");
  EXPECT_EQ(Cli({"lock", "-child-exit-code", "-pass-stdin", "-shell=false", "app", "false", "x"}), 2);
  EXPECT_EQ(children_[0].argv, (std::vector<std::string>{"false", "x"}));
  EXPECT_TRUE(children_[0].inherit_stdin);
  child_start_error_ = absl::UnavailableError("fork/exec nope: No such file or directory");
  EXPECT_EQ(Cli({"lock", "-child-exit-code", "app", "nope"}), 2);
  EXPECT_EQ(Err(), "Error starting handler: fork/exec nope: No such file or directory\n");
  EXPECT_TRUE(server_.kv.empty());
}

TEST_F(LockTest, WaitsForTheHolderWithBlockingReadsAndKeepsRenewing) {
  server_.sessions["other"] = false;
  server_.Put("app/.lock", "", 0x2ddccbc058a50c18, "other");
  int blocks = 0;
  server_.on_block = [&]() {
    if (++blocks == 3) server_.DestroySession("other");  // the holder goes after three waits
  };
  child_scripts_ = {FakeChildScript{0, ChildExit{0, 0}}};
  EXPECT_EQ(Cli({"lock", "app", "true"}), 0);
  const std::vector<std::string> gets = server_.Targets("GET");
  ASSERT_GE(gets.size(), 4u);
  EXPECT_EQ(gets[1], "/v1/kv/app/.lock");
  // Each wait is cut to the next renewal (TTL/2 = 7.5s); the renewal happens between reads.
  EXPECT_EQ(gets[2], "/v1/kv/app/.lock?index=2&wait=7500ms");
  EXPECT_EQ(gets[3], "/v1/kv/app/.lock?index=2&wait=7500ms");
  const std::vector<std::string> puts = server_.Targets("PUT");
  EXPECT_EQ(std::count(puts.begin(), puts.end(), "/v1/session/renew/sess-1"), 2);  // at 7.5s and 15s
  EXPECT_EQ(children_.size(), 1u);
  EXPECT_TRUE(server_.kv.empty());
}

// An acquire refused with nobody holding the lock is a lock-delay (after a holder's session was
// invalidated): no change will wake a blocking read, so it retries after 5s, as Consul.
TEST_F(LockTest, LockDelayRetriesAfterAPause) {
  int refusals = 0;
  server_.intercept = [&](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.method == "PUT" && absl::StartsWith(r.target, "/v1/kv/app/.lock?acquire=") && refusals < 2) {
      ++refusals;
      return HttpResponse{200, "false", {}};
    }
    return std::nullopt;
  };
  child_scripts_ = {FakeChildScript{0, ChildExit{0, 0}}};
  EXPECT_EQ(Cli({"lock", "app", "true"}), 0);
  EXPECT_EQ(refusals, 2);
  ASSERT_GE(sleeps_.size(), 2u);
  EXPECT_EQ(sleeps_[0], absl::Seconds(5));
  EXPECT_EQ(sleeps_[1], absl::Seconds(5));
  EXPECT_EQ(children_.size(), 1u);
  // The two pauses (10s) passed the renewal due at 7.5s: renewed once, before the third try.
  const std::vector<std::string> puts = server_.Targets("PUT");
  EXPECT_EQ(std::count(puts.begin(), puts.end(), "/v1/session/renew/sess-1"), 1);
}

// An interrupt while waiting (the blocking read cut short, as the real transport does on a
// caught Ctrl-C) gives up the wait, destroys the session, exit 1.
TEST_F(LockTest, InterruptWhileWaiting) {
  server_.sessions["other"] = false;
  server_.Put("app/.lock", "", 0x2ddccbc058a50c18, "other");
  server_.intercept = [&](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (absl::StrContains(r.target, "index=")) {
      interrupted_ = true;
      return HttpResponse{0, "", {}};  // stands for the cancelled read
    }
    return std::nullopt;
  };
  EXPECT_EQ(Cli({"lock", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Shutdown triggered or timeout during lock acquisition\n");
  EXPECT_TRUE(children_.empty());
  EXPECT_EQ(server_.sessions.size(), 1u);
}

TEST_F(LockTest, TimeoutGivesUpAndDestroysTheSession) {
  server_.sessions["other"] = false;
  server_.Put("app/.lock", "", 0x2ddccbc058a50c18, "other");
  EXPECT_EQ(Cli({"lock", "-timeout=10s", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Shutdown triggered or timeout during lock acquisition\n");
  EXPECT_TRUE(children_.empty());
  EXPECT_EQ(server_.sessions.size(), 1u);  // only the other's: ours destroyed
  const std::vector<std::string> gets = server_.Targets("GET");
  EXPECT_EQ(gets.back(), "/v1/kv/app/.lock?index=2&wait=2500ms");  // the rest of the 10s
}

TEST_F(LockTest, LostLockTerminatesTheChild) {
  child_scripts_ = {FakeChildScript{-1, ChildExit{}}};  // runs until signalled
  on_sleep_ = [&]() {
    if (now_ > absl::FromUnixSeconds(1700000000) + absl::Seconds(3)) server_.DestroySession("sess-1");
  };
  EXPECT_EQ(Cli({"lock", "-verbose", "app", "sleep", "100"}), 0);
  EXPECT_NE(Out().find("Starting handler\nLock lost, killing child\nTerminating child pid 4242\nChild terminated\n"),
            std::string::npos);
  EXPECT_EQ(child_signals_, std::vector<int>{SIGTERM});
  // Read back every second, consistently.
  const std::vector<std::string> gets = server_.Targets("GET");
  EXPECT_NE(std::find(gets.begin(), gets.end(), "/v1/kv/app/.lock?consistent="), gets.end());
}

TEST_F(LockTest, ChildIgnoringSigtermIsKilledAfterTheGracePeriod) {
  child_scripts_ = {FakeChildScript{-1, ChildExit{}, /*exits_on_signal=*/false}};
  interrupted_ = false;
  on_sleep_ = [&]() {
    if (!children_.empty() && now_ > absl::FromUnixSeconds(1700000000) + absl::Seconds(1)) interrupted_ = true;
  };
  EXPECT_EQ(Cli({"lock", "-verbose", "app", "trap '' TERM; sleep 100"}), 0);
  EXPECT_EQ(child_signals_, (std::vector<int>{SIGTERM, SIGKILL}));
  EXPECT_NE(Out().find("Shutdown triggered, killing child\nTerminating child pid 4242\n"
                       "Child did not exit after grace period of 5s\nKilling child pid 4242\n"),
            std::string::npos);
  EXPECT_TRUE(server_.kv.empty());
}

TEST_F(LockTest, MonitorRidesOutServerErrors) {
  child_scripts_ = {FakeChildScript{200, ChildExit{0, 0}}};  // 10s of polls
  int failures = 0;
  server_.intercept = [&](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.target == "/v1/kv/app/.lock?consistent=" && failures < 3) {
      ++failures;
      return HttpResponse{500, "No cluster leader", {}};
    }
    return std::nullopt;
  };
  EXPECT_EQ(Cli({"lock", "-verbose", "app", "true"}), 0);
  EXPECT_EQ(failures, 3);
  EXPECT_NE(Out().find("Child terminated, releasing lock"), std::string::npos);  // never lost
  // With no retries the first failure loses it.
  failures = 0;
  child_scripts_ = {FakeChildScript{-1, ChildExit{}}};
  EXPECT_EQ(Cli({"lock", "-verbose", "-monitor-retry=0", "app", "true"}), 0);
  EXPECT_NE(Out().find("Lock lost, killing child"), std::string::npos);
}

TEST_F(LockTest, ConflictsAndBadArguments) {
  server_.Put("app/.lock", "x", 0);
  EXPECT_EQ(Cli({"lock", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Lock acquisition failed: Existing key does not match lock use\n");
  EXPECT_EQ(Cli({"lock", "-n=2", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Lock acquisition failed: Existing key does not match semaphore use\n");
  EXPECT_TRUE(server_.sessions.empty());
  EXPECT_EQ(Cli({"lock", "app"}), 1);
  EXPECT_EQ(Err(), "Key prefix and child command must be specified\n");
  EXPECT_EQ(Cli({"lock", "-n=0", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Lock holder limit must be positive\n");
  EXPECT_EQ(Cli({"lock", "-n=3", "/", "true"}), 1);
  EXPECT_EQ(Err(), "Lock setup failed: missing prefix\n");
  EXPECT_EQ(Cli({"lock", "-timeout=-1s", "app", "true"}), 1);
  EXPECT_EQ(Err(), "Timeout must be positive\n");
  // A long child command: the generated session name is cut (the agent takes at most 256 bytes).
  child_scripts_ = {FakeChildScript{0, ChildExit{0, 0}}};
  server_.kv.clear();
  EXPECT_EQ(Cli({"lock", "long", std::string(300, 'x')}), 0);
  EXPECT_EQ(server_.session_bodies.back(),
            absl::StrCat(R"({"Name":"muster lock for ')", std::string(197 - 17, 'x'), R"(...","TTL":"15s"})"));
}

TEST_F(LockTest, SemaphoreTakesASlotBesideAnotherHolder) {
  server_.sessions["other"] = true;
  server_.Put("jobs/other", "", 0xe0f69a2baa414de0, "other");
  server_.Put("jobs/.lock", R"({"Limit":2,"Holders":{"other":true,"dead":true}})", 0xe0f69a2baa414de0);
  std::string lock_value_while_held;
  on_sleep_ = [&]() {
    if (lock_value_while_held.empty() && server_.kv.count("jobs/.lock")) lock_value_while_held = server_.kv["jobs/.lock"].value;
  };
  child_scripts_ = {FakeChildScript{2, ChildExit{0, 0}}};
  EXPECT_EQ(Cli({"lock", "-n=2", "-verbose", "jobs", "run"}), 0);
  // The dead holder pruned, ours added, keys sorted as Go's json.Marshal writes a map.
  EXPECT_EQ(lock_value_while_held, R"({"Limit":2,"Holders":{"other":true,"sess-1":true}})");
  EXPECT_EQ(server_.session_bodies[0], R"({"Name":"muster lock for 'run' at 'jobs'","Behavior":"delete","TTL":"15s"})");
  EXPECT_NE(Out().find("Setting up semaphore (limit 2) at prefix: jobs\n"), std::string::npos);
  EXPECT_NE(Out().find("Cleanup aborted, lock in use\n"), std::string::npos);  // the other still holds a slot
  EXPECT_EQ(server_.kv["jobs/.lock"].value, R"({"Limit":2,"Holders":{"other":true}})");
  EXPECT_FALSE(server_.kv.count("jobs/sess-1"));
  const std::vector<std::string> puts = server_.Targets("PUT");
  EXPECT_EQ(puts[1], absl::StrCat("/v1/kv/jobs/sess-1?acquire=sess-1&flags=", kSemaphoreFlags));
  EXPECT_EQ(puts[2], absl::StrCat("/v1/kv/jobs/.lock?cas=3&flags=", kSemaphoreFlags));
}

TEST_F(LockTest, SemaphoreFullWaitsAndLimitsMustAgree) {
  server_.sessions["a"] = true;
  server_.Put("jobs/a", "", 0xe0f69a2baa414de0, "a");
  server_.Put("jobs/.lock", R"({"Limit":1,"Holders":{"a":true}})", 0xe0f69a2baa414de0);
  EXPECT_EQ(Cli({"lock", "-n=2", "jobs", "run"}), 1);
  EXPECT_EQ(Err(), "Lock acquisition failed: semaphore limit conflict (lock: 1, local: 2)\n");
  server_.Put("jobs/.lock", R"({"Limit":2,"Holders":{"a":true}})", 0xe0f69a2baa414de0);
  server_.sessions["b"] = true;
  server_.Put("jobs/b", "", 0xe0f69a2baa414de0, "b");
  server_.Put("jobs/.lock", R"({"Limit":2,"Holders":{"a":true,"b":true}})", 0xe0f69a2baa414de0);
  server_.on_block = [&]() { server_.DestroySession("a"); };  // a slot frees while we wait
  child_scripts_ = {FakeChildScript{0, ChildExit{0, 0}}};
  EXPECT_EQ(Cli({"lock", "-n=2", "jobs", "run"}), 0);
  EXPECT_EQ(children_.size(), 1u);
  const std::vector<std::string> gets = server_.Targets("GET");
  // Full: a blocking read of the prefix from its index (our contender key's write, 9).
  EXPECT_NE(std::find(gets.begin(), gets.end(), "/v1/kv/jobs?index=9&recurse=&wait=7500ms"), gets.end())
      << absl::StrJoin(gets, "\n");
}

}  // namespace
}  // namespace muster::cli
