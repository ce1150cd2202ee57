// Invariant checkers over whole agents under the simulator, run after every step:
//  - raft's own invariants (Raft::CheckInvariants, and CheckTransition between consecutive
//    steps of one Raft object: a restarted server's new Raft starts a new life);
//  - election safety: at most one leader per term, across every server and restart;
//  - one applied history: every server applies, at each raft index, the same entry (term and
//    bytes), whatever mix of log replay and snapshots brought it there;
//  - log matching (periodic, all pairs of servers up): same index and term, same prefix;
//    each pair compared from where both had committed at its last check, with a full pass
//    every kLogMatchingFullPassEvery checks (LogMatchingTracker);
//  - state-hash agreement: servers whose state store reached the same index have the same
//    ContentHash (sampled whenever a server's store index moves);
//  - exactly-once answers (core/seam/effects.h rule 5): a request is answered once, by the
//    node it was sent to; none is left unanswered past a bound while its node lives;
//  - acknowledged-write survival: every kv.put answered OK "true" is, at the end, on every
//    server's store with its value (the workload writes each key once, so no overwrite can
//    hide a loss).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/agent/agent_machine.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "sim/testing/checker.h"

namespace muster::agent_sim {

// Every this many checks of a pair of lives, log matching compares all both hold, not only
// what came after their last agreed commit: a committed entry changed in place (which Raft
// never does) is caught within that many checks.
inline constexpr uint64_t kLogMatchingFullPassEvery = 10;

// Log Matching over pairs of servers' logs, check after check. A pair of lives (the same two
// Raft objects) that agreed up to an index both had committed is compared again only past it,
// but for every kLogMatchingFullPassEvery-th check of the pair: what may still change (the
// uncommitted tails, truncated and rewritten by a new leader) is compared every time, and a
// check costs the new entries rather than whole logs.
class LogMatchingTracker {
 public:
  struct Server {
    uint64_t node = 0;
    const void* life = nullptr;  // identifies one life of the server's log (its Raft object)
    const raft::RaftLog* log = nullptr;
    uint64_t commit = 0;  // its commit index now
  };
  // The first pair of `servers` that breaks Log Matching, as "nA and nB <why>"; nullopt if none.
  std::optional<std::string> Check(const std::vector<Server>& servers);
  // Node `node`'s next log is a new life: its pairs start over.
  void Forget(uint64_t node);
  // Entries compared so far (for the bench and the tests).
  uint64_t entries_compared() const { return entries_compared_; }

 private:
  struct PairRec {
    const void* life_a = nullptr;
    const void* life_b = nullptr;
    uint64_t agreed_committed = 0;  // both agreed up to here, and both had committed it
    uint64_t checks = 0;
  };
  std::map<std::pair<uint64_t, uint64_t>, PairRec> pairs_;  // (lower node, higher node)
  uint64_t entries_compared_ = 0;
};

class AgentChecker : public sim::testing::CheckerBase {
 public:
  AgentChecker(uint64_t seed, std::string repro) : CheckerBase(seed, std::move(repro)) {}

  // State hashes are recorded at every store index a server reaches (zero, the default), or
  // at most once per `interval` per server; a server reaching an index recorded by another
  // always compares. (A hash is a pass over the whole store: at 100 writes/s every index
  // would cost more than the agents themselves.)
  void set_hash_record_interval(Duration interval) { hash_record_interval_ = interval; }

  // After node `id` handled `input` and produced `effects`; `m` is its live machine.
  void OnStep(NodeId id, const Input& input, const Effects& effects, agent::AgentMachine* m, Time now);
  // Before the simulator kills `id`: its unanswered requests are dropped with it, and its next
  // life is a new Raft object and a new store (the same address may be reused).
  void OnCrash(NodeId id);

  // A kv.put of `key` answered OK with "true" at log index `index`.
  void OnAcknowledgedPut(const std::string& key, const std::string& value, uint64_t index, Time now);
  // Every acknowledged put is on each of `servers` with its value.
  void CheckAcknowledgedPresent(const std::vector<std::pair<NodeId, const agent::AgentMachine*>>& servers, Time now);
  // All pairs of `servers`: where two logs hold one term at one index, they agree before it.
  void CheckLogMatching(const std::vector<std::pair<NodeId, const agent::AgentMachine*>>& servers, Time now);
  // Fails if a request to a node in `nodes` (not crashed since) has waited longer than `age_max`.
  void CheckRequestsAnswered(const std::vector<NodeId>& nodes, Duration age_max, Time now);

  // Figures for the summary line.
  size_t leaders_elected() const { return leaders_.size(); }
  uint64_t max_term() const { return leaders_.empty() ? 0 : leaders_.rbegin()->first; }
  uint64_t applied_max() const { return history_.size(); }
  uint64_t hashes_compared() const { return hashes_compared_; }
  // Snapshots a running server installed from its leader; lives that began from their own.
  uint64_t snapshot_installs() const { return snapshot_installs_; }
  uint64_t snapshot_recoveries() const { return snapshot_recoveries_; }
  size_t acknowledged() const { return acked_.size(); }
  size_t requests_outstanding() const { return requests_.size(); }
  uint64_t answers() const { return answers_; }
  uint64_t log_entries_compared() const { return log_matching_.entries_compared(); }
  // The first time any server was leader (nullopt: never).
  std::optional<Time> first_leader_at() const { return first_leader_at_; }

 private:
  struct Hist {
    uint64_t term = 0;
    uint64_t hash = 0;  // of the entry's type and data
    std::string data;   // a normal entry's command bytes (an acknowledged put is checked in it)
  };
  struct NodeRec {
    const raft::Raft* life = nullptr;  // CheckTransition compares steps of one Raft object
    raft::RaftInvariantState last_state;
    uint64_t store_index_sampled = 0;
    bool sampled = false;
    uint64_t snapshot_index_seen = 0;
    std::optional<Time> hash_recorded_at;
  };
  struct Request {
    uint64_t node = 0;
    Time at;
    std::string method;
  };
  struct Acked {
    std::string value;
    uint64_t index = 0;
  };

  std::map<uint64_t, NodeRec> nodes_;
  LogMatchingTracker log_matching_;
  std::map<uint64_t, uint64_t> leaders_;                    // term -> node
  std::map<uint64_t, Hist> history_;                        // raft index -> entry applied there
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> hash_at_;  // store index -> (hash, node)
  std::map<uint64_t, Request> requests_;                    // by request id, until answered
  std::set<uint64_t> answered_;
  std::map<std::string, Acked> acked_;                      // key -> its one acknowledged put
  std::optional<Time> first_leader_at_;
  uint64_t hashes_compared_ = 0;
  Duration hash_record_interval_;
  uint64_t snapshot_installs_ = 0;
  uint64_t snapshot_recoveries_ = 0;
  uint64_t answers_ = 0;
};

}  // namespace muster::agent_sim
