// A client agent's service and HTTP check under the simulator (three servers, one client, the
// probes' results decided by the test): the catalog shows the check's status within an
// interval and a sync, follows it when the probe fails and passes again while the leader is
// crashed, and a client crashed and restarted still has its service and check without
// registering again. Then (ClientsConverge) three servers and three clients through server
// crashes, server partitions and clients cut from the servers, over many seeds: after healing,
// every client is in every server's catalog as it is. The bounds measured are printed.
// LOCAL_SYNC_LOG=1 prints the agents' logs of ClientsConverge; LOCAL_SYNC_SEEDS=N runs N seeds.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "core/agent/anti_entropy.h"
#include "core/agent/server_router.h"
#include "core/base/rng.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

namespace pba = ::muster::proto::agent;

// The check's interval, and the bound the catalog must follow the probe within: an interval,
// the probe's delay, one partial sync (a forwarded write), with room for a leader election.
constexpr Duration kInterval = absl::Seconds(2);
constexpr Duration kFollowBound = absl::Seconds(10);
constexpr Duration kElectionBound = absl::Seconds(30);

// The status of `check_id` on `node` in the catalog as `server` reads it ("" when absent).
std::string CatalogStatus(sim::Simulator& sim, NodeId server, const std::string& node, const std::string& check_id) {
  pba::Call call;
  call.set_key(node);
  call.set_consistency("stale");
  auto r = Send(sim, server, "health.node", call);
  if (!sim.RunUntil([&] { return r->answered; }, absl::Seconds(5)) || !r->status.ok()) return "";
  nlohmann::json checks = nlohmann::json::parse(r->reply.body(), nullptr, false);
  if (!checks.is_array()) return "";
  for (const auto& c : checks) {
    if (c.value("CheckID", "") == check_id) return c.value("Status", "");
  }
  return "";
}

// How long until every live server's catalog shows `status` (nullopt: not within `budget`).
std::optional<Duration> TimeUntil(sim::Simulator& sim, const std::vector<NodeId>& servers, const std::string& node,
                                  const std::string& check_id, const std::string& status, Duration budget) {
  const Time start = sim.now();
  const bool held = sim.RunUntil(
      [&] {
        for (NodeId s : servers) {
          if (sim.IsUp(s) && CatalogStatus(sim, s, node, check_id) != status) return false;
        }
        return true;
      },
      budget);
  if (!held) return std::nullopt;
  return sim.now() - start;
}

class LocalSync : public ::testing::TestWithParam<uint64_t> {};

