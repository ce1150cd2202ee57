// RemoteAliases over a LocalState, the agent's requests answered by the test: the node's
// checks give the alias's status by Consul's rule, each read carries the last index, a node
// without the service is looked up and critical, errors are retried with Consul's back-off
// and turn the alias critical from the second, a stale answer too far behind is read again
// from the leader, and a removed or re-pointed alias stops its read.
#include "core/agent/remote_alias.h"

#include <deque>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace muster::agent {
namespace {

namespace pba = ::muster::proto::agent;
using state::HealthStatus;

const Time kT0 = absl::FromUnixSeconds(2'000'000);

struct Request {
  std::string method;
  pba::Call call;
  RemoteAliases::Callback done;
};

// One LocalState (node n1) and its RemoteAliases, ticked like the agent does.
struct Harness {
  std::unique_ptr<LocalState> local;
  RemoteAliases aliases{Logger()};
  Time now = kT0;
  std::optional<Time> wake;
  std::deque<Request> requests;

  Harness() {
    LocalStateOptions o;
    o.node_name = "n1";
    local = std::make_unique<LocalState>(o, nullptr, 3, now, Logger());
  }
  void Tick() {
    Effects e;
    local->Tick(now, &e);
    aliases.Tick(
        now, *local,
        [this](const std::string& method, const pba::Call& call, RemoteAliases::Callback done) {
          requests.push_back(Request{method, call, std::move(done)});
        },
        &e);
    if (aliases.wants_tick()) e.WakeAt(now);
    wake = e.wake_at;
  }
  // Ticks at each wake-up until `until`.
  void RunUntil(Time until) {
    Tick();
    for (int guard = 0; guard < 10000 && wake.has_value() && *wake <= until; ++guard) {
      now = std::max(now, *wake);
      Tick();
    }
    now = until;
  }
  void AddAlias(const std::string& id, const std::string& node, const std::string& service) {
    CheckDefinition d;
    d.id = d.name = id;
    d.kind = CheckKind::kAlias;
    d.alias_node = node;
    d.alias_service = service;
    Effects e;
    ASSERT_TRUE(local->AddCheck(now, d, &e).ok());
    Tick();
  }
  Request Take() {
    EXPECT_FALSE(requests.empty());
    if (requests.empty()) return {};
    Request r = std::move(requests.front());
    requests.pop_front();
    return r;
  }
  // Answers the oldest request and ticks as the agent would.
  void Answer(absl::Status status, std::string body = "", uint64_t index = 0, uint64_t last_contact_ms = 0) {
    Request r = Take();
    pba::Reply reply;
    reply.set_body(std::move(body));
    reply.set_index(index);
    reply.set_last_contact_ms(last_contact_ms);
    if (r.done) r.done(status, reply);
    Tick();
  }
  const CheckState& State(const std::string& id) const { return local->checks().at(id).state; }
};

std::string CheckJson(const std::string& node, const std::string& id, const std::string& status,
                      const std::string& service = "", const std::string& output = "") {
  return absl::StrCat(R"({"Node": ")", node, R"(", "CheckID": ")", id, R"(", "Name": ")", id, R"(", "Status": ")", status,
                      R"(", "Output": ")", output, R"(", "ServiceID": ")", service, R"("})");
}

std::string NodeChecks(const std::string& web_status, const std::string& output = "") {
  return absl::StrCat("[", CheckJson("n2", "serfHealth", "passing"), ",",
                      CheckJson("n2", "service:web", web_status, "web", output), ",",
                      CheckJson("n2", "service:db", "critical", "db"), "]");
}

