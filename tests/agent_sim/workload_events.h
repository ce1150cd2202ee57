// The events workload: user events fired through random agents (event.fire, Consul's PUT
// /v1/event/fire) with a payload unique to the run, recorded for sim/checkers/event_checker.h.
// Every agent runs kSimEventHandler on them (AgentRun configures it); each run the simulated
// process runner sees is a delivery. Judged once the run settled: at most once per agent
// lifetime, and, within kEventsDeliveredBound of settling, exactly once at every agent up (and
// joined) from the fire to the end whose join did not pass the event's Lamport time (Serf's
// eventJoinIgnore), for each fire that was answered and whose agent stayed up to the end (any
// other may have died with its agent: delivered at most once, owed nobody).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "core/base/node_id.h"
#include "core/seam/effects.h"
#include "core/base/time.h"
#include "sim/checkers/check_result.h"
#include "sim/checkers/event_checker.h"
#include "tests/agent_sim/workload.h"

namespace muster::agent_sim {

// At most one fire this often (a tick sooner fires nothing): an agent hands out its handler
// runs one at a time behind a queue of 64 (core/agent/handler_queue.h, the oldest dropped past
// it), and a partition of 8 s must not back up more than that.
inline constexpr Duration kEventFireGapMin = absl::Milliseconds(300);
// After settling, how long every owed delivery may still take: Serf's push-pull (every 30 s on
// the LAN, with one random member) carries the events a partition held back, and spreads them
// as an epidemic, slowly when only the firer still holds them (an event buffer is not in the
// snapshot: every other holder restarted). 90 s was too short: swarm seeds 564, 982, 1106,
// 1218, 1395, 1400, 1417 and `--seed 1 --servers 3 --clients 2 --partition --kill=torn
// --workload events --rate 50` delivered everything 1m31s-1m53s after settling. Ten rounds.
inline constexpr Duration kEventsDeliveredBound = absl::Minutes(5);
// An agent is owed events fired from this long after it (re)joined anyone on: one joining
// ignores the cluster's older events (Serf's eventJoinIgnore), decided by its push-pull.
inline constexpr Duration kEventJoinGrace = absl::Seconds(1);
// Fires remembered for the judge; past it the workload fires no more.
inline constexpr size_t kEventFiresMax = 4096;

class AgentRun;

class EventWorkload final : public Workload {
 public:
  explicit EventWorkload(AgentRun& run);
  const char* name() const override { return "events"; }
  void Tick(int index) override;
  void OnDown(int index) override;
  void OnUp(int index) override;
  void Judge() override;
  std::string Checked() const override;

  const sim::checkers::CheckResult& result() const { return result_; }
  uint64_t deliveries() const { return deliveries_; }

 private:
  struct Fire {
    int index = 0;
    uint64_t life = 0;  // the firing agent's life when it fired
    Time call;
    bool answered_ok = false;
  };
  void OnStep(NodeId id);
  void OnProcess(NodeId id, const ProcessStart& start);
  // Every owed delivery happened (the judge's wait).
  bool AllDelivered() const;
  // Fires owed to everyone up: answered, and their agent's life unchanged since.
  bool Owed(const Fire& f) const;
  // Whether agent `i` (up) owes `f`: joined before it, and not past it in Serf's event clock.
  bool OwedBy(const std::string& payload, const Fire& f, int i) const;

  AgentRun& run_;
  std::map<std::string, Fire> fires_;  // payload -> the fire
  std::map<std::string, uint64_t> ltime_of_;  // payload -> its Lamport time (SERF_USER_LTIME)
  std::map<int, uint64_t> life_;       // agent -> its life (bumped at each crash)
  std::map<int, bool> joining_;        // agent -> up, not yet seen with a peer alive
  // (agent, life) -> when it joined + grace: owed the events fired from then on.
  std::map<std::pair<int, uint64_t>, Time> owed_from_;
  std::map<std::pair<int, uint64_t>, std::set<std::string>> delivered_;  // what each life got
  sim::checkers::EventTrace trace_;
  sim::checkers::CheckResult result_;
  std::optional<Time> last_fire_;
  bool judged_ = false;
  std::optional<Duration> delivered_after_;
  uint64_t next_ = 1, fires_ok_ = 0, deliveries_ = 0, owed_ = 0;
};

}  // namespace muster::agent_sim
