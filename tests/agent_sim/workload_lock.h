// The lock workload: Consul's lock recipe through random agents, recorded for
// sim/checkers/lock_checker.h. Each agent is one locker with at most one session at a time
// (session.create with Node = the agent and a lock-delay; its default check is the node's
// serfHealth, so the session dies with the node), acquiring and releasing kLockKeys keys
// under l/ with PUT ?acquire= / ?release=, reading the holder with consistent reads, and now
// and then destroying its session. A locker whose agent crashes forgets its session, as a
// crashed process does: the servers invalidate it once the node is found failed, or a later
// tick destroys it, as the recipe's restarted client would.
//
// Invalidations come from the servers' stores: the first step at which a server that held a
// session no longer does (the leader applies first; lock-delay is timed from its apply).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/node_id.h"
#include "core/base/time.h"
#include "sim/checkers/check_result.h"
#include "sim/checkers/lock_checker.h"
#include "tests/agent_sim/workload.h"

namespace muster::agent_sim {

inline constexpr int kLockKeys = 3;
// The sessions' LockDelay (Consul's default is 15 s; runs are 20 s).
inline constexpr Duration kLockDelay = absl::Seconds(3);
// What of a lock-delay the check forgives (LockCheckOptions::lock_delay_slack): the
// invalidation's commit latency (its stamp is its proposal's), on top of which every
// server's clock offset is added (a live leader's clock stepped forward ends its lock delays
// that much early; the replicated clock tolerates constant offsets and restarts only).
inline constexpr Duration kLockDelaySlack = absl::Seconds(1);
// Sessions watched for their invalidation at once; past it, new ones are not watched (and not
// used: their invalidation would go unseen).
inline constexpr size_t kLockSessionsWatchedMax = 1024;

class AgentRun;

class LockWorkload final : public Workload {
 public:
  explicit LockWorkload(AgentRun& run);
  const char* name() const override { return "lock"; }
  void Tick(int index) override;
  void OnDown(int index) override;
  void Judge() override;
  std::string Checked() const override;

  const sim::checkers::LockHistory& history() const { return history_; }
  const sim::checkers::CheckResult& result() const { return result_; }
  uint64_t acquired() const { return acquired_; }
  uint64_t invalidations() const { return invalidations_; }

 private:
  struct Locker {
    std::string session;  // empty: none (yet)
    uint64_t life = 0;    // bumped at each crash: an answer from before is dropped
    bool busy = false;    // a request out
    std::optional<sim::checkers::LockOpId> op;  // the history entry of that request
    std::set<std::string> held;                 // keys it acquired and has not released
  };
  void Create(int index, Locker& l);
  void Destroy(int index, const std::string& session);
  void Acquire(int index, Locker& l, const std::string& key);
  void Release(int index, Locker& l, const std::string& key);
  void Read(int index, Locker& l, const std::string& key);
  // A step of `id`: a server whose store moved is looked at for invalidated sessions.
  void OnStep(NodeId id);

  AgentRun& run_;
  std::map<int, Locker> lockers_;
  std::vector<std::string> orphans_;  // sessions of crashed lockers, to destroy
  std::map<std::string, bool> watched_;  // session -> watched (alive as far as seen)
  std::map<uint64_t, std::set<std::string>> held_on_;  // server node -> sessions its store held
  std::map<uint64_t, uint64_t> index_seen_;             // server node -> its store's last index
  sim::checkers::LockHistory history_;
  sim::checkers::CheckResult result_;
  Duration slack_;
  bool judged_ = false;
  uint64_t next_value_ = 1;
  uint64_t sessions_ = 0, acquires_ = 0, acquired_ = 0, releases_ = 0, reads_ = 0, destroys_ = 0,
           invalidations_ = 0;
};

}  // namespace muster::agent_sim