TEST(RemoteAlias, FollowsTheAliasedServicesChecksWithTheIndexCarried) {
  Harness h;
  h.AddAlias("a", "n2", "web");
  EXPECT_EQ(h.aliases.size(), 1u);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);  // Consul's initial status until the answer
  const Request first = h.requests.front();
  EXPECT_EQ(first.method, "health.node");
  EXPECT_EQ(first.call.key(), "n2");
  EXPECT_EQ(first.call.consistency(), "stale");  // Consul: AllowStale
  EXPECT_EQ(first.call.min_index(), 0u);

  uint64_t changes = h.local->changes();
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 10);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  EXPECT_EQ(h.State("a").output(), "All checks passing.");  // db's critical check is another service's
  EXPECT_GT(h.local->changes(), changes);                    // a status change: a partial sync
  EXPECT_FALSE(h.local->checks().at("a").in_sync);
  // The next read blocks on the index (after the minimum interval).
  EXPECT_TRUE(h.requests.empty());
  h.RunUntil(h.now + kRemoteAliasQueryIntervalMin);
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().call.min_index(), 10u);
  EXPECT_EQ(h.requests.front().call.wait_ms(), 60000u);

  h.Answer(absl::OkStatus(), NodeChecks("warning", "slow"), 12);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kWarning);
  EXPECT_EQ(h.State("a").output(), "Aliased check \"service:web\" failing: slow");
  h.RunUntil(h.now + absl::Seconds(1));
  EXPECT_EQ(h.requests.front().call.min_index(), 12u);
  h.Answer(absl::OkStatus(), NodeChecks("critical", "down"), 13);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);
  EXPECT_EQ(h.State("a").output(), "Aliased check \"service:web\" failing: down");
  // A node check counts: serfHealth critical makes the alias critical however the service is.
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::OkStatus(),
           absl::StrCat("[", CheckJson("n2", "serfHealth", "critical", "", "Agent not live or unreachable"), ",",
                        CheckJson("n2", "service:web", "passing", "web"), "]"),
           14);
  EXPECT_EQ(h.State("a").output(), "Aliased check \"serfHealth\" failing: Agent not live or unreachable");
  // An index that comes back as 0 is carried as 1, so the next read still blocks.
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 0);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  h.RunUntil(h.now + absl::Seconds(1));
  EXPECT_EQ(h.requests.front().call.min_index(), 1u);
}

TEST(RemoteAlias, AServiceMissingFromTheNodeIsLookedUpAndCritical) {
  Harness h;
  h.AddAlias("a", "n2", "web");
  // Only the node's own check: whether the node has the service decides.
  h.Answer(absl::OkStatus(), absl::StrCat("[", CheckJson("n2", "serfHealth", "passing"), "]"), 20);
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().method, "catalog.node");
  EXPECT_EQ(h.requests.front().call.key(), "n2");
  h.Answer(absl::OkStatus(), R"({"Node": {"Node": "n2"}, "Services": {"db": {"ID": "db", "Service": "db"}}})", 20);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);
  EXPECT_EQ(h.State("a").output(), "Service web could not be found on node n2");
  // Registered without checks: passing by the node's checks.
  h.RunUntil(h.now + absl::Seconds(1));
  EXPECT_EQ(h.requests.front().call.min_index(), 20u);
  h.Answer(absl::OkStatus(), absl::StrCat("[", CheckJson("n2", "serfHealth", "passing"), "]"), 21);
  h.Answer(absl::OkStatus(), R"({"Node": {"Node": "n2"}, "Services": {"web": {"ID": "web", "Service": "web"}}})", 21);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  EXPECT_EQ(h.State("a").output(), "All checks passing.");
  // A node the catalog does not know: no checks, null services.
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::OkStatus(), "[]", 22);
  h.Answer(absl::OkStatus(), "null", 22);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);
  EXPECT_EQ(h.State("a").output(), "Service web could not be found on node n2");
  // The lookup failing: again after 1, 2 and 3 s, then the service is taken as there.
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::OkStatus(), absl::StrCat("[", CheckJson("n2", "serfHealth", "passing"), "]"), 23);
  for (int retry = 1; retry <= kRemoteAliasLookupRetriesMax; ++retry) {
    h.Answer(absl::UnavailableError("No known Consul servers"));
    EXPECT_TRUE(h.requests.empty());
    h.RunUntil(h.now + absl::Seconds(retry) - absl::Milliseconds(1));
    EXPECT_TRUE(h.requests.empty()) << retry;
    h.RunUntil(h.now + absl::Milliseconds(1));
    ASSERT_EQ(h.requests.size(), 1u) << retry;
    EXPECT_EQ(h.requests.front().method, "catalog.node");
  }
  h.Answer(absl::UnavailableError("No known Consul servers"));
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  EXPECT_EQ(h.State("a").output(), "All checks passing.");

  // AliasService empty: the node's own checks; a node with none is critical as in Consul.
  h.RunUntil(h.now + absl::Seconds(1));
  h.requests.clear();  // a's next read, left out
  h.AddAlias("node", "n3", "");
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().call.key(), "n3");
  h.Answer(absl::OkStatus(),
           absl::StrCat("[", CheckJson("n3", "serfHealth", "warning", "", "flaky"), ",",
                        CheckJson("n3", "service:web", "critical", "web"), "]"),
           5);
  EXPECT_EQ(h.State("node").status(), HealthStatus::kWarning);  // a service's check does not count
  EXPECT_EQ(h.State("node").output(), "Aliased check \"serfHealth\" failing: flaky");
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::OkStatus(), "[]", 6);
  h.Answer(absl::OkStatus(), "null", 6);
  EXPECT_EQ(h.State("node").status(), HealthStatus::kCritical);
  EXPECT_EQ(h.State("node").output(), "Service  could not be found on node n3");
}