TEST_P(LocalSync, AClientsCheckReachesTheCatalogAndFollowsItThroughALeaderCrash) {
  sim::Simulator sim(GetParam());
  std::vector<NodeId> servers;
  for (int i = 1; i <= 3; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = 3;
    if (i > 1) spec.join = {LanAddress(1)};
    servers.push_back(AddAgent(sim, spec));
  }
  AgentSpec client_spec;
  client_spec.index = 4;
  client_spec.server = false;
  client_spec.join = {LanAddress(1)};
  const NodeId client = AddAgent(sim, client_spec);
  bool healthy = true;
  int probes = 0;
  sim.set_process_runner([&](NodeId, const ProcessStart& start) {
    ++probes;
    ProcessExitedInput end = sim::Simulator::HealthyEnd(start);
    if (start.kind == ProcessStart::Kind::kHttp && !healthy) end.exit_code = 503;
    return end;
  });
  sim.set_process_delay(absl::Milliseconds(20));
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, kElectionBound));
  sim.RunFor(absl::Seconds(5));

  pba::Call reg;
  reg.set_json(R"({"Name": "web", "ID": "web1", "Port": 80, "Check": {"HTTP": "http://web/health", "Interval": "2s"}})");
  auto registered = Send(sim, client, "agent.service.register", reg);
  ASSERT_TRUE(sim.RunUntil([&] { return registered->answered; }, absl::Seconds(5)));
  ASSERT_TRUE(registered->status.ok()) << registered->status;

  const std::string node = NodeName(4);
  std::optional<Duration> passing = TimeUntil(sim, servers, node, "service:web1", "passing", kFollowBound);
  ASSERT_TRUE(passing.has_value()) << "not passing in every server's catalog within " << kFollowBound;
  EXPECT_GT(probes, 0);

  healthy = false;
  std::optional<Duration> critical = TimeUntil(sim, servers, node, "service:web1", "critical", kFollowBound);
  ASSERT_TRUE(critical.has_value());
  EXPECT_LE(*critical, kInterval + absl::Seconds(3));

  // The leader crashes and the probe passes again meanwhile: once a new leader is elected the
  // client's sync (held, retried with back-off) reaches the catalog.
  const NodeId leader = Leaders(sim).at(0);
  sim.Kill(leader);
  healthy = true;
  std::optional<Duration> again = TimeUntil(sim, servers, node, "service:web1", "passing", kElectionBound);
  ASSERT_TRUE(again.has_value()) << "not passing again within " << kElectionBound << " of the leader's crash";
  sim.Restart(leader);

  // A client crashed and restarted keeps what was registered (no new registration).
  sim.Kill(client);
  sim.RunFor(absl::Seconds(1));
  sim.Restart(client);
  sim.RunFor(absl::Seconds(5));
  auto services = Send(sim, client, "agent.services", pba::Call());
  ASSERT_TRUE(sim.RunUntil([&] { return services->answered; }, absl::Seconds(5)));
  EXPECT_NE(services->reply.body().find("\"web1\""), std::string::npos) << services->reply.body();
  EXPECT_TRUE(TimeUntil(sim, servers, node, "service:web1", "passing", kFollowBound).has_value());

  std::printf("seed %llu: catalog bounds: passing after registration %s, critical after the probe failed %s, passing again "
              "after the leader's crash %s\n",
              static_cast<unsigned long long>(GetParam()), absl::FormatDuration(*passing).c_str(), absl::FormatDuration(*critical).c_str(),
              absl::FormatDuration(*again).c_str());
}

INSTANTIATE_TEST_SUITE_P(Seeds, LocalSync, ::testing::Range<uint64_t>(1, 11));

// ---- Clients through server crashes and partitions ----
//
// 3 servers and 3 clients. Each client has two services (an HTTP check and a TCP check, and a
// TTL check the test updates through the client) and, now and then, a third service it
// registers and deregisters. For a fault window the probes' results change at random while
// servers are killed and restarted, partitioned from each other, and clients are cut from
// every server (or from some) and crashed; then the network heals and every node is up. From
// there every live client's services and checks must be in the catalog (the leader's,
// read consistently) with the status the client has, and nothing the client no longer has, within kConvergeBound; and with
// the output the client has too within kOutputBound (a change of output alone, such as a TTL
// running out on a check already critical, waits for the next full sync, as Consul defers
// it; the seeds that caught this are named below).

constexpr int kFleetServers = 3;
constexpr int kFleetClients = 3;
constexpr Duration kFaultWindow = absl::Seconds(120);
constexpr Duration kHttpInterval = absl::Seconds(2);
constexpr Duration kTcpInterval = absl::Seconds(3);
constexpr Duration kTtl = absl::Seconds(45);
// After healing: an election (a few seconds), gossip finding the cut-off members again, the
// longest anti-entropy back-off (kSyncRetryMax, 60 s: a client whose syncs failed through the
// window waits for its next retry) and one full sync's read and push.
const Duration kConvergeBound = agent::kSyncRetryMax + absl::Seconds(30);
// Then one full-sync interval with its stagger (a sixteenth) for an output-only change. Seeds
// 217, 225, 236, 262, 275 and 310 of 500 broke a single kConvergeBound for the output.
// Over 1,500 seeds (with anti-entropy's ServerUp): status median 2.0 s, p99 37.7 s, max 85.7 s;
// seeds 804 and 998 fail: the LAN pool is still split 90 s after healing (the leader's side
// sees the client failed), which only Serf's 30 s probabilistic reconnect mends (no serf
// snapshot to rejoin from at a restart; /tmp/prompts/agent_bugs_14.md).
const Duration kOutputBound = kConvergeBound + agent::kFullSyncInterval * 17 / 16;
// How often the convergence is looked at (each look is a few reads through the simulator).
constexpr Duration kLookEvery = absl::Milliseconds(500);

