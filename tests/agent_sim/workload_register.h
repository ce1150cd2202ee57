// The register workload: clients (servers when there are none) register and deregister
// services with TTL checks through the agent API and flip the checks' status
// (agent.service.register / deregister, agent.check.update), as applications beside their
// agent do. Judged once the run settled: within kCatalogConvergeBound every live agent it
// went through has its own services in the catalog with their current status — the agent's
// local view (agent.services, agent.checks) against the catalog's (catalog.node, health.node,
// consistent reads through the leader), anti-entropy's promise.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "core/base/time.h"
#include "tests/agent_sim/workload.h"

namespace muster::agent_sim {

// Services per agent the workload juggles (wl0, wl1, ...), each with one TTL check.
inline constexpr int kRegisterServicesPerAgent = 3;
// After settling, how long the catalog may take to show every agent's services (a change
// syncs at once; one whose sync failed waits for the next full sync, a minute apart).
inline constexpr Duration kCatalogConvergeBound = absl::Seconds(120);
// Between two comparison rounds while waiting.
inline constexpr Duration kCatalogCompareEvery = absl::Seconds(1);

class AgentRun;

class RegisterWorkload final : public Workload {
 public:
  explicit RegisterWorkload(AgentRun& run);
  const char* name() const override { return "register"; }
  void Tick(int index) override;
  void OnDown(int index) override;
  void Judge() override;
  std::string Checked() const override;

  bool converged() const { return converged_; }

 private:
  struct Views {
    int pending = 0;
    std::string failed;  // a request refused, and why: compare again next round
    std::string local_services, local_checks, catalog_node, catalog_checks;
  };
  // One round of reads of every touched agent up, then the comparison.
  void CompareRound();
  // Empty if agent `index`'s local view matches the catalog's, else what differs.
  std::string Compare(int index, const Views& v);

  AgentRun& run_;
  std::map<int, uint64_t> life_;  // agent -> its life (bumped at each crash)
  std::map<int, bool> busy_;      // agent -> a request out
  std::set<int> touched_;
  uint64_t round_ = 0;
  bool converged_ = false, judged_ = false;
  std::string last_difference_;
  std::optional<Duration> converged_after_;
  uint64_t registers_ = 0, deregisters_ = 0, updates_ = 0, answered_ok_ = 0, services_compared_ = 0,
           checks_compared_ = 0, rounds_ = 0;
};

}  // namespace muster::agent_sim