TEST(RemoteAlias, ErrorsBackOffAsConsulsAndTurnTheAliasCriticalFromTheSecond) {
  Harness h;
  h.AddAlias("a", "n2", "web");
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 7);
  ASSERT_EQ(h.State("a").status(), HealthStatus::kPassing);
  h.RunUntil(h.now + absl::Seconds(1));  // the next read went 100 ms after the answer
  // The first failure passes (a server changing); the second makes the alias critical. The
  // first three in a row are tried again at once (the last read went out long enough ago).
  h.Answer(absl::UnavailableError("rpc error: timeout waiting for the server's answer"));
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().call.min_index(), 7u);  // an error keeps the index, as Consul's
  h.Answer(absl::UnavailableError("No cluster leader"));
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);
  EXPECT_EQ(h.State("a").output(), "Failure checking aliased node or service: No cluster leader");
  // Answered at once, the third waits out the minimum interval from when it went.
  EXPECT_TRUE(h.requests.empty());
  h.RunUntil(h.now + kRemoteAliasQueryIntervalMin);
  ASSERT_EQ(h.requests.size(), 1u);
  h.Answer(absl::UnavailableError("No cluster leader"));
  h.RunUntil(h.now + kRemoteAliasQueryIntervalMin);
  ASSERT_EQ(h.requests.size(), 1u);
  // From the fourth: 2 s, 4 s, ... at most 60 s.
  h.Answer(absl::UnavailableError("No cluster leader"));
  const Duration waits[] = {absl::Seconds(2), absl::Seconds(4), absl::Seconds(8), absl::Seconds(16),
                            absl::Seconds(32), absl::Seconds(60), absl::Seconds(60)};
  for (Duration wait : waits) {
    h.RunUntil(h.now + wait - absl::Milliseconds(1));
    EXPECT_TRUE(h.requests.empty()) << absl::FormatDuration(wait);
    h.RunUntil(h.now + absl::Milliseconds(1));
    ASSERT_EQ(h.requests.size(), 1u) << absl::FormatDuration(wait);
    h.Answer(absl::UnavailableError("No cluster leader"));
  }
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);
  // A success resets the back-off.
  h.RunUntil(h.now + absl::Seconds(60));
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 9);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  h.RunUntil(h.now + absl::Seconds(1));
  h.Answer(absl::UnavailableError("x"));
  EXPECT_EQ(h.requests.size(), 1u);  // at once again
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
}

TEST(RemoteAlias, AStaleAnswerTooFarBehindIsReadAgainFromTheLeader) {
  Harness h;
  h.AddAlias("a", "n2", "web");
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 30, /*last_contact_ms=*/20000);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kCritical);  // not taken
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().call.consistency(), "");  // to the leader
  h.Answer(absl::OkStatus(), NodeChecks("passing"), 31);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kPassing);
  h.RunUntil(h.now + absl::Seconds(1));
  EXPECT_EQ(h.requests.front().call.consistency(), "stale");  // and stale again after
  // Within the bound a stale answer is taken.
  h.Answer(absl::OkStatus(), NodeChecks("warning"), 32, /*last_contact_ms=*/14000);
  EXPECT_EQ(h.State("a").status(), HealthStatus::kWarning);
}