struct FleetClient {
  int index = 0;
  NodeId node;
  bool has_extra = false;
};

// What the simulated probes answer, by URL (HTTP) or address (TCP): an HTTP status, or for a
// TCP probe 0 (connected) or 1.
using ProbeAnswers = absl::btree_map<std::string, int>;

std::string HttpUrl(int index) { return absl::StrCat("http://app", index, "/health"); }
std::string TcpAddress(int index) { return absl::StrCat("db", index, ":5432"); }

// One request's answer, run until it comes (or nullopt within a budget / on an error).
std::optional<std::string> Ask(sim::Simulator& sim, NodeId node, const std::string& method, const pba::Call& call) {
  auto r = Send(sim, node, method, call);
  if (!sim.RunUntil([&] { return r->answered; }, absl::Seconds(5)) || !r->status.ok()) return std::nullopt;
  return r->reply.body();
}

// A node's services and checks, as the client has them or a server's catalog shows them.
struct NodeView {
  absl::btree_map<std::string, std::string> services;  // ID -> "name port tags"
  absl::btree_map<std::string, state::Check> checks;   // ID -> check (serfHealth included)
};

// Equal as anti-entropy compares them (agent::SameCheck), the output aside unless `with_output`.
bool SameCheckAs(const state::Check& a, const state::Check& b, bool with_output) {
  if (with_output) return agent::SameCheck(a, b);
  state::Check b_with_a_output = b;
  b_with_a_output.output = a.output;
  return agent::SameCheck(a, b_with_a_output);
}

bool SameView(const NodeView& a, const NodeView& b, bool with_output) {
  if (a.services != b.services || a.checks.size() != b.checks.size()) return false;
  for (const auto& [id, c] : a.checks) {
    auto it = b.checks.find(id);
    if (it == b.checks.end() || !SameCheckAs(c, it->second, with_output)) return false;
  }
  return true;
}

// What differs between two views, for a failure's message.
std::string Differences(const NodeView& local, const NodeView& remote, bool with_output) {
  std::string out;
  for (const auto& [id, summary] : local.services) {
    auto it = remote.services.find(id);
    if (it == remote.services.end()) absl::StrAppend(&out, " service ", id, " missing;");
    else if (it->second != summary) absl::StrAppend(&out, " service ", id, " is '", it->second, "', not '", summary, "';");
  }
  for (const auto& [id, summary] : remote.services) {
    if (!local.services.contains(id)) absl::StrAppend(&out, " service ", id, " left over;");
  }
  for (const auto& [id, c] : local.checks) {
    auto it = remote.checks.find(id);
    if (it == remote.checks.end()) absl::StrAppend(&out, " check ", id, " missing;");
    else if (!SameCheckAs(c, it->second, with_output)) {
      absl::StrAppend(&out, " check ", id, " is ", std::string(state::HealthStatusName(it->second.status)), " '", it->second.output,
                      "', not ", std::string(state::HealthStatusName(c.status)), " '", c.output, "';");
    }
  }
  for (const auto& [id, c] : remote.checks) {
    if (!local.checks.contains(id)) absl::StrAppend(&out, " check ", id, " left over;");
  }
  return out;
}

std::string ServiceSummary(const nlohmann::json& s) {
  std::string tags;
  for (const auto& t : s.value("Tags", nlohmann::json::array())) tags += t.get<std::string>() + ",";
  return absl::StrCat(s.value("Service", ""), " ", s.value("Port", 0), " ", tags);
}

