// A minimal server for simulating the state store's time rules: raft, the state FSM fed by
// committed entries, and the replicated clock that stamps proposals (core/state/
// replicated_clock.h). It is the smallest composition that shows what the server agent must do
// with time; the agent (core/agent) takes the same rules. Requests (body -> response body):
//   "register"        "<node>"                 -> "" once applied
//   "session.create"  "<node> <lock_delay_ms>" -> the new session's ID
//   "session.destroy" "<id>"                   -> ""
//   "lock"            "<key> <session>"        -> "true" / "false" (Consul's acquire)
// Every request is answered exactly once: OK once its entry is applied here, or UNAVAILABLE
// (not the leader, leadership lost, entry overwritten) for the client to retry elsewhere.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/base/rng.h"
#include "core/raft/first_step_bootstrap.h"
#include "core/raft/raft.h"
#include "core/seam/machine.h"
#include "core/state/fsm.h"
#include "core/state/replicated_clock.h"

namespace muster::state_sim {

struct LockServerOptions {
  raft::RaftOptions raft;           // id and address come from the MachineContext
  raft::pb::Configuration bootstrap;  // non-empty: bootstrap a fresh node with it
  // Bug injection: stamp each proposal with this server's own clock, as the state store's
  // README once told proposers to. A leader whose clock is ahead then ends lock delays early.
  bool unsafe_stamp_with_local_clock = false;
};

class LockServer final : public Machine {
 public:
  LockServer(const MachineContext& ctx, LockServerOptions options);
  void Step(const Input& input, Effects* out) override;

  const raft::Raft& raft() const { return *raft_; }
  const state::Fsm& fsm() const { return fsm_; }
  size_t pending_requests() const { return pending_.size(); }

 private:
  void HandleRequest(Time now, const RequestInput& r, raft::Ready* ready, Effects* out);
  void Propose(Time now, uint64_t request_id, const proto::state::Command& c, raft::Ready* ready,
               Effects* out);
  void Carry(Time now, raft::Ready& ready, Effects* out);
  void FailAll(std::string_view why, Effects* out);
  bool MayPropose() const;
  Time StampFor(Time now);

  LockServerOptions options_;
  std::unique_ptr<raft::Raft> raft_;
  state::Fsm fsm_;
  state::ReplicatedClock clock_;
  Rng rng_;  // session IDs (the proposer picks them, as Consul's leader does)
  raft::FirstStepBootstrap bootstrap_;
  uint64_t term_applied_ = 0;  // term of the last entry applied here
  struct Pending {
    uint64_t request_id = 0;
    uint64_t term = 0;
    std::string session_id;  // for session.create
  };
  std::map<uint64_t, Pending> pending_;  // by log index
};

MachineFactory LockServerFactory(LockServerOptions options);

}  // namespace muster::state_sim
