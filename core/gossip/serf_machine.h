// A Serf node as a seam Machine, for the simulator (and for io/ to host on its own).
// Requests (RequestInput.method, body):
//   "join"         seed addresses separated by commas   -> OK once a seed answered
//   "leave"        -                                     -> OK after the goodbye spread
//   "user-event"   "NAME\nPAYLOAD" (coalesce: method "user-event-coalesce")
//   "query"        "NAME\nPAYLOAD"; header options after NAME, tab-separated:
//                  node=N (repeatable), tag=K=REGEX (repeatable), ack, timeout_ms=T,
//                  relay=K (each answer also through K other members, 0..5)
//                  -> after the timeout: "ack\tNODE" and "response\tNODE\tPAYLOAD" lines
//   "members"      -                                     -> "name\taddr\tstatus\ttags" lines
//   "tags"         "k=v,k=v"                             -> OK; member-update spreads
#pragma once

#include <memory>
#include <vector>

#include "core/gossip/serf.h"
#include "core/seam/machine.h"

namespace muster::gossip {

class SerfMachine final : public Machine {
 public:
  SerfMachine(const MachineContext& ctx, SerfConfig config, std::vector<Address> seeds = {});
  void Step(const Input& input, Effects* out) override;

  Serf& serf() { return *serf_; }
  // How many times the host had started this node before this machine (MachineContext).
  uint64_t host_incarnation() const { return host_incarnation_; }
  const Serf& serf() const { return *serf_; }

  // A factory for the simulator: every node gets `make_config(ctx)` and joins `seeds`.
  static MachineFactory Factory(std::function<SerfConfig(const MachineContext&)> make_config,
                                std::vector<Address> seeds = {});

 private:
  void HandleRequest(Time now, const RequestInput& r, Effects* out);

  std::unique_ptr<Serf> serf_;
  uint64_t host_incarnation_ = 0;
  std::vector<Address> seeds_;
  bool started_ = false;
  struct PendingJoin {
    uint64_t request_id;
    uint64_t replies_before;
    Time deadline;
  };
  std::vector<PendingJoin> pending_joins_;
  // Answers produced by timers, emitted at the end of the Step that ran them.
  std::vector<uint64_t> leave_responses_;
  std::vector<std::pair<uint64_t, std::string>> query_responses_;
};

}  // namespace muster::gossip