// The client's own view (agent.services, agent.checks).
std::optional<NodeView> LocalView(sim::Simulator& sim, NodeId client) {
  std::optional<std::string> services = Ask(sim, client, "agent.services", pba::Call());
  std::optional<std::string> checks = Ask(sim, client, "agent.checks", pba::Call());
  if (!services || !checks) return std::nullopt;
  nlohmann::json js = nlohmann::json::parse(*services, nullptr, false);
  nlohmann::json jc = nlohmann::json::parse(*checks, nullptr, false);
  if (!js.is_object() || !jc.is_object()) return std::nullopt;
  nlohmann::json as_list = nlohmann::json::array();
  for (auto it = jc.begin(); it != jc.end(); ++it) as_list.push_back(it.value());
  std::optional<agent::RemoteNode> parsed = agent::ParseRemoteNode("null", as_list.dump());
  if (!parsed) return std::nullopt;
  NodeView v;
  for (auto it = js.begin(); it != js.end(); ++it) v.services[it.key()] = ServiceSummary(it.value());
  for (state::Check& c : parsed->checks) v.checks[c.check_id] = std::move(c);
  return v;
}

// The catalog's view of `node` as the leader `server` answers it (a consistent read: the
// catalog, whatever a server outside the leader's configuration holds), serfHealth apart.
std::optional<NodeView> CatalogView(sim::Simulator& sim, NodeId server, const std::string& node,
                                    state::HealthStatus* serf_health) {
  pba::Call call;
  call.set_key(node);
  call.set_consistency("consistent");
  std::optional<std::string> catalog = Ask(sim, server, "catalog.node", call);
  std::optional<std::string> health = Ask(sim, server, "health.node", call);
  if (!catalog || !health) return std::nullopt;
  nlohmann::json jn = nlohmann::json::parse(*catalog, nullptr, false);
  std::optional<agent::RemoteNode> parsed = agent::ParseRemoteNode(*catalog, *health);
  if (!parsed || !jn.is_object()) return std::nullopt;
  NodeView v;
  if (jn.contains("Services") && jn["Services"].is_object()) {
    for (auto it = jn["Services"].begin(); it != jn["Services"].end(); ++it) v.services[it.key()] = ServiceSummary(it.value());
  }
  *serf_health = state::HealthStatus::kCritical;
  for (state::Check& c : parsed->checks) {
    if (c.check_id == "serfHealth") {
      *serf_health = c.status;
      continue;
    }
    v.checks[c.check_id] = std::move(c);
  }
  return v;
}

void Register(sim::Simulator& sim, NodeId client, const std::string& json) {
  pba::Call reg;
  reg.set_json(json);
  auto r = Send(sim, client, "agent.service.register", reg);
  ASSERT_TRUE(sim.RunUntil([&] { return r->answered; }, absl::Seconds(5)));
  ASSERT_TRUE(r->status.ok()) << r->status << " " << json;
}

std::string AppRegistration(int index) {
  return absl::StrCat(R"({"ID": "app-)", index, R"(", "Name": "app", "Port": 8080, "Tags": ["v1"], "Check": {"CheckID": "app-http-)",
                      index, R"(", "HTTP": ")", HttpUrl(index), R"(", "Interval": ")", absl::FormatDuration(kHttpInterval),
                      R"("}})");
}
std::string DbRegistration(int index) {
  return absl::StrCat(R"({"ID": "db-)", index, R"(", "Name": "db", "Port": 5432, "Checks": [{"CheckID": "db-tcp-)", index,
                      R"(", "TCP": ")", TcpAddress(index), R"(", "Interval": ")", absl::FormatDuration(kTcpInterval),
                      R"("}, {"CheckID": "db-ttl-)", index, R"(", "TTL": ")", absl::FormatDuration(kTtl), R"("}]})");
}
std::string ExtraRegistration(int index, int generation) {
  return absl::StrCat(R"({"ID": "extra-)", index, R"(", "Name": "extra", "Port": )", 9000 + generation, "}");
}

// What the fault window did, for the printed summary.
struct FaultCounts {
  int server_kills = 0, client_kills = 0, partitions = 0, client_cuts = 0, heals = 0, flips = 0, ttl_updates = 0,
      extra_changes = 0;
};

class ClientsConverge : public ::testing::TestWithParam<uint64_t> {};

