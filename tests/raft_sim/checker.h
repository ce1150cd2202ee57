// Invariant checkers for Raft under the simulator, run after every step (LogCabin's
// RaftConsensusInvariants idea: check each state and each pair of consecutive states).
//  - election safety: at most one leader per term;
//  - a voter grants at most one candidate per term (seen on arrival, so only votes that
//    really left count; a vote request counts as its candidate's vote for itself), also
//    across restarts;
//  - term, vote-in-term and commit never go backwards within a life, and a restart
//    recovers at least the durable term/vote/commit;
//  - one global applied history: every node applies, at each index, the same entry;
//    a restored snapshot's hash chain equals the history's at its index;
//  - leader completeness: a new leader holds every entry applied anywhere so far;
//  - log matching (periodic, all pairs): same index and term => same prefix;
//  - a follower holds what it acknowledged to its leader (periodic);
//  - every acknowledged put is in the history at its index, with its data;
//  - every request gets exactly one response (core/seam/effects.h rule 5): never two, and
//    none left unanswered past a bound (CheckRequestsAnswered, after liveness).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "core/raft/kv_machine.h"
#include "core/seam/effects.h"
#include "core/seam/input.h"
#include "proto/raft_pb.h"
#include "sim/testing/checker.h"

namespace muster::raft_sim {

class Checker : public sim::testing::CheckerBase {
 public:
  // `repro` reruns this seed; Fail() (CheckerBase) keeps the first violation with both.
  explicit Checker(uint64_t seed = 0, std::string repro = "") : CheckerBase(seed, std::move(repro)) {}

  // After node `id` handled `input` and produced `effects`; `m` is the live machine.
  void OnStep(NodeId id, const Input& input, const Effects& effects, raft::KvMachine* m, Time now);
  void OnCrash(NodeId id);
  void OnRestart(NodeId id, raft::KvMachine* m, Time now);
  void OnAck(uint64_t index, const std::string& data, Time now);
  // All-pairs log matching over the machines given (null entries are skipped).
  void CheckLogMatching(const std::vector<std::pair<NodeId, const raft::KvMachine*>>& machines, Time now);
  // A follower still holds what it acknowledged: for each leader among `machines`, every peer
  // among them in the leader's term holds the leader's entry at the peer's match index (or a
  // snapshot past it). Acknowledgements wait for the sync, and nothing of a term's leader is
  // truncated within that term, so only a broken rule (or a lost disk) breaks it.
  void CheckAcknowledgedHeld(const std::vector<std::pair<NodeId, const raft::KvMachine*>>& machines, Time now);

  // Fails if a request to one of `nodes` (up, and not crashed since it was asked) has been
  // waiting for its response longer than `age_max`.
  void CheckRequestsAnswered(const std::vector<NodeId>& nodes, Duration age_max, Time now);
  size_t requests_outstanding() const { return requests_.size(); }

  uint64_t applied_max() const { return history_.size(); }
  // The index at which a command was applied (0 if never).
  uint64_t IndexOf(const std::string& data) const {
    auto it = index_of_.find(data);
    return it == index_of_.end() ? 0 : it->second;
  }
  size_t leaders_elected() const { return leaders_.size(); }
  uint64_t max_term() const { return leaders_.empty() ? 0 : leaders_.rbegin()->first; }
  // Snapshots a follower received from a leader and restored.
  uint64_t snapshots_installed() const { return snapshots_installed_; }

 private:
  struct Hist {
    uint64_t term;
    uint64_t hash;   // of type and data
    uint64_t chain;  // running hash through this index
    uint64_t commit_term;  // >= the term of the leader that committed it
    std::string data;
  };
  struct NodeRec {
    bool seen = false;
    uint64_t term = 0;
    uint64_t vote = 0;
    uint64_t commit = 0;
    bool was_leader = false;
    uint64_t leader_term = 0;
    std::vector<std::pair<uint64_t, raft::pb::HardState>> pending_hard;  // by write id
    raft::pb::HardState durable;
    // Raft::CheckTransition compares consecutive steps of one Raft object (one life).
    const raft::Raft* life = nullptr;
    raft::RaftInvariantState last_state;
  };
  void CheckState(NodeId id, raft::KvMachine* m, Time now);

  std::map<uint64_t, NodeRec> nodes_;
  absl::btree_map<uint64_t, uint64_t> leaders_;  // term -> node
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> grants_;  // (voter, term) -> candidate
  std::vector<Hist> history_;  // history_[i-1] is index i
  std::map<std::string, uint64_t> index_of_;
  struct Request {
    uint64_t node;
    Time at;
    std::string method;
  };
  std::map<uint64_t, Request> requests_;  // by request id, until answered
  std::set<uint64_t> answered_;
  uint64_t snapshots_installed_ = 0;
  bool step_is_message_ = false;  // the step being checked handled a message
};

}  // namespace muster::raft_sim
