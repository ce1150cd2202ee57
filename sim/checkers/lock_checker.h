// Lock safety for Consul-style session locks (PUT ?acquire=session / ?release=session):
// never two sessions holding one key at once, and lock-delay honoured — after a session's
// invalidation released a key, no other session acquires it for that session's lock-delay
// (Consul's default 15 s), as Consul's KVS endpoint refuses such an acquire.
//
// From the clients' side only: a session surely holds a key from the return of its acquire
// that answered true until the call of its next release of that key, or its invalidation;
// lock-delay then blocks others until invalidation + lock_delay. Violations:
//  - another session's acquire answered true that must have taken effect inside that span
//    (it returned inside it; or, when its own session died first, by that death);
//  - a consistent read naming another holder, or none, while the span surely held;
//  - an acquire answered true for a session invalidated before the acquire was called;
//  - a read naming a holder whose session was invalidated before the read was called.
// Unanswered acquires and releases hold nothing surely and end nothing surely (a release's
// call ends the sure span whatever its answer). Lock keys are not deleted by the workload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/time.h"
#include "sim/checkers/check_result.h"

namespace muster::sim::checkers {

enum class LockOpKind { kAcquire, kRelease, kRead };

struct LockOp {
  int32_t client = 0;
  LockOpKind kind = LockOpKind::kRead;
  std::string key;
  std::string session;  // acquire, release: the session
  Time call;
  Time ret;
  bool answered = false;
  bool ok = false;                    // acquire, release: the answer
  std::optional<std::string> holder;  // read: the key's Session, or none
};

struct SessionInvalidation {
  std::string session;
  Time time;            // when the servers applied it
  Duration lock_delay;  // the session's LockDelay
};

using LockOpId = uint32_t;

class LockHistory {
 public:
  LockOpId InvokeAcquire(int32_t client, std::string key, std::string session, Time call);
  LockOpId InvokeRelease(int32_t client, std::string key, std::string session, Time call);
  // A consistent read of the key's lock holder.
  LockOpId InvokeRead(int32_t client, std::string key, Time call);
  void CompleteAcquire(LockOpId id, Time ret, bool ok);
  void CompleteRelease(LockOpId id, Time ret, bool ok);
  void CompleteRead(LockOpId id, Time ret, std::optional<std::string> holder);
  void Unknown(LockOpId id);  // no usable answer (left pending: the same)
  // The session was destroyed, its TTL ran out, a check or its node failed: its locks are
  // released and lock-delay starts.
  void SessionInvalidated(std::string session, Time time, Duration lock_delay);

  const std::vector<LockOp>& ops() const { return ops_; }
  const std::vector<SessionInvalidation>& invalidations() const { return invalidations_; }

 private:
  LockOpId Invoke(LockOp op);
  LockOp& Pending(LockOpId id, Time ret);

  std::vector<LockOp> ops_;
  std::vector<SessionInvalidation> invalidations_;
};

struct LockCheckOptions {
  // Lock-delay is timed on the leader's clock from its own apply: this much of it may be lost
  // to clock skew and to a leader change between the invalidation and the acquire.
  Duration lock_delay_slack = absl::ZeroDuration();
};

CheckResult CheckLockSafety(const LockHistory& history, const LockCheckOptions& options = {});

}  // namespace muster::sim::checkers