TEST_P(ClientsConverge, AfterServerCrashesAndPartitionsEveryClientIsInTheCatalogAsItIs) {
  const uint64_t seed = GetParam();
  sim::Simulator sim(seed);
  struct StderrSink : LogSink {
    void Write(Time now, LogLevel level, std::string_view component, std::string_view message) override {
      std::fprintf(stderr, "%s %.*s: %.*s\n", absl::FormatTime(now).c_str(), static_cast<int>(component.size()),
                   component.data(), static_cast<int>(message.size()), message.data());
    }
  } debug_sink;
  if (std::getenv("LOCAL_SYNC_LOG") != nullptr) sim.set_log_sink(&debug_sink);
  Rng faults(seed * 0x9e3779b97f4a7c15ull + 13);
  std::vector<NodeId> servers;
  std::vector<std::string> server_lan;
  for (int i = 1; i <= kFleetServers; ++i) server_lan.push_back(LanAddress(i));
  for (int i = 1; i <= kFleetServers; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.bootstrap_expect = kFleetServers;
    if (i > 1) spec.join = {LanAddress(1)};
    servers.push_back(AddAgent(sim, spec));
  }
  std::vector<FleetClient> clients;
  std::vector<NodeId> client_nodes;
  for (int i = kFleetServers + 1; i <= kFleetServers + kFleetClients; ++i) {
    AgentSpec spec;
    spec.index = i;
    spec.server = false;
    spec.join = server_lan;
    clients.push_back({i, AddAgent(sim, spec)});
    client_nodes.push_back(clients.back().node);
  }
  std::vector<NodeId> everyone = servers;
  everyone.insert(everyone.end(), client_nodes.begin(), client_nodes.end());

  ProbeAnswers answers;
  for (const FleetClient& c : clients) {
    answers[HttpUrl(c.index)] = 200;
    answers[TcpAddress(c.index)] = 0;
  }
  sim.set_process_runner([&](NodeId, const ProcessStart& start) {
    ProcessExitedInput end = sim::Simulator::HealthyEnd(start);
    if (start.kind == ProcessStart::Kind::kHttp) end.exit_code = answers.at(start.url);
    if (start.kind == ProcessStart::Kind::kTcp) end.exit_code = answers.at(start.address);
    return end;
  });
  sim.set_process_delay(absl::Milliseconds(20));
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, kElectionBound));
  sim.RunFor(absl::Seconds(3));
  for (const FleetClient& c : clients) {
    Register(sim, c.node, AppRegistration(c.index));
    Register(sim, c.node, DbRegistration(c.index));
  }

  // The fault window.
  FaultCounts n;
  int extra_generation = 0;
  std::vector<std::shared_ptr<Outcome>> unanswered;  // fire-and-forget requests, kept alive
  const Time window_end = sim.now() + kFaultWindow;
  while (sim.now() < window_end) {
    FleetClient& c = clients[faults.Uniform(clients.size())];
    switch (faults.Uniform(9)) {
      case 0:
      case 1: {  // a probe's answer changes
        static constexpr int kHttpAnswers[] = {200, 429, 503};
        answers[HttpUrl(c.index)] = kHttpAnswers[faults.Uniform(3)];
        answers[TcpAddress(c.index)] = static_cast<int>(faults.Uniform(2));
        ++n.flips;
        break;
      }
      case 2: {  // a TTL update through the client
        if (!sim.IsUp(c.node)) break;
        static constexpr const char* kStatuses[] = {"passing", "warning", "critical"};
        pba::Call call;
        call.set_key(absl::StrCat("db-ttl-", c.index));
        call.set_json(absl::StrCat(R"({"Status": ")", kStatuses[faults.Uniform(3)], R"(", "Output": "update )",
                                   ++n.ttl_updates, R"("})"));
        unanswered.push_back(Send(sim, c.node, "agent.check.update", call));
        break;
      }
      case 3: {  // a server crashes (at most two down), or one that is down comes back
        std::vector<NodeId> up, down;
        for (NodeId s : servers) (sim.IsUp(s) ? up : down).push_back(s);
        if (!down.empty() && (down.size() == 2 || faults.Bernoulli(0.5))) {
          sim.Restart(down[faults.Uniform(down.size())]);
        } else {
          sim.Kill(up[faults.Uniform(up.size())]);
          ++n.server_kills;
        }
        break;
      }
      case 4: {  // servers split: one alone, with or without some clients
        const NodeId alone = servers[faults.Uniform(servers.size())];
        std::vector<NodeId> side = {alone};
        for (NodeId cn : client_nodes) {
          if (faults.Bernoulli(0.3)) side.push_back(cn);
        }
        std::vector<NodeId> rest;
        for (NodeId x : everyone) {
          if (std::find(side.begin(), side.end(), x) == side.end()) rest.push_back(x);
        }
        sim.network().Partition(side, rest);
        ++n.partitions;
        break;
      }
      case 5: {  // clients cut from every server
        std::vector<NodeId> cut = {c.node};
        for (NodeId cn : client_nodes) {
          if (cn != c.node && faults.Bernoulli(0.4)) cut.push_back(cn);
        }
        sim.network().Partition(cut, servers);
        ++n.client_cuts;
        break;
      }
      case 6:
        sim.network().Heal();
        ++n.heals;
        break;
      case 7: {  // a client crashes and comes back a little later
        if (!sim.IsUp(c.node)) break;
        sim.Kill(c.node);
        ++n.client_kills;
        const NodeId node = c.node;
        sim.After(faults.UniformDuration(absl::Seconds(1), absl::Seconds(8)), [&sim, node] {
          if (!sim.IsUp(node)) sim.Restart(node);
        });
        break;
      }
      case 8: {  // the client registers or deregisters its third service
        if (!sim.IsUp(c.node)) break;
        pba::Call call;
        std::string method;
        if (c.has_extra && faults.Bernoulli(0.5)) {
          method = "agent.service.deregister";
          call.set_key(absl::StrCat("extra-", c.index));
        } else {
          method = "agent.service.register";
          call.set_json(ExtraRegistration(c.index, ++extra_generation));
        }
        c.has_extra = method == "agent.service.register";
        unanswered.push_back(Send(sim, c.node, method, call));
        ++n.extra_changes;
        break;
      }
    }
    sim.RunFor(faults.UniformDuration(absl::Milliseconds(200), absl::Seconds(4)));
  }

  // Heal: the network whole, every node up, the probes' answers fixed from here.
  sim.network().Heal();
  for (NodeId x : everyone) {
    if (!sim.IsUp(x)) sim.Restart(x);
  }
  const Time healed = sim.now();
  ASSERT_TRUE(sim.RunUntil([&] { return Leaders(sim).size() == 1; }, kElectionBound)) << "no leader after healing";

  // Converged: each client's HTTP and TCP checks show the probes' answers, and every server's
  // catalog shows each client as the client has itself, serfHealth passing.
  std::string last_difference;
  auto converged = [&](bool with_output) -> bool {
    for (const FleetClient& c : clients) {
      std::optional<NodeView> local = LocalView(sim, c.node);
      if (!local) return (last_difference = absl::StrCat(NodeName(c.index), " does not answer"), false);
      const int http = answers.at(HttpUrl(c.index));
      const state::HealthStatus want_http = http == 200   ? state::HealthStatus::kPassing
                                            : http == 429 ? state::HealthStatus::kWarning
                                                          : state::HealthStatus::kCritical;
      const state::HealthStatus want_tcp =
          answers.at(TcpAddress(c.index)) == 0 ? state::HealthStatus::kPassing : state::HealthStatus::kCritical;
      auto http_check = local->checks.find(absl::StrCat("app-http-", c.index));
      auto tcp_check = local->checks.find(absl::StrCat("db-tcp-", c.index));
      if (http_check == local->checks.end() || tcp_check == local->checks.end() ||
          http_check->second.status != want_http || tcp_check->second.status != want_tcp) {
        return (last_difference = absl::StrCat(NodeName(c.index), "'s own checks do not show the probes yet"), false);
      }
      const std::vector<NodeId> leaders = Leaders(sim);
      if (leaders.size() != 1) return (last_difference = "no single leader", false);
      for (NodeId s : leaders) {
        state::HealthStatus serf = state::HealthStatus::kCritical;
        std::optional<NodeView> remote = CatalogView(sim, s, NodeName(c.index), &serf);
        if (!remote) return (last_difference = absl::StrCat("server n", s.value, " does not answer"), false);
        if (!SameView(*local, *remote, with_output)) {
          return (last_difference = absl::StrCat("server n", s.value, "'s catalog differs from ", NodeName(c.index), ":",
                                                 Differences(*local, *remote, with_output)),
                  false);
        }
        if (serf != state::HealthStatus::kPassing) {
          return (last_difference = absl::StrCat("server n", s.value, ": serfHealth of ", NodeName(c.index), " not passing"),
                  false);
        }
      }
    }
    return true;
  };
  auto wait_converged = [&](bool with_output, Duration bound) {
    while (sim.now() - healed <= bound) {
      if (converged(with_output)) return true;
      sim.RunFor(kLookEvery);
    }
    return false;
  };
  bool done = wait_converged(/*with_output=*/false, kConvergeBound);
  const Duration took = sim.now() - healed;
  std::optional<Duration> took_with_output;
  if (done && wait_converged(/*with_output=*/true, kOutputBound)) took_with_output = sim.now() - healed;
  if (!done || !took_with_output) {  // what each agent knows of the others, for the failure's reading
    for (NodeId x : everyone) {
      const agent::AgentMachine* m = AgentAt(sim, x);
      std::string members;
      for (const auto& [name, member] : m->lan().members()) {
        absl::StrAppend(&members, " ", name, "=", static_cast<int>(member.status));
      }
      std::string routed;
      if (m->router() != nullptr) {
        for (const agent::RoutedServer& r : m->router()->servers()) absl::StrAppend(&routed, " ", r.name, r.failed ? "(failed)" : "");
      }
      std::string raft;
      if (m->raft() != nullptr) {
        absl::StrAppend(&raft, " role ", static_cast<int>(m->raft()->role()), " term ", m->raft()->term(), " peers");
        for (const raft::PeerStatus& p : m->raft()->GetStatus().peers) absl::StrAppend(&raft, " ", ToString(p.id), p.voter ? "" : "(nv)");
      }
      std::printf("%s: members%s; router%s;%s\n", NodeName(static_cast<int>(x.value)).c_str(), members.c_str(),
                  routed.c_str(), raft.c_str());
    }
  }
  ASSERT_TRUE(done) << "seed " << seed << ": not converged " << absl::FormatDuration(kConvergeBound)
                    << " after healing: " << last_difference;
  ASSERT_TRUE(took_with_output.has_value()) << "seed " << seed << ": outputs not converged "
                                            << absl::FormatDuration(kOutputBound) << " after healing: " << last_difference;
  EXPECT_GT(n.server_kills + n.partitions + n.client_cuts, 0);
  std::printf("seed %llu: converged %s after healing (bound %s), outputs too %s (bound %s); window: %d server kills, %d "
              "server partitions, %d client cuts, %d heals, %d client kills, %d probe flips, %d TTL updates, %d "
              "extra-service changes\n",
              static_cast<unsigned long long>(seed), absl::FormatDuration(took).c_str(),
              absl::FormatDuration(kConvergeBound).c_str(), absl::FormatDuration(*took_with_output).c_str(),
              absl::FormatDuration(kOutputBound).c_str(), n.server_kills, n.partitions, n.client_cuts, n.heals,
              n.client_kills, n.flips, n.ttl_updates, n.extra_changes);
}

// 50 seeds in the suite; LOCAL_SYNC_SEEDS=N in the environment runs seeds 1..N instead (sweeps
// by hand, from bazel-bin).
uint64_t ConvergeSeedsEnd() {
  const char* n = std::getenv("LOCAL_SYNC_SEEDS");
  return (n != nullptr && std::atoll(n) > 0) ? static_cast<uint64_t>(std::atoll(n)) + 1 : 51;
}
INSTANTIATE_TEST_SUITE_P(Seeds, ClientsConverge, ::testing::Range<uint64_t>(1, ConvergeSeedsEnd()));

}  // namespace
}  // namespace muster::agent_sim
