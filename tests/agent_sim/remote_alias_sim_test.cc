// An alias check on one client (n4) of a service on another client (n5), under the simulator
// with three servers (core/agent/remote_alias.h): n4's alias follows the TTL check n5 reports,
// through every status, in n4's agent and in the catalog, within a stated bound; through the
// crash of the leader; with n4 cut from every node it turns critical with Consul's failure
// output and follows again once healed; n5's service deregistered, it is critical with
// Consul's "could not be found". Seeds 1-8; the bounds measured are printed.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/agent_sim/agent_cluster.h"

namespace muster::agent_sim {
namespace {

namespace pba = ::muster::proto::agent;
using Json = nlohmann::json;

// How fast the alias must follow: n5's partial sync (a forwarded write), the blocking read's
// wake-up at n4's server and the answer's way back, n4's partial sync; with room for a lost
// gossip round. With an election: the election as well.
constexpr Duration kFollowBound = absl::Seconds(5);
constexpr Duration kElectionBound = absl::Seconds(30);
// n4 cut from every node: its forwarded read fails once gossip shows the server it went to
// failed and the next one too (a read goes once more), and the next read the same way: the
// alias is critical at that second failure, once n4's gossip has found the three servers
// failed, with no one to confirm (Serf's longest suspicion). Seeds 1-200: 36-59 s.
constexpr Duration kCutBound = absl::Seconds(90);

struct Cluster {
  explicit Cluster(uint64_t seed) : sim(seed) {
    for (int i = 1; i <= 3; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.bootstrap_expect = 3;
      if (i > 1) spec.join = {LanAddress(1)};
      servers.push_back(AddAgent(sim, spec));
    }
    for (int i = 4; i <= 5; ++i) {
      AgentSpec spec;
      spec.index = i;
      spec.server = false;
      spec.join = {LanAddress(1)};
      (i == 4 ? aliasing : aliased) = AddAgent(sim, spec);
    }
  }
  absl::Status Call(NodeId node, const std::string& method, const pba::Call& call, std::string* body = nullptr) {
    auto r = Send(sim, node, method, call);
    if (!sim.RunUntil([&] { return r->answered; }, absl::Seconds(10))) return absl::DeadlineExceededError("no answer");
    if (body != nullptr) *body = r->reply.body();
    return r->status;
  }
  absl::Status Json(NodeId node, const std::string& method, const std::string& json, const std::string& key = "") {
    pba::Call c;
    c.set_json(json);
    c.set_key(key);
    return Call(node, method, c);
  }
  // The alias's status and output on n4 ("" when absent).
  std::pair<std::string, std::string> Alias() {
    std::string body;
    if (!Call(aliasing, "agent.checks", pba::Call(), &body).ok()) return {};
    const nlohmann::json checks = nlohmann::json::parse(body, nullptr, false);
    if (!checks.is_object() || !checks.contains("web-alias")) return {};
    return {checks["web-alias"].value("Status", ""), checks["web-alias"].value("Output", "")};
  }
  // The alias's status in the catalog of server `s` (stale: its own state).
  std::string CatalogAlias(NodeId s) {
    pba::Call c;
    c.set_key(NodeName(4));
    c.set_consistency("stale");
    std::string body;
    if (!Call(s, "health.node", c, &body).ok()) return "";
    const nlohmann::json checks = nlohmann::json::parse(body, nullptr, false);
    if (!checks.is_array()) return "";
    for (const auto& k : checks) {
      if (k.value("CheckID", "") == "web-alias") return k.value("Status", "");
    }
    return "";
  }
  // How long until n4 shows `status` (and `output`, when given) and every live server's
  // catalog the status; nullopt when not within `budget`.
  std::optional<Duration> TimeUntil(const std::string& status, const std::string& output, Duration budget) {
    const Time start = sim.now();
    const bool held = sim.RunUntil(
        [&] {
          auto [s, o] = Alias();
          if (s != status || (!output.empty() && o != output)) return false;
          for (NodeId server : servers) {
            if (sim.IsUp(server) && CatalogAlias(server) != status) return false;
          }
          return true;
        },
        budget);
    if (!held) return std::nullopt;
    return sim.now() - start;
  }
  absl::Status Ttl(const std::string& status, const std::string& output) {
    return Json(aliased, "agent.check.update", absl::StrCat(R"({"Status": ")", status, R"(", "Output": ")", output, R"("})"),
                "service:web");
  }

