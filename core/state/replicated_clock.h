// The time a leader stamps on the commands it proposes (Command.time_unix_ns): the cluster's
// replicated clock, carried from leader to leader by elapsed local time, never by a server's
// absolute wall clock. Lock delays, session TTL deadlines and expiry are decided from these
// stamps (the FSM applies max(stamp, latest applied), Store::AdvanceTime).
//
// Why: if each leader stamped its wall clock, a new leader whose clock is S ahead would end
// every lock delay S early and expire sessions S early (the old rule; lock_delay_sim_test
// catches it in 19 of 20 seeds with clocks skewed by up to 10 s).
//
// The rule: every leader stamps along its own timeline, stamp = B + local_now, fixed for its
// whole term. A new leader picks B from the last command it applied, whose stamp S was made
// by the previous leader at some moment p and which it applied at local time a >= p:
//     B = S - a   (so its first stamp is S + (now - a)).
// Then B never exceeds the previous stamping leader's B: stamps of later leaders only lag, by
// the delay with which each learned the last stamp (and by the time no leader was up). So the
// replicated time between two committed commands never exceeds the real time between their
// proposals, and a lock delay or TTL measured in it lasts at least as long in real time.
// Anchoring on the last command (not on the largest stamp seen) matters: two servers that
// learned the same stamp at different moments would otherwise each take the earlier-learned,
// larger estimate, and time could run ahead by a replication delay (seen at seed 125: a lock
// granted 6 ms inside its delay).
//
// Tolerated: any constant offset between servers' clocks, and steps of a restarted server's
// clock. Not tolerated beyond its size: a clock running fast by a fraction r shortens every
// delay measured on it by up to r (the same assumption as raft's leader lease). Before any
// command has been stamped, a leader stamps its wall clock. Preconditions for the host: stamp
// only once an entry of the leader's own term has been applied (raft's no-op), so the last
// command observed is the last one committed; observe every applied command and restored
// snapshot. Pure: time comes in as arguments.
#pragma once

#include <cstdint>
#include <optional>

#include "core/base/time.h"

namespace muster::state {

class ReplicatedClock {
 public:
  // The raw stamp of a command just applied (Store::last_stamp(); after a snapshot restore,
  // that of the snapshot's last command), at local time `local`.
  void Observe(Time stamp, Time local);
  // The stamp for a command proposed now by the leader of `term`. Within a term the stamps
  // follow the local clock (never backwards, even if the local clock steps back).
  Time Stamp(Time local, uint64_t term);
  // What Stamp would return, without fixing a timeline (for the leader's TTL sweep).
  Time Now(Time local, uint64_t term) const;

 private:
  struct Anchor {
    Time stamp;
    Time local;
    Time At(Time now) const { return stamp + std::max(absl::ZeroDuration(), now - local); }
  };
  std::optional<Anchor> last_applied_;
  std::optional<Anchor> timeline_;  // the current term's, once it stamped
  uint64_t timeline_term_ = 0;
};

}  // namespace muster::state
