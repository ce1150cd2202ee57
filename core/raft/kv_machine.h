// Raft plus the tiny KvFsm behind the seam's Machine interface, so any host (the simulator,
// io/'s runtime) can run a replicated key-value store. Requests:
//   "put"  body "k=v"       -> OK with the entry's index once applied here
//   "get"  body "k"         -> OK with the value, after a ReadIndex round (linearizable)
//   "lease-get" body "k"    -> OK with the value if the leader lease holds
//   "add-voter" / "add-nonvoter" / "promote" / "remove"  body "<id> <address>"
//   "transfer" body "<id>"
// Errors: UNAVAILABLE with "leader=<address>" in the body when this node cannot serve.
//
// Every request gets exactly one response (core/seam/effects.h rule 5), retryable when the
// outcome is not success: a "put" is answered when its index is applied (OK if our entry is
// there, UNAVAILABLE if another leader's is), or with UNAVAILABLE "leadership lost: outcome
// unknown" as soon as this node no longer leads the term it was proposed in (its entry may
// still commit: retry only what is idempotent); a "get" whose ReadIndex round Raft dropped
// on losing leadership gets UNAVAILABLE "leadership lost".
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/raft/kv_fsm.h"
#include "core/raft/first_step_bootstrap.h"
#include "core/raft/raft.h"
#include "core/seam/machine.h"

namespace muster::raft {

struct KvMachineOptions {
  RaftOptions raft;                // id and address are taken from the MachineContext
  pb::Configuration bootstrap;     // non-empty: bootstrap a fresh node with it
  uint64_t snapshot_every = 0;     // compact after this many applied entries (0: never)
};

class KvMachine final : public Machine {
 public:
  KvMachine(const MachineContext& ctx, KvMachineOptions options);
  void Step(const Input& input, Effects* out) override;

  const Raft& raft() const { return *raft_; }
  const KvFsm& fsm() const { return fsm_; }
  // For checkers: entries applied (and snapshots restored) since the last call.
  struct Applied {
    std::vector<pb::Entry> entries;
    std::optional<pb::SnapshotMeta> restored;  // before `entries`
  };
  Applied TakeApplied();

 private:
  void Carry(Time now, Ready& ready, Effects* out);
  void HandleRequest(Time now, const RequestInput& r, Ready* ready, Effects* out);
  Response Unavailable(uint64_t request_id, const absl::Status& s) const;

  KvMachineOptions options_;
  std::unique_ptr<Raft> raft_;
  KvFsm fsm_;
  FirstStepBootstrap bootstrap_;
  struct PendingPut {
    uint64_t request_id;
    uint64_t term;
  };
  std::map<uint64_t, PendingPut> puts_;  // by log index
  struct PendingGet {
    uint64_t request_id;
    std::string key;
    uint64_t index = 0;  // 0 until the ReadIndex round completes
    uint64_t term = 0;   // the term whose leader runs the ReadIndex round
  };
  std::map<uint64_t, PendingGet> gets_;  // by request id
  Applied applied_;
};

// A factory for hosts: a new KvMachine per (re)start, rebuilt from storage.
MachineFactory KvMachineFactory(KvMachineOptions options);

}  // namespace muster::raft