  sim::Simulator sim;
  std::vector<NodeId> servers;
  NodeId aliasing, aliased;
};

class RemoteAliasSim : public ::testing::TestWithParam<uint64_t> {};

TEST_P(RemoteAliasSim, AClientsAliasFollowsAnotherClientsServiceThroughTheCatalog) {
  Cluster c(GetParam());
  ASSERT_TRUE(c.sim.RunUntil([&] { return Leaders(c.sim).size() == 1; }, kElectionBound));
  c.sim.RunFor(absl::Seconds(5));
  ASSERT_TRUE(c.Json(c.aliased, "agent.service.register", R"({"Name": "web", "ID": "web", "Check": {"TTL": "10m"}})").ok());
  ASSERT_TRUE(c.Json(c.aliasing, "agent.check.register",
                     absl::StrCat(R"({"Name": "web alias", "ID": "web-alias", "AliasNode": ")", NodeName(5),
                                  R"(", "AliasService": "web"})"))
                  .ok());
  Duration worst;
  const struct {
    const char* status;
    const char* output;
  } steps[] = {{"passing", "All checks passing."},
               {"warning", "Aliased check \"Service 'web' check\" failing: slow"},
               {"critical", "Aliased check \"Service 'web' check\" failing: down"},
               {"passing", "All checks passing."}};
  const char* ttl_outputs[] = {"", "slow", "down", ""};
  for (size_t i = 0; i < std::size(steps); ++i) {
    ASSERT_TRUE(c.Ttl(steps[i].status, ttl_outputs[i]).ok());
    std::optional<Duration> took = c.TimeUntil(steps[i].status, steps[i].output, kFollowBound);
    ASSERT_TRUE(took.has_value()) << steps[i].status << " not followed within " << kFollowBound << "; n4 has "
                                  << c.Alias().first << " " << c.Alias().second;
    worst = std::max(worst, *took);
  }

  // The leader crashes while n5's check changes: followed once a leader is back.
  const NodeId leader = Leaders(c.sim).at(0);
  c.sim.Kill(leader);
  ASSERT_TRUE(c.Ttl("warning", "again").ok());  // local to n5; its sync waits for the election
  std::optional<Duration> election = c.TimeUntil("warning", "", kElectionBound);
  ASSERT_TRUE(election.has_value()) << "not followed within " << kElectionBound << " of the leader's crash";
  c.sim.Restart(leader);
  c.sim.RunFor(absl::Seconds(5));

  // n4 cut from every node: its reads fail, the alias turns critical with Consul's output.
  std::vector<NodeId> others = c.servers;
  others.push_back(c.aliased);
  c.sim.network().Partition({c.aliasing}, others);
  const Time cut = c.sim.now();
  const bool failed = c.sim.RunUntil(
      [&] {
        auto [s, o] = c.Alias();
        return s == "critical" && o.rfind("Failure checking aliased node or service: ", 0) == 0;
      },
      kCutBound);
  ASSERT_TRUE(failed) << "n4 has " << c.Alias().first << " " << c.Alias().second;
  const Duration to_failure = c.sim.now() - cut;
  c.sim.network().Heal();
  ASSERT_TRUE(c.Ttl("passing", "").ok());
  // Back: within the back-off's wait (at most 60 s; seeds 1-200: 0.02-29.4 s) and a read.
  std::optional<Duration> healed = c.TimeUntil("passing", "All checks passing.", absl::Seconds(90));
  ASSERT_TRUE(healed.has_value());

  // n5's service deregistered: critical, Consul's output.
  ASSERT_TRUE(c.Json(c.aliased, "agent.service.deregister", "", "web").ok());
  std::optional<Duration> gone =
      c.TimeUntil("critical", absl::StrCat("Service web could not be found on node ", NodeName(5)), kFollowBound);
  ASSERT_TRUE(gone.has_value()) << "n4 has " << c.Alias().first << " " << c.Alias().second;

  std::printf("seed %llu: alias follows within %s (worst of 4 statuses), %s after the leader's crash, critical %s after "
              "the cut, passing %s after healing, not found %s after the deregistration\n",
              static_cast<unsigned long long>(GetParam()), absl::FormatDuration(worst).c_str(),
              absl::FormatDuration(*election).c_str(), absl::FormatDuration(to_failure).c_str(),
              absl::FormatDuration(*healed).c_str(), absl::FormatDuration(*gone).c_str());
}

INSTANTIATE_TEST_SUITE_P(Seeds, RemoteAliasSim, ::testing::Range<uint64_t>(1, 9));

}  // namespace
}  // namespace muster::agent_sim