TEST(RemoteAlias, ARemovedOrRepointedAliasStopsItsRead) {
  Harness h;
  h.AddAlias("a", "n2", "web");
  ASSERT_EQ(h.requests.size(), 1u);
  Request out = h.Take();
  Effects e;
  h.local->RemoveCheck(h.now, "a", &e);
  h.Tick();
  EXPECT_EQ(h.aliases.size(), 0u);
  pba::Reply reply;
  reply.set_body(NodeChecks("passing"));
  out.done(absl::OkStatus(), reply);  // the answer of the stopped read: nothing to do
  EXPECT_FALSE(h.aliases.wants_tick());
  h.RunUntil(h.now + absl::Minutes(5));
  EXPECT_TRUE(h.requests.empty());

  // Registered again aliasing another node: the old read's answer is dropped, a new one goes.
  h.AddAlias("b", "n2", "web");
  Request old = h.Take();
  h.AddAlias("b", "n3", "web");
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests.front().call.key(), "n3");
  old.done(absl::OkStatus(), reply);
  EXPECT_FALSE(h.aliases.wants_tick());
  h.Answer(absl::OkStatus(), absl::StrCat("[", CheckJson("n3", "service:web", "warning", "web", "n3's"), "]"), 3);
  EXPECT_EQ(h.State("b").status(), HealthStatus::kWarning);
  EXPECT_EQ(h.State("b").output(), "Aliased check \"service:web\" failing: n3's");
  // Registered again aliasing the same: the read goes on (no second one).
  h.RunUntil(h.now + absl::Seconds(1));
  ASSERT_EQ(h.requests.size(), 1u);
  h.AddAlias("b", "n3", "web");
  EXPECT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.aliases.size(), 1u);
}

TEST(RemoteAlias, AConfiguredAliasReadsFromTheStart) {
  LocalStateOptions o;
  o.node_name = "n1";
  o.config_checks = {R"({"Name": "far", "ID": "far", "AliasNode": "n2", "AliasService": "web"})"};
  LocalState local(o, nullptr, 3, kT0, Logger());
  RemoteAliases aliases{Logger()};
  std::vector<std::string> asked;
  Effects e;
  aliases.Tick(kT0, local,
               [&](const std::string& method, const pba::Call& call, RemoteAliases::Callback) {
                 asked.push_back(absl::StrCat(method, " ", call.key()));
               },
               &e);
  EXPECT_EQ(asked, std::vector<std::string>{"health.node n2"});
}

TEST(RemoteAlias, AnAgentHoldsAtMostTheBoundOfRemoteAliases) {
  Harness h;
  for (size_t i = 0; i < kRemoteAliasesMax; ++i) {
    CheckDefinition d;
    d.id = d.name = absl::StrCat("alias", i);
    d.kind = CheckKind::kAlias;
    d.alias_node = "n2";
    Effects e;
    ASSERT_TRUE(h.local->AddCheck(h.now, d, &e).ok());
  }
  CheckDefinition d;
  d.id = d.name = "one-more";
  d.kind = CheckKind::kAlias;
  d.alias_node = "n2";
  Effects e;
  EXPECT_EQ(h.local->AddCheck(h.now, d, &e).status().code(), absl::StatusCode::kResourceExhausted);
  d.alias_node = "n1";  // a local alias is not one of them
  EXPECT_TRUE(h.local->AddCheck(h.now, d, &e).ok());
  d.id = "alias0";  // nor is one registered again
  d.alias_node = "n2";
  EXPECT_TRUE(h.local->AddCheck(h.now, d, &e).ok());
  h.Tick();
  EXPECT_EQ(h.aliases.size(), kRemoteAliasesMax);
  EXPECT_EQ(h.requests.size(), kRemoteAliasesMax);
}

}  // namespace
}  // namespace muster::agent
